//! Exactly-once writes (`store::requests`): a retried identified write returns the first
//! outcome and changes nothing; the remembered outcomes are bounded per client, in all and
//! by log time, deterministically, and survive a snapshot.

use super::*;
use crate::store::{MAX_PER_CLIENT, RETENTION_MS, RequestId};

/// Leader time of the first write in these tests.
const T0: u64 = 1_700_000_000_000;

fn id(client: &str, seq: u64) -> RequestId {
    RequestId {
        client_id: client.to_owned(),
        seq,
    }
}

fn identified(client: &str, seq: u64, now_ms: u64, command: Command) -> Command {
    Command::Identified {
        request: id(client, seq),
        now_ms,
        command: Box::new(command),
    }
}

fn value(store: &Store, key: &str) -> Option<Vec<u8>> {
    store.get(key).map(|e| e.value.clone())
}

#[test]
fn a_retry_returns_the_first_outcome_and_applies_nothing() {
    let mut store = Store::new();
    let first = store.apply(1, identified("c", 1, T0, set("k", b"one", 0)));
    store.apply(2, set("k", b"two", 0));
    let retry = store.apply(3, identified("c", 1, T0 + 5, set("k", b"one", 0)));
    assert_eq!(
        retry, first,
        "the retry answers with the first attempt's outcome"
    );
    assert_eq!(
        first,
        Response::Written {
            key: "k".into(),
            flags: 0,
            create_index: 1,
            modify_index: 1
        }
    );
    assert_eq!(
        value(&store, "k").as_deref(),
        Some(&b"two"[..]),
        "not applied again"
    );
    assert_eq!(store.get("k").unwrap().modify_index, 2);
}

#[test]
fn a_retried_cas_reports_its_success_although_the_condition_no_longer_holds() {
    let mut store = Store::new();
    store.apply(1, set("k", b"v0", 0));
    let first = store.apply(2, identified("c", 7, T0, set_cas("k", b"v1", 1)));
    assert!(matches!(
        first,
        Response::Written {
            modify_index: 2,
            ..
        }
    ));
    let retry = store.apply(3, identified("c", 7, T0, set_cas("k", b"v1", 1)));
    assert_eq!(retry, first, "not a CAS conflict: the first attempt won");
    // A failed first attempt is remembered as failed, too.
    let failed = store.apply(4, identified("c", 8, T0, delete_cas("k", 1)));
    assert!(matches!(failed, Response::CasFailed(_)));
    store.apply(5, set("k", b"v5", 0));
    assert_eq!(
        store.apply(6, identified("c", 8, T0, delete_cas("k", 5))),
        failed
    );
    assert!(store.get("k").is_some());
}

#[test]
fn ids_of_other_clients_and_other_seqs_are_independent() {
    let mut store = Store::new();
    store.apply(1, identified("a", 1, T0, set("k", b"a1", 0)));
    store.apply(2, identified("b", 1, T0, set("k", b"b1", 0)));
    store.apply(3, identified("a", 2, T0, set("k", b"a2", 0)));
    assert_eq!(value(&store, "k").as_deref(), Some(&b"a2"[..]));
    assert_eq!(store.requests().len(), 3);
}

#[test]
fn a_client_remembers_its_latest_seqs_and_refuses_a_forgotten_one() {
    let mut store = Store::new();
    let n = MAX_PER_CLIENT as u64 + 1;
    for seq in 1..=n {
        store.apply(
            seq,
            identified("c", seq, T0, set(&format!("k{seq}"), b"v", 0)),
        );
    }
    assert_eq!(store.requests().len(), MAX_PER_CLIENT);
    // seq 1 was forgotten, and the client's floor moved past it: refused, not re-applied.
    store.apply(n + 1, delete("k1"));
    let retry = store.apply(n + 2, identified("c", 1, T0, set("k1", b"v", 0)));
    assert_eq!(
        retry,
        Response::RequestIdExpired {
            client_id: "c".into(),
            seq: 1,
            floor: 2
        }
    );
    assert!(store.get("k1").is_none());
    // seq 2 is still remembered.
    let again = store.apply(n + 3, identified("c", 2, T0, set("k2", b"other", 0)));
    assert!(matches!(
        again,
        Response::Written {
            modify_index: 2,
            ..
        }
    ));
    assert_eq!(value(&store, "k2").as_deref(), Some(&b"v"[..]));
}

#[test]
fn outcomes_age_out_by_log_time_and_log_time_never_goes_back() {
    let mut store = Store::new();
    store.apply(1, identified("old", 1, T0, set("k", b"v1", 0)));
    // A leader with a slower clock does not move log time back.
    store.apply(2, identified("x", 1, T0 - 60_000, set("x", b"x", 0)));
    assert_eq!(store.requests().log_time_ms(), T0);
    store.apply(3, identified("y", 1, T0 + RETENTION_MS, set("y", b"y", 0)));
    assert_eq!(
        store.requests().len(),
        3,
        "exactly RETENTION_MS old is still kept"
    );
    store.apply(
        4,
        identified("z", 1, T0 + RETENTION_MS + 1, set("z", b"z", 0)),
    );
    // "old" and "x" (both stamped at log time T0) are gone, with their clients.
    assert_eq!(store.requests().len(), 2);
    let replay = store.apply(
        5,
        identified("old", 1, T0 + RETENTION_MS + 2, set("k", b"v1", 0)),
    );
    assert!(
        matches!(
            replay,
            Response::Written {
                modify_index: 5,
                ..
            }
        ),
        "a forgotten client's write applies again: {replay:?}"
    );
}

#[test]
fn identified_writes_inside_a_group_are_deduplicated_one_by_one() {
    let mut store = Store::new();
    let group = Command::Multi {
        commands: vec![
            identified("c", 1, T0, set("a", b"1", 0)),
            identified("c", 2, T0, set("b", b"2", 0)),
        ],
    };
    let first = store.apply(1, group);
    let retry_b = store.apply(2, identified("c", 2, T0, set("b", b"2", 0)));
    match first {
        Response::Multi(rs) => assert_eq!(rs[1], retry_b),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.get("b").unwrap().modify_index, 1);
}

#[test]
fn the_request_log_survives_a_snapshot_and_answers_retries_the_same() {
    let mut store = Store::new();
    for seq in 1..=50u64 {
        let client = format!("client-{}", seq % 4);
        let cmd = if seq % 3 == 0 {
            set_cas("k", format!("v{seq}").as_bytes(), seq - 1)
        } else {
            set(&format!("k{}", seq % 7), b"v", 0)
        };
        store.apply(seq, identified(&client, seq, T0 + seq, cmd));
    }
    let mut image = Vec::new();
    store.write_snapshot(&mut image).unwrap();
    let mut restored = Store::read_snapshot(image.as_slice()).unwrap();
    assert_eq!(restored, store);
    for seq in [3u64, 10, 50] {
        let client = format!("client-{}", seq % 4);
        let retry = || identified(&client, seq, T0 + 100, set("k", b"retry", 0));
        assert_eq!(
            restored.apply(60 + seq, retry()),
            store.apply(60 + seq, retry())
        );
    }
    assert_eq!(restored, store);
}

#[test]
fn two_stores_fed_the_same_identified_log_with_retries_are_equal() {
    let mut a = Store::new();
    let mut b = Store::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for index in 1..=3000u64 {
        let client = format!("c{}", next(5));
        // Retries repeat a recent seq; time moves on by up to a minute.
        let seq = index.saturating_sub(next(3) * next(40));
        let now = T0 + index * next(60_000);
        let key = format!("k{}", next(6));
        let cmd = match next(3) {
            0 => set(&key, format!("v{index}").as_bytes(), 0),
            1 => set_cas(&key, b"c", next(index)),
            _ => delete(&key),
        };
        let c = identified(&client, seq, now, cmd);
        assert_eq!(a.apply(index, c.clone()), b.apply(index, c));
    }
    assert_eq!(a, b);
    let mut image = Vec::new();
    a.write_snapshot(&mut image).unwrap();
    assert_eq!(Store::read_snapshot(image.as_slice()).unwrap(), b);
}

#[test]
fn a_client_whose_outcomes_were_evicted_by_the_total_bound_keeps_its_floor() {
    let mut store = Store::new();
    store.apply(1, identified("a", 1, T0, set("a", b"1", 0)));
    // About 100,000 more outcomes from other clients push a/1 out of the total bound.
    let mut index = 2;
    let others = crate::store::MAX_REMEMBERED / 1000 + 1;
    for c in 0..others {
        for seq in 1..=1000 {
            let command = set(&format!("k{c}"), b"v", 0);
            store.apply(index, identified(&format!("c{c}"), seq, T0, command));
            index += 1;
        }
    }
    assert!(store.requests().len() <= crate::store::MAX_REMEMBERED);
    store.apply(index, delete("a"));
    // a/1's outcome is gone but a's floor is not: the retry is refused, not applied again.
    let retry = store.apply(index + 1, identified("a", 1, T0, set("a", b"1", 0)));
    assert_eq!(
        retry,
        Response::RequestIdExpired {
            client_id: "a".into(),
            seq: 1,
            floor: 2
        }
    );
    assert!(store.get("a").is_none());
    // The floor-only client survives a snapshot too.
    let mut image = Vec::new();
    store.write_snapshot(&mut image).unwrap();
    let restored = Store::read_snapshot(image.as_slice()).unwrap();
    assert_eq!(restored, store);
    // Ten minutes of log time after its last write the client is forgotten altogether.
    let later = T0 + RETENTION_MS + 1;
    store.apply(index + 2, identified("b", 1, later, set("b", b"1", 0)));
    let replay = store.apply(index + 3, identified("a", 1, later, set("a", b"1", 0)));
    assert!(matches!(replay, Response::Written { .. }), "{replay:?}");
}

#[test]
fn the_highest_seq_does_not_overflow_the_floor() {
    let mut store = Store::new();
    for seq in (u64::MAX - MAX_PER_CLIENT as u64)..=u64::MAX {
        store.apply(1, identified("edge", seq, T0, set("e", b"v", 0)));
    }
    assert_eq!(store.requests().len(), MAX_PER_CLIENT);
}
