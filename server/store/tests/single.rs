//! One-key commands (KvSet, KvDelete, KvSetCas, KvDeleteCas): flags and index rules, every
//! CAS outcome, odd inputs that must not panic, and the reads built on the same map.

use super::*;

#[test]
fn set_creates_a_key_stamped_with_the_log_index() {
    let mut store = Store::new();
    assert_eq!(store.apply(5, set("k", b"v", 0)), written("k", 0, 5, 5));
    assert_eq!(store.get("k"), Some(&entry(b"v", 0, 5, 5)));
    assert_eq!(store.len(), 1);
}

#[test]
fn set_on_an_existing_key_keeps_create_index() {
    let mut store = Store::new();
    store.apply(5, set("k", b"v1", 0));
    assert_eq!(store.apply(9, set("k", b"v2", 0)), written("k", 0, 5, 9));
    assert_eq!(store.get("k"), Some(&entry(b"v2", 0, 5, 9)));
    assert_eq!(store.len(), 1);
}

#[test]
fn set_flags_zero_keeps_flags_and_nonzero_replaces_them() {
    let mut store = Store::new();
    assert_eq!(store.apply(1, set("new", b"v", 0)), written("new", 0, 1, 1));
    assert_eq!(store.apply(2, set("k", b"v1", 7)), written("k", 7, 2, 2));
    assert_eq!(store.apply(3, set("k", b"v2", 0)), written("k", 7, 2, 3));
    assert_eq!(store.get("k"), Some(&entry(b"v2", 7, 2, 3)));
    assert_eq!(store.apply(4, set("k", b"v3", 42)), written("k", 42, 2, 4));
    assert_eq!(store.get("k"), Some(&entry(b"v3", 42, 2, 4)));
}

#[test]
fn delete_reports_whether_the_key_existed() {
    let mut store = seeded();
    assert_eq!(
        store.apply(10, delete("a")),
        Response::Deleted { existed: true }
    );
    assert_eq!(store.get("a"), None);
    assert_eq!(store.len(), 1);

    let before = store.clone();
    assert_eq!(
        store.apply(11, delete("a")),
        Response::Deleted { existed: false }
    );
    assert_eq!(
        store.apply(12, delete("never")),
        Response::Deleted { existed: false }
    );
    assert_eq!(store, before);
}

#[test]
fn a_recreated_key_gets_a_new_create_index_and_default_flags() {
    let mut store = seeded();
    store.apply(10, delete("a"));
    assert_eq!(
        store.apply(11, set("a", b"again", 0)),
        written("a", 0, 11, 11)
    );
}

#[test]
fn set_cas_zero_creates_an_absent_key() {
    let mut store = seeded();
    assert_eq!(
        store.apply(10, set_cas("c", b"c1", 0)),
        written("c", 0, 10, 10)
    );
    assert_eq!(store.get("c"), Some(&entry(b"c1", 0, 10, 10)));
}

#[test]
fn set_cas_zero_conflicts_with_an_existing_key() {
    let mut store = seeded();
    let before = store.clone();
    assert_eq!(store.apply(10, set_cas("b", b"x", 0)), conflict("b", 0, 6));
    assert_eq!(store, before);
}

#[test]
fn set_cas_with_the_current_index_writes_and_keeps_flags() {
    let mut store = seeded();
    assert_eq!(
        store.apply(10, set_cas("a", b"a2", 3)),
        written("a", 7, 3, 10)
    );
    assert_eq!(store.get("a"), Some(&entry(b"a2", 7, 3, 10)));
}

#[test]
fn set_cas_with_a_stale_index_conflicts() {
    let mut store = seeded();
    let before = store.clone();
    assert_eq!(store.apply(10, set_cas("b", b"x", 4)), conflict("b", 4, 6));
    assert_eq!(store.apply(11, set_cas("b", b"x", 7)), conflict("b", 7, 6));
    assert_eq!(store, before);
}

#[test]
fn set_cas_on_an_absent_key_with_an_index_is_not_found() {
    let mut store = seeded();
    let before = store.clone();
    assert_eq!(store.apply(10, set_cas("c", b"x", 6)), not_found("c"));
    assert_eq!(store, before);
}

#[test]
fn delete_cas_covers_missing_mismatch_zero_and_match() {
    let mut store = seeded();
    let before = store.clone();
    assert_eq!(store.apply(10, delete_cas("c", 0)), not_found("c"));
    assert_eq!(store.apply(11, delete_cas("c", 6)), not_found("c"));
    assert_eq!(store.apply(12, delete_cas("b", 0)), conflict("b", 0, 6));
    assert_eq!(store.apply(13, delete_cas("b", 4)), conflict("b", 4, 6));
    assert_eq!(store, before);

    assert_eq!(
        store.apply(14, delete_cas("b", 6)),
        Response::Deleted { existed: true }
    );
    assert_eq!(store.get("b"), None);
    assert_eq!(store.get("a"), Some(&entry(b"a1", 7, 3, 3)));
}

#[test]
fn odd_inputs_do_not_panic() {
    let mut store = Store::new();
    assert_eq!(store.apply(0, set("", b"", 0)), written("", 0, 0, 0));
    assert_eq!(
        store.apply(u64::MAX, set("", &[0, 255], u64::MAX)),
        written("", u64::MAX, 0, u64::MAX)
    );
    assert_eq!(
        store.apply(1, set_cas("", b"x", u64::MAX)),
        written("", u64::MAX, 0, 1)
    );
    // A key written at index 0 still cannot be deleted with expected 0.
    store.apply(0, set("zero", b"", 0));
    assert_eq!(
        store.apply(2, delete_cas("zero", 0)),
        conflict("zero", 0, 0)
    );
    assert_eq!(
        store.apply(3, set_cas("\u{0}", b"", 0)),
        written("\u{0}", 0, 3, 3)
    );
    assert_eq!(
        store.apply(4, delete("")),
        Response::Deleted { existed: true }
    );
    assert_eq!(store.len(), 2);
}

#[test]
fn range_prefix_lists_matching_keys_in_order() {
    let mut store = Store::new();
    for (index, key) in (1..).zip(["b", "ab", "a", "abc", "ac", "a/x"]) {
        store.apply(index, set(key, key.as_bytes(), 0));
    }
    let listed = |prefix: &str| {
        store
            .range_prefix(prefix)
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(listed("ab"), keys(&["ab", "abc"]));
    assert_eq!(listed("a"), keys(&["a", "a/x", "ab", "abc", "ac"]));
    assert_eq!(listed(""), keys(&["a", "a/x", "ab", "abc", "ac", "b"]));
    assert_eq!(listed("c"), Vec::<String>::new());
    assert!(!store.is_empty());
    assert!(Store::new().is_empty());
}
