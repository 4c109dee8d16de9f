//! Batch commands: one index for every key, request order, and the CAS batches'
//! all-or-nothing rule (conditions checked against the pre-batch state).

use super::*;

#[test]
fn batch_set_stamps_every_key_with_the_entry_index() {
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchSet {
            items: vec![
                item("z", b"z1", 0),
                item("a", b"a2", 0),
                item("c", b"c1", 5),
            ],
        },
    );
    assert_eq!(
        response,
        Response::BatchWritten {
            keys: keys(&["z", "a", "c"]),
            index: 20
        }
    );
    assert_eq!(store.get("z"), Some(&entry(b"z1", 0, 20, 20)));
    assert_eq!(store.get("a"), Some(&entry(b"a2", 7, 3, 20)));
    assert_eq!(store.get("c"), Some(&entry(b"c1", 5, 20, 20)));
    assert_eq!(store.get("b"), Some(&entry(b"b2", 0, 4, 6)));
}

#[test]
fn batch_set_with_a_repeated_key_applies_items_in_order() {
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchSet {
            items: vec![
                item("a", b"first", 9),
                item("n", b"n1", 2),
                item("a", b"last", 0),
            ],
        },
    );
    assert_eq!(
        response,
        Response::BatchWritten {
            keys: keys(&["a", "n", "a"]),
            index: 20
        }
    );
    // The first item set flags 9; the last item's 0 kept them.
    assert_eq!(store.get("a"), Some(&entry(b"last", 9, 3, 20)));
    assert_eq!(store.get("n"), Some(&entry(b"n1", 2, 20, 20)));
}

#[test]
fn batch_delete_counts_only_keys_that_existed() {
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchDelete {
            keys: keys(&["a", "missing", "a", "b"]),
        },
    );
    assert_eq!(response, Response::BatchDeleted { deleted: 2 });
    assert!(store.is_empty());
}

#[test]
fn batch_set_cas_applies_when_every_condition_holds() {
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchSetCas {
            items: vec![
                cas_item("a", b"a2", 3),
                cas_item("c", b"c1", 0),
                cas_item("b", b"b3", 6),
            ],
        },
    );
    assert_eq!(
        response,
        Response::BatchWritten {
            keys: keys(&["a", "c", "b"]),
            index: 20
        }
    );
    assert_eq!(store.get("a"), Some(&entry(b"a2", 7, 3, 20)));
    assert_eq!(store.get("b"), Some(&entry(b"b3", 0, 4, 20)));
    assert_eq!(store.get("c"), Some(&entry(b"c1", 0, 20, 20)));
}

#[test]
fn batch_set_cas_changes_nothing_when_one_condition_fails() {
    let mut store = seeded();
    let before = store.clone();
    // Item 0 and 1 would pass; item 2 is stale; item 3 is missing.
    let response = store.apply(
        20,
        Command::KvBatchSetCas {
            items: vec![
                cas_item("a", b"a2", 3),
                cas_item("c", b"c1", 0),
                cas_item("b", b"b3", 4),
                cas_item("d", b"d1", 9),
            ],
        },
    );
    assert_eq!(response, conflict("b", 4, 6));
    assert_eq!(store, before);
}

#[test]
fn batch_set_cas_reports_the_first_failure_in_request_order() {
    let mut store = seeded();
    let before = store.clone();
    let response = store.apply(
        20,
        Command::KvBatchSetCas {
            items: vec![cas_item("d", b"d1", 9), cas_item("a", b"x", 0)],
        },
    );
    assert_eq!(response, not_found("d"));
    let response = store.apply(
        21,
        Command::KvBatchSetCas {
            items: vec![cas_item("a", b"x", 0), cas_item("d", b"d1", 9)],
        },
    );
    assert_eq!(response, conflict("a", 0, 3));
    assert_eq!(store, before);
}

#[test]
fn batch_set_cas_checks_a_repeated_key_against_the_pre_batch_state() {
    // Both create-only conditions hold before the batch, so both apply; the last wins.
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchSetCas {
            items: vec![cas_item("n", b"n1", 0), cas_item("n", b"n2", 0)],
        },
    );
    assert_eq!(
        response,
        Response::BatchWritten {
            keys: keys(&["n", "n"]),
            index: 20
        }
    );
    assert_eq!(store.get("n"), Some(&entry(b"n2", 0, 20, 20)));

    // The second item expects the index the first would write, but the key is absent
    // before the batch: NotFound, and nothing is written.
    let before = store.clone();
    let response = store.apply(
        21,
        Command::KvBatchSetCas {
            items: vec![cas_item("m", b"m1", 0), cas_item("m", b"m2", 21)],
        },
    );
    assert_eq!(response, not_found("m"));
    assert_eq!(store, before);
}

#[test]
fn batch_delete_cas_applies_when_every_condition_holds() {
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchDeleteCas {
            items: vec![delete_item("b", 6), delete_item("a", 3)],
        },
    );
    assert_eq!(response, Response::BatchDeleted { deleted: 2 });
    assert!(store.is_empty());
}

#[test]
fn batch_delete_cas_changes_nothing_when_one_condition_fails() {
    let mut store = seeded();
    let before = store.clone();
    let cases = [
        (
            vec![delete_item("a", 3), delete_item("b", 5)],
            conflict("b", 5, 6),
        ),
        (
            vec![
                delete_item("a", 3),
                delete_item("x", 1),
                delete_item("b", 5),
            ],
            not_found("x"),
        ),
        (
            vec![delete_item("b", 0), delete_item("a", 3)],
            conflict("b", 0, 6),
        ),
        (
            vec![delete_item("a", 3), delete_item("zzz", 0)],
            not_found("zzz"),
        ),
    ];
    for (index, (items, expected)) in (20..).zip(cases) {
        assert_eq!(
            store.apply(index, Command::KvBatchDeleteCas { items }),
            expected
        );
        assert_eq!(store, before);
    }
}

#[test]
fn batch_delete_cas_with_a_repeated_key_removes_and_counts_it_once() {
    let mut store = seeded();
    let response = store.apply(
        20,
        Command::KvBatchDeleteCas {
            items: vec![delete_item("a", 3), delete_item("a", 3)],
        },
    );
    assert_eq!(response, Response::BatchDeleted { deleted: 1 });
    assert_eq!(store.get("a"), None);
    assert_eq!(store.len(), 1);
}

#[test]
fn empty_batches_succeed_and_change_nothing() {
    let mut store = seeded();
    let before = store.clone();
    assert_eq!(
        store.apply(20, Command::KvBatchSet { items: vec![] }),
        Response::BatchWritten {
            keys: vec![],
            index: 20
        }
    );
    assert_eq!(
        store.apply(21, Command::KvBatchSetCas { items: vec![] }),
        Response::BatchWritten {
            keys: vec![],
            index: 21
        }
    );
    assert_eq!(
        store.apply(22, Command::KvBatchDelete { keys: vec![] }),
        Response::BatchDeleted { deleted: 0 }
    );
    assert_eq!(
        store.apply(23, Command::KvBatchDeleteCas { items: vec![] }),
        Response::BatchDeleted { deleted: 0 }
    );
    assert_eq!(store, before);
}

#[test]
fn a_grouped_entry_applies_each_command_at_one_index_with_its_own_response() {
    let mut store = Store::new();
    store.apply(
        1,
        Command::KvSet {
            key: "x".into(),
            value: b"1".to_vec(),
            flags: 0,
        },
    );
    let r = store.apply(
        5,
        Command::Multi {
            commands: vec![
                Command::KvSet {
                    key: "a".into(),
                    value: b"A".to_vec(),
                    flags: 3,
                },
                Command::KvSetCas {
                    key: "x".into(),
                    value: b"2".to_vec(),
                    expected_index: 99,
                },
                Command::KvDelete { key: "nope".into() },
            ],
        },
    );
    assert_eq!(
        r,
        Response::Multi(vec![
            Response::Written {
                key: "a".into(),
                flags: 3,
                create_index: 5,
                modify_index: 5,
            },
            Response::CasFailed(CasFailure::Conflict {
                key: "x".into(),
                expected: 99,
                current: 1,
            }),
            Response::Deleted { existed: false },
        ])
    );
    assert_eq!(store.get("a").unwrap().modify_index, 5);
    assert_eq!(
        store.get("x").unwrap().value,
        b"1",
        "the failed CAS changed nothing"
    );
}

#[test]
fn command_keys_name_every_key_touched() {
    let c = Command::Multi {
        commands: vec![
            Command::KvDelete { key: "a".into() },
            Command::KvBatchDelete {
                keys: vec!["b".into(), "c".into()],
            },
        ],
    };
    assert_eq!(c.keys(), ["a", "b", "c"]);
    assert!(c.approx_size() > 3);
}
