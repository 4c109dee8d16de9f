//! The service catalog: every catalog command and its response, CAS, atomic batches,
//! determinism across replicas, and snapshots that carry services. Leader-stamped expiry and
//! grace are in `catalog/expiry.rs`.

use std::collections::BTreeMap;

use super::super::{ExpiredService, SERVICE_KEY_PREFIX, Service, ServiceEntry};
use super::*;

mod expiry;

fn svc(name: &str, id: Option<&str>, ttl_ms: u64) -> Service {
    Service {
        name: name.to_owned(),
        id: id.map(str::to_owned),
        address: format!("{name}.local"),
        port: 8080,
        tags: vec!["v1".to_owned()],
        meta: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        ttl_ms,
        checks: vec![],
    }
}

fn register(service: Service, expected_index: Option<u64>, now_ms: u64) -> Command {
    Command::CatalogRegister {
        service,
        expected_index,
        now_ms,
    }
}

fn deregister(key: &str, expected_index: Option<u64>) -> Command {
    Command::CatalogDeregister {
        key: key.to_owned(),
        expected_index,
    }
}

fn heartbeat(key: &str, now_ms: u64) -> Command {
    Command::CatalogHeartbeat {
        key: key.to_owned(),
        now_ms,
    }
}

fn registered(key: &str, create_index: u64, modify_index: u64, expires_at_ms: u64) -> Response {
    Response::Registered {
        key: key.to_owned(),
        create_index,
        modify_index,
        expires_at_ms,
        checks: Default::default(),
    }
}

fn deadlines(store: &Store) -> Vec<(String, u64)> {
    store
        .services()
        .map(|(k, e)| (k.clone(), e.expires_at_ms))
        .collect()
}

/// `web` (ttl 10s, registered at 2 and again at 5, time 1000), `web/i-1` (ttl 5s, at 3,
/// time 1000) and `db` (ttl 30s, at 4, time 2000).
fn catalog() -> Store {
    let mut store = Store::new();
    store.apply(2, register(svc("web", None, 10_000), None, 1_000));
    store.apply(3, register(svc("web", Some("i-1"), 5_000), None, 1_000));
    store.apply(4, register(svc("db", None, 30_000), None, 2_000));
    store.apply(5, register(svc("web", None, 10_000), None, 1_000));
    store
}

fn expire_services(now_ms: u64, services: &[(&str, u64)]) -> Command {
    Command::CatalogExpireServices {
        now_ms,
        services: services
            .iter()
            .map(|&(key, modify_index)| ExpiredService {
                key: key.to_owned(),
                modify_index,
            })
            .collect(),
    }
}

#[test]
fn register_creates_then_updates_keeping_create_index() {
    let mut store = Store::new();
    let first = svc("web", None, 10_000);
    assert_eq!(
        store.apply(7, register(first.clone(), None, 1_000)),
        registered("web", 7, 7, 11_000)
    );
    let mut second = svc("web", None, 20_000);
    second.port = 9090;
    assert_eq!(
        store.apply(9, register(second.clone(), None, 2_000)),
        registered("web", 7, 9, 22_000)
    );
    assert_eq!(
        store.service("web"),
        Some(&ServiceEntry {
            service: second,
            create_index: 7,
            modify_index: 9,
            expires_at_ms: 22_000,
            checks: Default::default(),
        })
    );
    assert_eq!(store.service_count(), 1);
    assert!(store.is_empty(), "services are not KV keys");
    assert_eq!(store.get("web"), None);
}

#[test]
fn instances_have_their_own_keys_and_list_by_name() {
    let mut store = catalog();
    store.apply(6, register(svc("web-x", None, 1), None, 0));
    store.apply(7, register(svc("web", Some("i-0"), 1), None, 0));
    let keys: Vec<_> = store.services().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["db", "web", "web-x", "web/i-0", "web/i-1"]);
    let named: Vec<_> = store
        .services_named("web")
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(named, ["web", "web/i-0", "web/i-1"]);
    assert_eq!(store.services_named("we").count(), 0);
    assert_eq!(store.services_named("nothing").count(), 0);
    assert_eq!(
        store.service("web/i-1").unwrap().service.id.as_deref(),
        Some("i-1")
    );
}

#[test]
fn register_cas_follows_the_kv_rules() {
    let mut store = catalog();
    // 0 = create only.
    assert_eq!(
        store.apply(6, register(svc("new", None, 1_000), Some(0), 50)),
        registered("new", 6, 6, 1_050)
    );
    assert_eq!(
        store.apply(7, register(svc("web", None, 1_000), Some(0), 50)),
        conflict("web", 0, 5)
    );
    // N = modify_index must be N.
    assert_eq!(
        store.apply(8, register(svc("web", None, 1_000), Some(2), 50)),
        conflict("web", 2, 5)
    );
    assert_eq!(
        store.apply(9, register(svc("web", None, 1_000), Some(5), 50)),
        registered("web", 2, 9, 1_050)
    );
    // Absent with N > 0 is NotFound, keyed by the catalog key.
    assert_eq!(
        store.apply(10, register(svc("web", Some("i-9"), 1_000), Some(3), 50)),
        not_found("web/i-9")
    );
    assert_eq!(store.service("web/i-9"), None);
    assert_eq!(store.service("web").unwrap().modify_index, 9);
}

#[test]
fn deregister_with_and_without_cas() {
    let mut store = catalog();
    assert_eq!(
        store.apply(6, deregister("nope", None)),
        Response::Deleted { existed: false }
    );
    assert_eq!(
        store.apply(7, deregister("nope", Some(1))),
        not_found("nope")
    );
    assert_eq!(
        store.apply(8, deregister("web", Some(2))),
        conflict("web", 2, 5)
    );
    assert_eq!(
        store.apply(9, deregister("web", Some(0))),
        conflict("web", 0, 5)
    );
    assert_eq!(store.service_count(), 3);
    assert_eq!(
        store.apply(10, deregister("web", Some(5))),
        Response::Deleted { existed: true }
    );
    assert_eq!(
        store.apply(11, deregister("db", None)),
        Response::Deleted { existed: true }
    );
    let keys: Vec<_> = store.services().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, ["web/i-1"]);
}

#[test]
fn heartbeat_extends_the_deadline_only() {
    let mut store = catalog();
    let before = store.service("web/i-1").unwrap().clone();
    assert_eq!(
        store.apply(6, heartbeat("web/i-1", 4_000)),
        Response::Renewed {
            key: "web/i-1".to_owned(),
            expires_at_ms: 9_000,
        }
    );
    let after = store.service("web/i-1").unwrap();
    assert_eq!(after.expires_at_ms, 9_000);
    assert_eq!(
        (after.create_index, after.modify_index, &after.service),
        (before.create_index, before.modify_index, &before.service)
    );
}

#[test]
fn heartbeat_of_an_unknown_service_is_not_found_and_changes_nothing() {
    let mut store = catalog();
    let before = store.clone();
    assert_eq!(
        store.apply(6, heartbeat("ghost", 1)),
        Response::NotFound {
            key: "ghost".to_owned()
        }
    );
    assert_eq!(store, before);
}

#[test]
fn batch_register_is_atomic_at_one_index() {
    let mut store = catalog();
    let response = store.apply(
        6,
        Command::CatalogBatchRegister {
            services: vec![
                svc("api", None, 1_000),
                svc("web", None, 2_000),
                svc("api", None, 3_000),
            ],
            now_ms: 100,
        },
    );
    assert_eq!(
        response,
        Response::BatchWritten {
            keys: keys(&["api", "web", "api"]),
            index: 6
        }
    );
    let api = store.service("api").unwrap();
    assert_eq!((api.create_index, api.modify_index), (6, 6));
    assert_eq!(
        api.expires_at_ms, 3_100,
        "the last registration of a key wins"
    );
    let web = store.service("web").unwrap();
    assert_eq!((web.create_index, web.modify_index), (2, 6));
    assert_eq!(web.expires_at_ms, 2_100);
}

#[test]
fn batch_deregister_counts_removed_services() {
    let mut store = catalog();
    assert_eq!(
        store.apply(
            6,
            Command::CatalogBatchDeregister {
                keys: keys(&["web", "ghost", "web", "db"])
            }
        ),
        Response::BatchDeleted { deleted: 2 }
    );
    let left: Vec<_> = store.services().map(|(k, _)| k.clone()).collect();
    assert_eq!(left, ["web/i-1"]);
}

#[test]
fn keys_name_services_apart_from_kv_keys() {
    let names =
        |c: Command| -> Vec<String> { c.keys().into_iter().map(|k| k.into_owned()).collect() };
    assert_eq!(SERVICE_KEY_PREFIX, "svc/");
    assert_eq!(
        names(register(svc("web", Some("i-1"), 1), None, 0)),
        ["svc/web/i-1"]
    );
    assert_eq!(names(deregister("web", None)), ["svc/web"]);
    assert_eq!(names(heartbeat("db", 1)), ["svc/db"]);
    assert!(names(Command::CatalogExpire { now_ms: 1 }).is_empty());
    assert_eq!(
        names(expire_services(1, &[("a", 1), ("b/2", 1)])),
        ["svc/a", "svc/b/2"]
    );
    assert!(names(Command::CatalogGrace { now_ms: 1 }).is_empty());
    assert_eq!(
        names(Command::CatalogBatchRegister {
            services: vec![svc("a", None, 1), svc("b", Some("2"), 1)],
            now_ms: 0
        }),
        ["svc/a", "svc/b/2"]
    );
    assert_eq!(
        names(Command::CatalogBatchDeregister { keys: keys(&["a"]) }),
        ["svc/a"]
    );
    assert_eq!(
        names(Command::Multi {
            commands: vec![set("web", b"", 0), heartbeat("web", 1)]
        }),
        ["web", "svc/web"]
    );
    let big = register(svc("web", None, 1), None, 0);
    assert!(big.approx_size() > heartbeat("web", 1).approx_size());
}

/// A mixed catalog log over a few names, with times that move forward unevenly.
fn catalog_stream(len: u64) -> Vec<Command> {
    (0..len)
        .map(|i| {
            let now_ms = i * 700 + (i * 7919) % 1_000;
            let name = format!("s{}", (i * 31) % 7);
            let id = ((i % 3) == 0).then(|| format!("{}", i % 2));
            let key = super::super::service_key(&name, id.as_deref());
            match i % 9 {
                0..=2 => register(
                    svc(&name, id.as_deref(), 1_000 + (i % 5) * 1_000),
                    (i % 4 == 0).then_some(i % 11),
                    now_ms,
                ),
                3 | 4 => heartbeat(&key, now_ms),
                5 => deregister(&key, (i % 2 == 0).then_some(i % 13)),
                6 if i % 2 == 0 => Command::CatalogExpire { now_ms },
                6 => expire_services(now_ms, &[(&key, i % 17)]),
                7 => Command::CatalogGrace { now_ms },
                _ => Command::CatalogBatchRegister {
                    services: vec![svc(&name, None, 2_000), svc("s0", Some("b"), 500)],
                    now_ms,
                },
            }
        })
        .collect()
}

#[test]
fn two_stores_fed_the_same_catalog_log_are_equal() {
    let commands = catalog_stream(3_000);
    let mut first = Store::new();
    let mut second = Store::new();
    let mut expired = 0;
    for (index, command) in (1..).zip(&commands) {
        let a = first.apply(index, command.clone());
        let b = second.apply(index, command.clone());
        assert_eq!(a, b, "responses differ at index {index}");
        if let Response::Expired { keys, .. } = a {
            expired += keys.len();
        }
    }
    assert_eq!(first, second);
    assert!(expired > 0, "the stream never expired anything");
    assert!(first.service_count() > 0);
}

#[test]
fn snapshots_carry_services_and_replay_continues_equal() {
    let commands = catalog_stream(1_000);
    let mut full = Store::new();
    full.apply(1, set("kv", b"v", 3));
    for (index, command) in (2..).zip(&commands) {
        full.apply(index, command.clone());
    }
    let mut early = Store::new();
    early.apply(1, set("kv", b"v", 3));
    for (index, command) in (2..).zip(&commands[..500]) {
        early.apply(index, command.clone());
    }
    assert!(early.service_count() > 0);
    let mut image = Vec::new();
    early.write_snapshot(&mut image).unwrap();
    let mut restored = Store::read_snapshot(image.as_slice()).unwrap();
    assert_eq!(restored, early);
    for (index, command) in (502..).zip(&commands[500..]) {
        restored.apply(index, command.clone());
    }
    assert_eq!(restored, full);
}

/// The keys `services_tagged` offers for `tags`.
fn tagged(store: &Store, tags: &[&str]) -> Vec<String> {
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    store
        .services_tagged(&tags)
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn the_tag_index_follows_every_change_and_survives_a_snapshot() {
    let mut store = catalog(); // every service tagged "v1"
    assert_eq!(tagged(&store, &["v1"]), keys(&["db", "web", "web/i-1"]));
    assert_eq!(tagged(&store, &[]).len(), 3, "no tag: every service");
    assert!(tagged(&store, &["v2"]).is_empty());
    // Re-tagging moves a service between tags; the rarest tag is the one offered.
    let mut db = svc("db", None, 30_000);
    db.tags = vec!["v1".to_owned(), "primary".to_owned()];
    store.apply(6, register(db, None, 2_000));
    assert_eq!(tagged(&store, &["v1", "primary"]), keys(&["db"]));
    let mut web = svc("web", None, 10_000);
    web.tags = vec!["v2".to_owned()];
    store.apply(7, register(web, None, 2_000));
    assert_eq!(tagged(&store, &["v1"]), keys(&["db", "web/i-1"]));
    assert_eq!(tagged(&store, &["v2"]), keys(&["web"]));
    // Deregistering and expiring take services out of the index; empty tags disappear.
    store.apply(8, deregister("db", None));
    assert!(tagged(&store, &["primary"]).is_empty());
    let mut image = Vec::new();
    store.write_snapshot(&mut image).unwrap();
    assert_eq!(
        Store::read_snapshot(&image[..]).unwrap(),
        store,
        "index rebuilt on restore"
    );
    store.apply(9, Command::CatalogExpire { now_ms: u64::MAX });
    assert_eq!(store.service_count(), 0);
    assert!(tagged(&store, &["v1"]).is_empty() && tagged(&store, &["v2"]).is_empty());
    let mut empty = Store::new();
    empty.apply(9, Command::CatalogExpire { now_ms: 0 });
    // Equal to a store that never had a service, but for the catalog index.
    assert_eq!(store.catalog_index(), 9);
    assert_eq!(
        format!("{:?}", store).replace("catalog_index: 9", "catalog_index: 0"),
        format!("{empty:?}")
    );
}
