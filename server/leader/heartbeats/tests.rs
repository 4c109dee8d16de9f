//! The heartbeat table: deadlines from replicated state and beats, the refusal of a beat for
//! a service chosen for removal, and what a re-registration or a removal does to a beat.

use std::collections::BTreeMap;

use super::*;
use crate::store::{Command, Service};

const T0: u64 = 1_000_000;
const TTL: u64 = 10_000;

fn svc(name: &str) -> Service {
    Service {
        name: name.to_owned(),
        id: None,
        address: "10.0.0.1".to_owned(),
        port: 80,
        tags: vec![],
        meta: BTreeMap::new(),
        ttl_ms: TTL,
        checks: vec![],
    }
}

/// A store holding `names`, each registered at `T0` (deadline `T0 + TTL`) at indices 1, 2, ...
fn store_with(names: &[&str]) -> Store {
    let mut s = Store::new();
    for (i, name) in names.iter().enumerate() {
        s.apply(
            i as u64 + 1,
            Command::CatalogRegister {
                service: svc(name),
                expected_index: None,
                now_ms: T0,
            },
        );
    }
    s
}

fn keys(due: &[ExpiredService]) -> Vec<&str> {
    due.iter().map(|d| d.key.as_str()).collect()
}

#[test]
fn without_beats_the_replicated_deadline_counts() {
    let s = store_with(&["a"]);
    let hb = Heartbeats::new();
    assert_eq!(hb.deadline("a", s.service("a").unwrap()), T0 + TTL);
    assert!(hb.due(&s, T0 + TTL - 1).is_empty());
    assert_eq!(keys(&hb.due(&s, T0 + TTL)), ["a"]);
}

#[test]
fn a_beat_moves_the_deadline_to_its_time_plus_the_ttl_and_never_back() {
    let s = store_with(&["a", "b"]);
    let hb = Heartbeats::new();
    let a = s.service("a").unwrap();
    assert_eq!(hb.renew("a", a, T0 + 8_000), Some(T0 + 18_000));
    // A beat stamped earlier (a clock read before the last one) does not shorten it.
    assert_eq!(hb.renew("a", a, T0 + 5_000), Some(T0 + 18_000));
    assert_eq!(hb.deadline("a", a), T0 + 18_000);
    assert_eq!(hb.len(), 1);
    // At T0 + 16 s only b, which had no heartbeat, is due.
    assert_eq!(keys(&hb.due(&s, T0 + 16_000)), ["b"]);
    assert_eq!(keys(&hb.due(&s, T0 + 18_000)), ["a", "b"]);
}

#[test]
fn a_service_chosen_for_removal_refuses_heartbeats_until_it_is_gone() {
    let mut s = store_with(&["a"]);
    let hb = Heartbeats::new();
    let due = hb.due(&s, T0 + TTL);
    assert_eq!(
        due,
        [ExpiredService {
            key: "a".into(),
            modify_index: 1
        }]
    );
    assert_eq!(hb.renew("a", s.service("a").unwrap(), T0 + TTL), None);
    // Still listed (its removal may not have committed), even at an earlier clock reading.
    assert_eq!(keys(&hb.due(&s, T0)), ["a"]);
    // Re-registered before the removal applied: a new registration, not chosen, renewable.
    s.apply(
        5,
        Command::CatalogRegister {
            service: svc("a"),
            expected_index: None,
            now_ms: T0 + TTL,
        },
    );
    let a = s.service("a").unwrap();
    assert_eq!(hb.renew("a", a, T0 + TTL + 1), Some(T0 + 2 * TTL + 1));
    assert!(hb.due(&s, T0 + TTL + 1).is_empty());
}

#[test]
fn a_beat_of_an_older_registration_does_not_count() {
    let mut s = store_with(&["a"]);
    let hb = Heartbeats::new();
    hb.renew("a", s.service("a").unwrap(), T0 + 9_000);
    s.apply(
        2,
        Command::CatalogRegister {
            service: Service {
                ttl_ms: 1_000,
                ..svc("a")
            },
            expected_index: None,
            now_ms: T0 + 9_500,
        },
    );
    // The new registration's own deadline (T0 + 10.5 s), not the old beat's T0 + 9 s + 1 s.
    let a = s.service("a").unwrap();
    assert_eq!(hb.deadline("a", a), T0 + 10_500);
    assert_eq!(keys(&hb.due(&s, T0 + 10_500)), ["a"]);
}

#[test]
fn removed_services_leave_the_table_at_the_next_sweep() {
    let mut s = store_with(&["a", "b"]);
    let hb = Heartbeats::new();
    hb.renew("a", s.service("a").unwrap(), T0);
    hb.renew("b", s.service("b").unwrap(), T0);
    s.apply(
        3,
        Command::CatalogDeregister {
            key: "a".into(),
            expected_index: None,
        },
    );
    assert!(hb.due(&s, T0).is_empty());
    assert_eq!(hb.len(), 1, "only b's beat is left");
    hb.clear();
    assert!(hb.is_empty());
}

#[test]
fn one_sweep_chooses_at_most_the_entry_limit() {
    let names: Vec<String> = (0..MAX_EXPIRED_PER_ENTRY + 5)
        .map(|i| format!("s{i:05}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let s = store_with(&refs);
    let hb = Heartbeats::new();
    let first = hb.due(&s, T0 + TTL);
    assert_eq!(first.len(), MAX_EXPIRED_PER_ENTRY);
    assert_eq!(first[0].key, "s00000");
}
