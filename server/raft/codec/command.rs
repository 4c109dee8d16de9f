//! Command conversions: the replicated [`Command`] to and from its protobuf form
//! [`pb::Command`], one arm per command kind. `log_store` (through `encode_entry` /
//! `decode_entry`) and the peer RPCs reach these through the parent module, which owns the
//! version rule and the error type.

use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::command::Kind;

use super::check::{
    decode_check, decode_result, decode_status, encode_check, encode_result, encode_status,
};
use super::{COMMAND_VERSION, CodecError, DecodeResult, required};
use crate::store::{
    Command, ExpiredService, KvCasItem, KvDeleteCasItem, KvSetItem, RequestId, Service,
};

fn encode_set_cas(i: KvCasItem) -> pb::KvSetCas {
    pb::KvSetCas {
        key: i.key,
        value: i.value,
        expected_index: i.expected_index,
    }
}

fn decode_set_cas(i: pb::KvSetCas) -> KvCasItem {
    KvCasItem {
        key: i.key,
        value: i.value,
        expected_index: i.expected_index,
    }
}

pub(super) fn encode_service(s: Service) -> pb::CatalogService {
    pb::CatalogService {
        name: s.name,
        id: s.id,
        address: s.address,
        port: u32::from(s.port),
        tags: s.tags,
        meta: s.meta,
        ttl_ms: s.ttl_ms,
        checks: s.checks.into_iter().map(encode_check).collect(),
    }
}

fn decode_service(s: pb::CatalogService) -> DecodeResult<Service> {
    let port = u16::try_from(s.port).map_err(|_| CodecError::OutOfRange {
        field: "CatalogService.port",
        value: u64::from(s.port),
    })?;
    Ok(Service {
        name: s.name,
        id: s.id,
        address: s.address,
        port,
        tags: s.tags,
        meta: s.meta,
        ttl_ms: s.ttl_ms,
        checks: s
            .checks
            .into_iter()
            .map(decode_check)
            .collect::<DecodeResult<_>>()?,
    })
}

/// Encodes a command at [`COMMAND_VERSION`]. Takes it by value so key and value bytes move
/// into the message instead of being copied on the write path.
pub fn encode_command(cmd: Command) -> pb::Command {
    let kind = match cmd {
        Command::KvSet { key, value, flags } => Kind::KvSet(pb::KvSet { key, value, flags }),
        Command::KvDelete { key } => Kind::KvDelete(pb::KvDelete { key }),
        Command::KvSetCas {
            key,
            value,
            expected_index,
        } => Kind::KvSetCas(encode_set_cas(KvCasItem {
            key,
            value,
            expected_index,
        })),
        Command::KvDeleteCas {
            key,
            expected_index,
        } => Kind::KvDeleteCas(pb::KvDeleteCas {
            key,
            expected_index,
        }),
        Command::KvBatchSet { items } => Kind::KvBatchSet(pb::KvBatchSet {
            items: items
                .into_iter()
                .map(|i| pb::KvSet {
                    key: i.key,
                    value: i.value,
                    flags: i.flags,
                })
                .collect(),
        }),
        Command::KvBatchDelete { keys } => Kind::KvBatchDelete(pb::KvBatchDelete { keys }),
        Command::KvBatchSetCas { items } => Kind::KvBatchSetCas(pb::KvBatchSetCas {
            items: items.into_iter().map(encode_set_cas).collect(),
        }),
        Command::KvBatchDeleteCas { items } => Kind::KvBatchDeleteCas(pb::KvBatchDeleteCas {
            items: items
                .into_iter()
                .map(|i| pb::KvDeleteCas {
                    key: i.key,
                    expected_index: i.expected_index,
                })
                .collect(),
        }),
        Command::CatalogRegister {
            service,
            expected_index,
            now_ms,
        } => Kind::CatalogRegister(pb::CatalogRegister {
            service: Some(encode_service(service)),
            expected_index,
            now_ms,
        }),
        Command::CatalogDeregister {
            key,
            expected_index,
        } => Kind::CatalogDeregister(pb::CatalogDeregister {
            key,
            expected_index,
        }),
        Command::CatalogHeartbeat { key, now_ms } => {
            Kind::CatalogHeartbeat(pb::CatalogHeartbeat { key, now_ms })
        }
        Command::CatalogExpire { now_ms } => Kind::CatalogExpire(pb::CatalogExpire { now_ms }),
        Command::CatalogExpireServices { now_ms, services } => {
            Kind::CatalogExpireServices(pb::CatalogExpireServices {
                now_ms,
                services: services
                    .into_iter()
                    .map(|s| pb::ExpiredService {
                        key: s.key,
                        modify_index: s.modify_index,
                    })
                    .collect(),
            })
        }
        Command::CatalogGrace { now_ms } => Kind::CatalogGrace(pb::CatalogGrace { now_ms }),
        Command::CatalogBatchRegister { services, now_ms } => {
            Kind::CatalogBatchRegister(pb::CatalogBatchRegister {
                services: services.into_iter().map(encode_service).collect(),
                now_ms,
            })
        }
        Command::CatalogBatchDeregister { keys } => {
            Kind::CatalogBatchDeregister(pb::CatalogBatchDeregister { keys })
        }
        Command::CheckTtlUpdate {
            check_id,
            status,
            output,
            now_ms,
        } => Kind::CheckTtlUpdate(pb::CheckTtlUpdate {
            check_id,
            status: encode_status(status),
            output,
            now_ms,
        }),
        Command::CheckResults { results, now_ms } => Kind::CheckResults(pb::CheckResults {
            results: results.into_iter().map(encode_result).collect(),
            now_ms,
        }),
        Command::Identified {
            request,
            now_ms,
            command,
        } => Kind::Identified(Box::new(pb::Identified {
            client_id: request.client_id,
            seq: request.seq,
            now_ms,
            command: Some(Box::new(encode_command(*command))),
        })),
        Command::Multi { commands } => Kind::Multi(pb::CommandList {
            commands: commands.into_iter().map(encode_command).collect(),
        }),
    };
    pb::Command {
        version: COMMAND_VERSION,
        kind: Some(kind),
    }
}

/// Decodes a command. Any version other than [`COMMAND_VERSION`] (including a missing one,
/// which reads as 0) is refused, and so is a command without a kind.
pub fn decode_command(cmd: pb::Command) -> DecodeResult<Command> {
    if cmd.version != COMMAND_VERSION {
        return Err(CodecError::UnknownVersion(cmd.version));
    }
    Ok(match required(cmd.kind, "Command.kind")? {
        Kind::KvSet(s) => Command::KvSet {
            key: s.key,
            value: s.value,
            flags: s.flags,
        },
        Kind::KvDelete(d) => Command::KvDelete { key: d.key },
        Kind::KvSetCas(c) => {
            let i = decode_set_cas(c);
            Command::KvSetCas {
                key: i.key,
                value: i.value,
                expected_index: i.expected_index,
            }
        }
        Kind::KvDeleteCas(c) => Command::KvDeleteCas {
            key: c.key,
            expected_index: c.expected_index,
        },
        Kind::KvBatchSet(b) => Command::KvBatchSet {
            items: b
                .items
                .into_iter()
                .map(|s| KvSetItem {
                    key: s.key,
                    value: s.value,
                    flags: s.flags,
                })
                .collect(),
        },
        Kind::KvBatchDelete(b) => Command::KvBatchDelete { keys: b.keys },
        Kind::KvBatchSetCas(b) => Command::KvBatchSetCas {
            items: b.items.into_iter().map(decode_set_cas).collect(),
        },
        Kind::KvBatchDeleteCas(b) => Command::KvBatchDeleteCas {
            items: b
                .items
                .into_iter()
                .map(|c| KvDeleteCasItem {
                    key: c.key,
                    expected_index: c.expected_index,
                })
                .collect(),
        },
        Kind::CatalogRegister(r) => Command::CatalogRegister {
            service: decode_service(required(r.service, "CatalogRegister.service")?)?,
            expected_index: r.expected_index,
            now_ms: r.now_ms,
        },
        Kind::CatalogDeregister(d) => Command::CatalogDeregister {
            key: d.key,
            expected_index: d.expected_index,
        },
        Kind::CatalogHeartbeat(h) => Command::CatalogHeartbeat {
            key: h.key,
            now_ms: h.now_ms,
        },
        Kind::CatalogExpire(e) => Command::CatalogExpire { now_ms: e.now_ms },
        Kind::CatalogExpireServices(e) => Command::CatalogExpireServices {
            now_ms: e.now_ms,
            services: e
                .services
                .into_iter()
                .map(|s| ExpiredService {
                    key: s.key,
                    modify_index: s.modify_index,
                })
                .collect(),
        },
        Kind::CatalogGrace(g) => Command::CatalogGrace { now_ms: g.now_ms },
        Kind::CatalogBatchRegister(b) => Command::CatalogBatchRegister {
            services: b
                .services
                .into_iter()
                .map(decode_service)
                .collect::<DecodeResult<_>>()?,
            now_ms: b.now_ms,
        },
        Kind::CatalogBatchDeregister(b) => Command::CatalogBatchDeregister { keys: b.keys },
        Kind::CheckTtlUpdate(u) => Command::CheckTtlUpdate {
            status: decode_status("CheckTtlUpdate.status", u.status)?,
            check_id: u.check_id,
            output: u.output,
            now_ms: u.now_ms,
        },
        Kind::CheckResults(r) => Command::CheckResults {
            results: r
                .results
                .into_iter()
                .map(decode_result)
                .collect::<DecodeResult<_>>()?,
            now_ms: r.now_ms,
        },
        Kind::Identified(i) => {
            let inner = required(i.command, "Identified.command")?;
            if matches!(inner.kind, Some(Kind::Multi(_) | Kind::Identified(_))) {
                return Err(CodecError::NestedMulti);
            }
            Command::Identified {
                request: RequestId {
                    client_id: i.client_id,
                    seq: i.seq,
                },
                now_ms: i.now_ms,
                command: Box::new(decode_command(*inner)?),
            }
        }
        Kind::Multi(list) => Command::Multi {
            commands: list
                .commands
                .into_iter()
                .map(|c| match c.kind {
                    Some(Kind::Multi(_)) => Err(CodecError::NestedMulti),
                    _ => decode_command(c),
                })
                .collect::<DecodeResult<_>>()?,
        },
    })
}
