//! Leader-stamped expiry and grace: the leader's expiry entry removes exactly the
//! registrations it names, older logs' time-stamped expiry replays the same, and grace never
//! shortens a deadline.

use super::*;

#[test]
fn the_leaders_expiry_removes_exactly_the_registrations_it_names() {
    // web was registered at 2 and again at 5; web/i-1 at 3; db at 4.
    let mut store = catalog();
    assert_eq!(store.catalog_index(), 5);
    // web judged in its first registration is kept (re-registered since); web/i-1 goes,
    // before its replicated deadline (6_000): only the leader knows the heartbeats. An
    // unknown key is no error.
    assert_eq!(
        store.apply(
            6,
            expire_services(1_000, &[("nope", 1), ("web", 2), ("web/i-1", 3)])
        ),
        Response::Expired {
            keys: keys(&["web/i-1"]),
            checks: vec![],
        }
    );
    assert_eq!(store.catalog_index(), 6);
    assert!(store.service("web").is_some());
    // Long past every replicated deadline, a service the leader does not name stays.
    assert_eq!(
        store.apply(7, expire_services(u64::MAX, &[])),
        Response::Expired {
            keys: vec![],
            checks: vec![],
        }
    );
    assert_eq!(store.service_count(), 2);
    assert_eq!(store.catalog_index(), 6, "nothing changed at 7");
}

/// `CatalogExpire` is no longer proposed; a log written before still replays the same.
#[test]
fn older_logs_expire_removes_exactly_the_services_due_at_the_stamped_time() {
    // Deadlines: web/i-1 6_000, web 11_000, db 32_000.
    let mut store = catalog();
    assert_eq!(
        store.apply(6, Command::CatalogExpire { now_ms: 5_999 }),
        Response::Expired {
            keys: vec![],
            checks: vec![],
        }
    );
    assert_eq!(store.service_count(), 3);
    // A deadline equal to now is due.
    assert_eq!(
        store.apply(7, Command::CatalogExpire { now_ms: 6_000 }),
        Response::Expired {
            keys: keys(&["web/i-1"]),
            checks: vec![],
        }
    );
    assert_eq!(
        store.apply(8, Command::CatalogExpire { now_ms: 31_999 }),
        Response::Expired {
            keys: keys(&["web"]),
            checks: vec![],
        }
    );
    assert_eq!(deadlines(&store), [("db".to_owned(), 32_000)]);
    // A heartbeat before the sweep saves a service.
    store.apply(9, heartbeat("db", 40_000));
    assert_eq!(
        store.apply(10, Command::CatalogExpire { now_ms: 50_000 }),
        Response::Expired {
            keys: vec![],
            checks: vec![],
        }
    );
    assert_eq!(
        store.apply(11, Command::CatalogExpire { now_ms: u64::MAX }),
        Response::Expired {
            keys: keys(&["db"]),
            checks: vec![],
        }
    );
    assert_eq!(store.service_count(), 0);
}

#[test]
fn grace_never_shortens_and_extends_to_now_plus_ttl() {
    let mut store = catalog();
    let before: Vec<_> = store.services().map(|(_, e)| e.modify_index).collect();
    // web/i-1 6_000 -> 6_500 (ttl 5s); web 11_000 -> 11_500; db 32_000 stays (31_500).
    assert_eq!(
        store.apply(6, Command::CatalogGrace { now_ms: 1_500 }),
        Response::GraceApplied { extended: 2 }
    );
    assert_eq!(
        deadlines(&store),
        [
            ("db".to_owned(), 32_000),
            ("web".to_owned(), 11_500),
            ("web/i-1".to_owned(), 6_500)
        ]
    );
    let after: Vec<_> = store.services().map(|(_, e)| e.modify_index).collect();
    assert_eq!(before, after, "grace does not change modify_index");
    // An expiry at the old deadlines removes nothing now.
    assert_eq!(
        store.apply(7, Command::CatalogExpire { now_ms: 6_000 }),
        Response::Expired {
            keys: vec![],
            checks: vec![],
        }
    );
    // Times near the end of u64 saturate instead of overflowing.
    store.apply(8, Command::CatalogGrace { now_ms: u64::MAX });
    assert!(store.services().all(|(_, e)| e.expires_at_ms == u64::MAX));
}
