//! Health checks in the state machine: registration with checks, TTL reports, probe
//! results, TTL expiry and grace through the leader's commands, check ids unique across
//! the catalog, checks leaving with their service, the catalog index, and snapshots that
//! carry check states.

use std::collections::BTreeMap;

use super::super::{
    CheckDefinition, CheckKind, CheckResult, CheckState, CheckStatus, Service, TTL_EXPIRED_OUTPUT,
};
use super::*;

fn def(id: &str, kind: CheckKind) -> CheckDefinition {
    CheckDefinition {
        id: id.to_owned(),
        name: format!("{id}-name"),
        kind,
        interval_ms: 1_000,
        timeout_ms: 500,
    }
}

fn ttl(id: &str, ttl_ms: u64) -> CheckDefinition {
    def(id, CheckKind::Ttl { ttl_ms })
}

fn tcp(id: &str) -> CheckDefinition {
    def(
        id,
        CheckKind::Tcp {
            address: "127.0.0.1:9".to_owned(),
        },
    )
}

fn svc(name: &str, checks: Vec<CheckDefinition>) -> Service {
    Service {
        name: name.to_owned(),
        id: None,
        address: "10.0.0.1".to_owned(),
        port: 80,
        tags: vec![],
        meta: BTreeMap::new(),
        ttl_ms: 60_000,
        checks,
    }
}

fn register(service: Service) -> Command {
    Command::CatalogRegister {
        service,
        expected_index: None,
        now_ms: 1_000,
    }
}

fn report(id: &str, status: CheckStatus, now_ms: u64) -> Command {
    Command::CheckTtlUpdate {
        check_id: id.to_owned(),
        status,
        output: "ok".to_owned(),
        now_ms,
    }
}

fn results(pairs: &[(&str, CheckStatus)], now_ms: u64) -> Command {
    Command::CheckResults {
        results: pairs
            .iter()
            .map(|(id, status)| CheckResult {
                check_id: (*id).to_owned(),
                status: *status,
                output: format!("{status:?}"),
            })
            .collect(),
        now_ms,
    }
}

fn state<'a>(store: &'a Store, key: &str, id: &str) -> &'a CheckState {
    &store.service(key).unwrap().checks[id]
}

#[test]
fn a_registered_check_starts_critical_and_is_found_by_id() {
    let mut store = Store::new();
    store.apply(3, register(svc("web", vec![ttl("t", 10_000), tcp("p")])));
    assert_eq!(state(&store, "web", "t"), &CheckState::new_check());
    assert_eq!(state(&store, "web", "p").status, CheckStatus::Critical);
    assert_eq!(store.check_owner("t"), Some("web"));
    assert_eq!(store.check_owner("p"), Some("web"));
    assert_eq!(store.catalog_index(), 3);
}

#[test]
fn a_ttl_report_sets_status_and_deadline_and_only_ttl_checks_take_one() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![ttl("t", 10_000), tcp("p")])));
    assert_eq!(
        store.apply(2, report("t", CheckStatus::Passing, 5_000)),
        Response::CheckUpdated {
            check_id: "t".to_owned(),
            expires_at_ms: 15_000
        }
    );
    let t = state(&store, "web", "t");
    assert_eq!(
        (t.status, t.last_check_ms, t.expires_at_ms),
        (CheckStatus::Passing, 5_000, 15_000)
    );
    assert_eq!(t.at(14_999).0, CheckStatus::Passing);
    assert_eq!(t.at(15_000), (CheckStatus::Critical, TTL_EXPIRED_OUTPUT));
    assert_eq!(
        store.catalog_index(),
        2,
        "a status change moves the catalog index"
    );
    // The same report again changes no status: the index stays.
    store.apply(3, report("t", CheckStatus::Passing, 6_000));
    assert_eq!(store.catalog_index(), 2);
    let before = store.clone();
    assert_eq!(
        store.apply(4, report("p", CheckStatus::Passing, 6_000)),
        Response::NotTtlCheck {
            check_id: "p".to_owned()
        }
    );
    assert_eq!(
        store.apply(5, report("nope", CheckStatus::Passing, 6_000)),
        Response::NotFound {
            key: "nope".to_owned()
        }
    );
    assert_eq!(store, before);
}

#[test]
fn a_ttl_check_without_ttl_never_expires() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![ttl("t", 0)])));
    store.apply(2, report("t", CheckStatus::Warning, 5_000));
    let t = state(&store, "web", "t");
    assert_eq!((t.status, t.expires_at_ms), (CheckStatus::Warning, 0));
    assert_eq!(t.at(u64::MAX).0, CheckStatus::Warning);
    assert!(!store.ttl_checks_due(50_000));
}

#[test]
fn probe_results_change_probed_checks_only() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![ttl("t", 10_000), tcp("p")])));
    assert_eq!(
        store.apply(
            2,
            results(
                &[
                    ("p", CheckStatus::Passing),
                    ("t", CheckStatus::Passing),
                    ("gone", CheckStatus::Passing)
                ],
                7_000
            )
        ),
        Response::CheckResultsApplied { changed: 1 }
    );
    let p = state(&store, "web", "p");
    assert_eq!(
        (p.status, p.output.as_str(), p.last_check_ms),
        (CheckStatus::Passing, "Passing", 7_000)
    );
    assert_eq!(
        state(&store, "web", "t").status,
        CheckStatus::Critical,
        "TTL checks are not probed"
    );
    assert_eq!(store.catalog_index(), 2);
    assert_eq!(
        store.apply(3, results(&[("p", CheckStatus::Passing)], 8_000)),
        Response::CheckResultsApplied { changed: 0 }
    );
    assert_eq!(
        store.catalog_index(),
        2,
        "an unchanged status does not move the index"
    );
    assert_eq!(state(&store, "web", "p").last_check_ms, 8_000);
}

/// The leader's expiry entry at `now_ms` with no service to remove: TTL checks only.
fn expire_checks(now_ms: u64) -> Command {
    Command::CatalogExpireServices {
        now_ms,
        services: vec![],
    }
}

#[test]
fn expire_turns_overdue_ttl_checks_critical_and_grace_defers_them() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![ttl("t", 10_000)])));
    store.apply(2, report("t", CheckStatus::Passing, 5_000)); // due at 15_000
    assert!(!store.ttl_checks_due(14_999));
    assert!(store.ttl_checks_due(15_000));
    // A new leader at 14_000 grants a full TTL: the check is due at 24_000 (and the
    // service, registered at 1_000 with 60 s, at 74_000).
    assert_eq!(
        store.apply(3, Command::CatalogGrace { now_ms: 14_000 }),
        Response::GraceApplied { extended: 2 }
    );
    assert_eq!(state(&store, "web", "t").expires_at_ms, 24_000);
    assert_eq!(
        store.apply(4, expire_checks(23_999)),
        Response::Expired {
            keys: vec![],
            checks: vec![]
        }
    );
    assert_eq!(
        store.apply(5, expire_checks(24_000)),
        Response::Expired {
            keys: vec![],
            checks: vec!["t".to_owned()]
        }
    );
    let t = state(&store, "web", "t");
    assert_eq!(
        (t.status, t.output.as_str(), t.expires_at_ms),
        (CheckStatus::Critical, TTL_EXPIRED_OUTPUT, 0)
    );
    assert_eq!(store.catalog_index(), 5);
    assert!(
        !store.ttl_checks_due(30_000),
        "an expired check is not due again"
    );
}

#[test]
fn re_registering_keeps_unchanged_checks_and_resets_changed_ones() {
    let mut store = Store::new();
    store.apply(
        1,
        register(svc("web", vec![ttl("t", 10_000), tcp("p"), tcp("q")])),
    );
    store.apply(2, report("t", CheckStatus::Passing, 5_000));
    store.apply(
        3,
        results(
            &[("p", CheckStatus::Passing), ("q", CheckStatus::Passing)],
            5_000,
        ),
    );
    let mut changed_q = tcp("q");
    changed_q.interval_ms = 9_000;
    let answer = store.apply(
        4,
        register(svc("web", vec![ttl("t", 10_000), changed_q, ttl("new", 0)])),
    );
    // The answer carries the states it wrote, so the API needs no read back.
    let Response::Registered { checks, .. } = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(&checks, &store.service("web").unwrap().checks);
    assert_eq!(checks["t"].status, CheckStatus::Passing);
    assert_eq!(state(&store, "web", "t").status, CheckStatus::Passing);
    assert_eq!(state(&store, "web", "q"), &CheckState::new_check());
    assert_eq!(state(&store, "web", "new"), &CheckState::new_check());
    assert!(!store.service("web").unwrap().checks.contains_key("p"));
    assert_eq!(store.check_owner("p"), None, "a dropped check frees its id");
    assert_eq!(store.check_owner("new"), Some("web"));
}

#[test]
fn a_check_id_belongs_to_one_service() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![ttl("shared", 0)])));
    let before = store.clone();
    assert_eq!(
        store.apply(2, register(svc("db", vec![ttl("shared", 0)]))),
        Response::CheckIdTaken {
            check_id: "shared".to_owned(),
            owner: "web".to_owned()
        }
    );
    // A batch is refused whole: the first service would have been fine.
    assert_eq!(
        store.apply(
            3,
            Command::CatalogBatchRegister {
                services: vec![
                    svc("a", vec![ttl("free", 0)]),
                    svc("b", vec![ttl("shared", 0)])
                ],
                now_ms: 1,
            }
        ),
        Response::CheckIdTaken {
            check_id: "shared".to_owned(),
            owner: "web".to_owned()
        }
    );
    // Two services of one batch may not share an id either.
    assert_eq!(
        store.apply(
            4,
            Command::CatalogBatchRegister {
                services: vec![svc("a", vec![ttl("x", 0)]), svc("b", vec![ttl("x", 0)])],
                now_ms: 1,
            }
        ),
        Response::CheckIdTaken {
            check_id: "x".to_owned(),
            owner: "a".to_owned()
        }
    );
    assert_eq!(store, before);
}

#[test]
fn checks_leave_with_their_service() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![ttl("t", 0)])));
    store.apply(2, register(svc("db", vec![ttl("d", 0)])));
    store.apply(
        3,
        Command::CatalogDeregister {
            key: "web".to_owned(),
            expected_index: None,
        },
    );
    assert_eq!(store.catalog_index(), 3);
    assert_eq!(store.check_owner("t"), None);
    assert_eq!(
        store.apply(4, report("t", CheckStatus::Passing, 1)),
        Response::NotFound {
            key: "t".to_owned()
        }
    );
    // Its id is free for another service now.
    assert!(matches!(
        store.apply(5, register(svc("cache", vec![ttl("t", 0)]))),
        Response::Registered { .. }
    ));
    // Expiry removes checks too.
    store.apply(6, Command::CatalogExpire { now_ms: u64::MAX });
    assert_eq!(store.service_count(), 0);
    assert_eq!(store.check_owner("d"), None);
    assert_eq!(store.check_owner("t"), None);
    assert_eq!(store.catalog_index(), 6);
}

#[test]
fn heartbeats_do_not_move_the_catalog_index() {
    let mut store = Store::new();
    store.apply(1, register(svc("web", vec![])));
    store.apply(
        2,
        Command::CatalogHeartbeat {
            key: "web".to_owned(),
            now_ms: 2_000,
        },
    );
    store.apply(3, Command::CatalogGrace { now_ms: 3_000 });
    store.apply(4, Command::CatalogExpire { now_ms: 4_000 });
    assert_eq!(store.catalog_index(), 1);
}

#[test]
fn checks_and_the_catalog_index_survive_a_snapshot() {
    let mut store = Store::new();
    let http = def(
        "h",
        CheckKind::Http {
            url: "https://x:1/".to_owned(),
            method: "GET".to_owned(),
            headers: BTreeMap::from([("A".to_owned(), "b".to_owned())]),
            tls_skip_verify: true,
        },
    );
    let grpc = def(
        "g",
        CheckKind::Grpc {
            address: "x:2".to_owned(),
            service: "s".to_owned(),
            use_tls: false,
        },
    );
    store.apply(
        1,
        register(svc("web", vec![ttl("t", 10_000), http, tcp("p"), grpc])),
    );
    store.apply(2, report("t", CheckStatus::Warning, 5_000));
    store.apply(3, results(&[("h", CheckStatus::Passing)], 6_000));
    store.apply(4, register(svc("db", vec![])));
    store.apply(
        5,
        Command::CatalogDeregister {
            key: "db".to_owned(),
            expected_index: None,
        },
    );
    let mut image = Vec::new();
    store.write_snapshot(&mut image).unwrap();
    let restored = Store::read_snapshot(&image[..]).unwrap();
    assert_eq!(restored, store);
    assert_eq!(
        restored.catalog_index(),
        5,
        "a deletion's index is not forgotten"
    );
    assert_eq!(restored.check_owner("g"), Some("web"));
    // The restored store goes on exactly like the original.
    let (mut a, mut b) = (store, restored);
    for (i, cmd) in [
        report("t", CheckStatus::Passing, 7_000),
        results(&[("p", CheckStatus::Warning)], 7_000),
        Command::CatalogExpire { now_ms: 20_000 },
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(
            a.apply(10 + i as u64, cmd.clone()),
            b.apply(10 + i as u64, cmd)
        );
    }
    assert_eq!(a, b);
}
