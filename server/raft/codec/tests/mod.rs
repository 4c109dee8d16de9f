//! Round-trip tests for every conversion in the codec, and the refusals of incomplete or
//! unknown-version messages: commands here, log entries and the peer RPCs in `rpc.rs`.

// openraft 0.10 names its log types through the type config; short names for the tests.
use openraft::vote::RaftLeaderId as _;
type Entry = openraft::type_config::alias::EntryOf<crate::raft::TypeConfig>;
type CommittedLeaderId = openraft::type_config::alias::CommittedLeaderIdOf<crate::raft::TypeConfig>;
type LeaderId = openraft::type_config::alias::LeaderIdOf<crate::raft::TypeConfig>;
use crate::raft::{Member, NodeId, TypeConfig};
use openraft::{LogId, Vote};

use konsul_proto::raft::v1::command::Kind;
use openraft::type_config::alias::LogIdOf;

use super::command::encode_service;
use super::*;

mod rpc;
use crate::store::{
    CheckDefinition, CheckKind, CheckResult, CheckStatus, Command, ExpiredService, KvCasItem,
    KvDeleteCasItem, KvSetItem, Service,
};

fn log_id(term: u64, node: NodeId, index: u64) -> LogIdOf<TypeConfig> {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

fn member(name: &str) -> Member {
    Member {
        name: name.into(),
        raft_addr: format!("{name}:7000"),
        client_addr: format!("{name}:8888"),
        incarnation: 0x8000_0000_0000_0000 | name.len() as u64,
    }
}

/// A joint configuration with a learner (node 4), to exercise every part of the message.
fn joint_membership() -> Membership<NodeId, Member> {
    let configs = vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([2, 3])];
    let nodes = (1..=4)
        .map(|id| (id, member(&format!("n{id}"))))
        .collect::<BTreeMap<_, _>>();
    Membership::new(configs, nodes).unwrap()
}

/// A registration with every field set, and one with every optional field empty.
fn services() -> Vec<Service> {
    vec![
        Service {
            name: "web".into(),
            id: Some("i-1".into()),
            address: "10.0.0.1".into(),
            port: u16::MAX,
            tags: vec!["b".into(), "a".into()],
            meta: BTreeMap::from([("zone".into(), "eu".into()), ("v".into(), "2".into())]),
            ttl_ms: 30_000,
            checks: vec![],
        },
        Service {
            name: "db".into(),
            id: None,
            address: String::new(),
            port: 0,
            tags: vec![],
            meta: BTreeMap::new(),
            ttl_ms: 0,
            checks: vec![],
        },
    ]
}

fn every_command() -> Vec<Command> {
    vec![
        Command::KvSet {
            key: "a".into(),
            value: b"1".to_vec(),
            flags: 7,
        },
        Command::KvDelete { key: "a".into() },
        Command::KvSetCas {
            key: "b".into(),
            value: vec![0, 255],
            expected_index: 0,
        },
        Command::KvDeleteCas {
            key: "b".into(),
            expected_index: 9,
        },
        Command::KvBatchSet {
            items: vec![
                KvSetItem {
                    key: "x".into(),
                    value: vec![],
                    flags: 0,
                },
                KvSetItem {
                    key: "y".into(),
                    value: b"v".to_vec(),
                    flags: 3,
                },
            ],
        },
        Command::KvBatchDelete {
            keys: vec!["x".into(), "y".into()],
        },
        Command::KvBatchSetCas {
            items: vec![KvCasItem {
                key: "z".into(),
                value: b"w".to_vec(),
                expected_index: 4,
            }],
        },
        Command::KvBatchDeleteCas {
            items: vec![KvDeleteCasItem {
                key: "z".into(),
                expected_index: 5,
            }],
        },
        Command::CatalogRegister {
            service: services().remove(0),
            expected_index: None,
            now_ms: 1_700_000_000_000,
        },
        Command::CatalogRegister {
            service: services().remove(1),
            expected_index: Some(0),
            now_ms: u64::MAX,
        },
        Command::CatalogRegister {
            service: services().remove(1),
            expected_index: Some(12),
            now_ms: 0,
        },
        Command::CatalogDeregister {
            key: "web/i-1".into(),
            expected_index: None,
        },
        Command::CatalogDeregister {
            key: "db".into(),
            expected_index: Some(3),
        },
        Command::CatalogHeartbeat {
            key: "web/i-1".into(),
            now_ms: 5,
        },
        Command::CatalogExpire { now_ms: 6 },
        Command::CatalogExpireServices {
            now_ms: 6,
            services: vec![
                ExpiredService {
                    key: "web".into(),
                    modify_index: 4,
                },
                ExpiredService {
                    key: "db/i-2".into(),
                    modify_index: 9,
                },
            ],
        },
        Command::CatalogExpireServices {
            now_ms: 7,
            services: vec![],
        },
        Command::CatalogGrace { now_ms: 7 },
        Command::CatalogBatchRegister {
            services: services(),
            now_ms: 8,
        },
        Command::CatalogBatchRegister {
            services: vec![],
            now_ms: 9,
        },
        Command::CatalogBatchDeregister {
            keys: vec!["web/i-1".into(), "db".into()],
        },
        Command::CatalogRegister {
            service: Service {
                checks: every_check(),
                ..services()[0].clone()
            },
            expected_index: None,
            now_ms: 1,
        },
        Command::CheckTtlUpdate {
            check_id: "c-ttl".into(),
            status: CheckStatus::Warning,
            output: "slow".into(),
            now_ms: 12,
        },
        Command::CheckResults {
            results: vec![
                CheckResult {
                    check_id: "c-http".into(),
                    status: CheckStatus::Passing,
                    output: "HTTP 200".into(),
                },
                CheckResult {
                    check_id: "c-tcp".into(),
                    status: CheckStatus::Critical,
                    output: String::new(),
                },
            ],
            now_ms: 13,
        },
    ]
}

/// One check of every kind, every field set.
fn every_check() -> Vec<CheckDefinition> {
    let def = |id: &str, kind| CheckDefinition {
        id: id.into(),
        name: format!("{id}-name"),
        kind,
        interval_ms: 1_500,
        timeout_ms: 700,
    };
    vec![
        def("c-ttl", CheckKind::Ttl { ttl_ms: 15_000 }),
        def(
            "c-http",
            CheckKind::Http {
                url: "https://h:1/health".into(),
                method: "HEAD".into(),
                headers: BTreeMap::from([("X-A".into(), "1".into())]),
                tls_skip_verify: true,
            },
        ),
        def(
            "c-tcp",
            CheckKind::Tcp {
                address: "h:2".into(),
            },
        ),
        def(
            "c-grpc",
            CheckKind::Grpc {
                address: "h:3".into(),
                service: "pkg.Svc".into(),
                use_tls: true,
            },
        ),
    ]
}

#[test]
fn an_unspecified_check_status_is_refused() {
    let mut wire = encode_command(Command::CheckTtlUpdate {
        check_id: "c".into(),
        status: CheckStatus::Passing,
        output: String::new(),
        now_ms: 1,
    });
    if let Some(Kind::CheckTtlUpdate(u)) = &mut wire.kind {
        u.status = 0;
    }
    assert!(matches!(
        decode_command(wire),
        Err(CodecError::OutOfRange {
            field: "CheckTtlUpdate.status",
            ..
        })
    ));
}

#[test]
fn every_command_round_trips_at_version_1() {
    for cmd in every_command() {
        let wire = encode_command(cmd.clone());
        assert_eq!(wire.version, COMMAND_VERSION);
        let bytes = wire.encode_to_vec();
        let back = decode_command(pb::Command::decode(bytes.as_slice()).unwrap()).unwrap();
        assert_eq!(back, cmd);
    }
}

#[test]
fn catalog_commands_refuse_a_missing_service_and_an_oversized_port() {
    let missing = pb::Command {
        version: COMMAND_VERSION,
        kind: Some(Kind::CatalogRegister(pb::CatalogRegister {
            service: None,
            expected_index: None,
            now_ms: 1,
        })),
    };
    assert_eq!(
        decode_command(missing),
        Err(CodecError::Missing("CatalogRegister.service"))
    );

    let mut service = encode_service(services().remove(0));
    service.port = 65_536;
    let oversized = pb::Command {
        version: COMMAND_VERSION,
        kind: Some(Kind::CatalogBatchRegister(pb::CatalogBatchRegister {
            services: vec![service],
            now_ms: 1,
        })),
    };
    assert_eq!(
        decode_command(oversized),
        Err(CodecError::OutOfRange {
            field: "CatalogService.port",
            value: 65_536
        })
    );
}

#[test]
fn unknown_command_versions_and_missing_kind_are_refused() {
    let mut wire = encode_command(every_command().remove(0));
    for v in [0, 2, u32::MAX] {
        wire.version = v;
        assert_eq!(
            decode_command(wire.clone()),
            Err(CodecError::UnknownVersion(v))
        );
    }
    let empty = pb::Command {
        version: COMMAND_VERSION,
        kind: None,
    };
    assert_eq!(
        decode_command(empty),
        Err(CodecError::Missing("Command.kind"))
    );
    let err: crate::Error = CodecError::UnknownVersion(2).into();
    assert!(
        err.to_string()
            .contains("command version 2 is not supported"),
        "{err}"
    );
}

#[test]
fn grouped_commands_round_trip_and_nesting_is_refused() {
    let multi = Command::Multi {
        commands: every_command(),
    };
    assert_eq!(
        decode_command(encode_command(multi.clone())).unwrap(),
        multi
    );

    let nested = pb::Command {
        version: COMMAND_VERSION,
        kind: Some(Kind::Multi(pb::CommandList {
            commands: vec![encode_command(multi)],
        })),
    };
    assert!(matches!(
        decode_command(nested),
        Err(CodecError::NestedMulti)
    ));
}

#[test]
fn identified_commands_round_trip_alone_and_in_groups_and_never_wrap_a_wrapper() {
    let identified = |seq: u64, command: Command| Command::Identified {
        request: crate::store::RequestId {
            client_id: "rs-0123abcd".into(),
            seq,
        },
        now_ms: 1_700_000_000_000 + seq,
        command: Box::new(command),
    };
    let every: Vec<Command> = every_command()
        .into_iter()
        .enumerate()
        .map(|(i, c)| identified(i as u64 + 1, c))
        .collect();
    for c in &every {
        assert_eq!(decode_command(encode_command(c.clone())).unwrap(), *c);
    }
    let multi = Command::Multi { commands: every };
    assert_eq!(
        decode_command(encode_command(multi.clone())).unwrap(),
        multi
    );

    for inner in [multi, identified(9, every_command().remove(0))] {
        let wrapped = pb::Command {
            version: COMMAND_VERSION,
            kind: Some(Kind::Identified(Box::new(pb::Identified {
                client_id: "c".into(),
                seq: 1,
                now_ms: 0,
                command: Some(Box::new(encode_command(inner))),
            }))),
        };
        assert!(matches!(
            decode_command(wrapped),
            Err(CodecError::NestedMulti)
        ));
    }
    let empty = pb::Command {
        version: COMMAND_VERSION,
        kind: Some(Kind::Identified(Box::default())),
    };
    assert_eq!(
        decode_command(empty),
        Err(CodecError::Missing("Identified.command"))
    );
}
