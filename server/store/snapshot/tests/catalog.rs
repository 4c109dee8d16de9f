//! Service records in the snapshot format: exact layout, round trips next to KV entries,
//! version-1 images still read, and every kind of damage to a service record refused.

use std::collections::BTreeMap;

use super::super::super::{CheckDefinition, CheckKind, Service, ServiceEntry};
use super::*;

fn service(name: &str, id: Option<&str>) -> Service {
    Service {
        name: name.to_owned(),
        id: id.map(str::to_owned),
        address: "10.1.2.3".to_owned(),
        port: 443,
        tags: vec!["b".to_owned(), "a".to_owned()],
        meta: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        ttl_ms: 30_000,
        checks: vec![],
    }
}

fn register(service: Service, now_ms: u64) -> Command {
    Command::CatalogRegister {
        service,
        expected_index: None,
        now_ms,
    }
}

/// KV keys next to services of every awkward shape: with and without id, no tags or meta,
/// Unicode, extreme numbers, a re-registered service.
fn with_services() -> Store {
    let mut store = sample();
    store.apply(10, register(service("web", None), 1_000));
    store.apply(11, register(service("web", Some("i-1")), 1_000));
    let bare = Service {
        name: "dienst-ü".to_owned(),
        id: Some(String::new()),
        address: String::new(),
        port: u16::MAX,
        tags: vec![],
        meta: BTreeMap::new(),
        ttl_ms: u64::MAX,
        checks: vec![],
    };
    store.apply(12, register(bare, u64::MAX));
    store.apply(u64::MAX, register(service("web", None), 5));
    store
}

fn push_str(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// A hand-built service record for `name` (no id, no tags, no meta) with the given indices.
fn push_service(bytes: &mut Vec<u8>, name: &str, create: u64, modify: u64) {
    bytes.push(0x02);
    push_str(bytes, name);
    bytes.push(0);
    push_str(bytes, "addr");
    bytes.extend_from_slice(&80u16.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    for n in [1_000u64, create, modify, 9_000] {
        bytes.extend_from_slice(&n.to_le_bytes());
    }
    bytes.extend_from_slice(&0u32.to_le_bytes());
}

#[test]
fn the_service_layout_is_exactly_as_documented() {
    let mut store = Store::new();
    store.apply(1, set("k", b"v", 0));
    store.apply(2, register(service("web", Some("i")), 100));

    let mut expected = header_with_index(2);
    push_entry(&mut expected, b"k", b"v", 0, 1, 1);
    expected.push(0x02);
    push_str(&mut expected, "web");
    expected.push(1);
    push_str(&mut expected, "i");
    push_str(&mut expected, "10.1.2.3");
    expected.extend_from_slice(&443u16.to_le_bytes());
    expected.extend_from_slice(&2u32.to_le_bytes());
    push_str(&mut expected, "b");
    push_str(&mut expected, "a");
    expected.extend_from_slice(&1u32.to_le_bytes());
    push_str(&mut expected, "k");
    push_str(&mut expected, "v");
    for n in [30_000u64, 2, 2, 30_100] {
        expected.extend_from_slice(&n.to_le_bytes());
    }
    expected.extend_from_slice(&0u32.to_le_bytes());
    push_end(&mut expected, 2);
    assert_eq!(encode(&store), sealed(expected));
}

#[test]
fn services_round_trip_next_to_kv_entries() {
    let store = with_services();
    let restored = decode(&encode(&store)).unwrap();
    assert_eq!(restored, store);
    assert_eq!(restored.len(), 5);
    assert_eq!(restored.service_count(), 3);
    assert_eq!(
        restored.service("web"),
        Some(&ServiceEntry {
            service: service("web", None),
            create_index: 10,
            modify_index: u64::MAX,
            expires_at_ms: 30_005,
            checks: Default::default(),
        })
    );
    assert_eq!(
        restored.service("dienst-ü/").unwrap().expires_at_ms,
        u64::MAX
    );
}

#[test]
fn a_version_one_image_reads_as_a_store_without_services() {
    let mut image = header_of(1);
    push_entry(&mut image, b"a", b"x", 5, 1, 2);
    push_end(&mut image, 1);
    let store = decode(&sealed(image)).unwrap();
    assert_eq!(store.get("a").unwrap().modify_index, 2);
    assert_eq!(store.service_count(), 0);

    let mut image = header_of(1);
    push_end(&mut image, 0);
    assert_eq!(decode(&sealed(image)).unwrap(), Store::new());
}

#[test]
fn a_version_two_image_reads_as_services_without_checks() {
    // Version 2: no catalog index in the header, no check count after a service.
    let mut image = header_of(2);
    push_entry(&mut image, b"a", b"x", 0, 1, 1);
    let mut first = Vec::new();
    push_service(&mut first, "db", 2, 7);
    first.truncate(first.len() - 4);
    image.extend_from_slice(&first);
    let mut second = Vec::new();
    push_service(&mut second, "web", 3, 4);
    second.truncate(second.len() - 4);
    image.extend_from_slice(&second);
    push_end(&mut image, 3);
    let store = decode(&sealed(image)).unwrap();
    assert_eq!(store.service_count(), 2);
    assert!(store.service("db").unwrap().service.checks.is_empty());
    assert_eq!(store.service("web").unwrap().modify_index, 4);
    // Deletions before a v2 snapshot are not known: the highest modify_index stands in.
    assert_eq!(store.catalog_index(), 7);
}

#[test]
fn a_check_id_on_two_services_is_refused() {
    let mut store = Store::new();
    let mut web = service("web", None);
    web.checks = vec![CheckDefinition {
        id: "c".to_owned(),
        name: "n".to_owned(),
        kind: CheckKind::Ttl { ttl_ms: 0 },
        interval_ms: 1,
        timeout_ms: 1,
    }];
    store.apply(1, register(web.clone(), 0));
    let mut image = encode(&store);
    // Hand-build a second record: the same service under another name, so the id repeats.
    let mut db = web;
    db.name = "xdb".to_owned();
    let mut other = Store::new();
    other.apply(2, register(db, 0));
    let other_image = encode(&other);
    // Splice: everything of `image` up to its end marker, then `other`'s service record.
    let header_len = 12 + 8 + 8;
    let end_len = 1 + 8 + 4;
    let record = &other_image[header_len..other_image.len() - end_len];
    image.truncate(image.len() - end_len);
    image.extend_from_slice(record);
    let mut body = image;
    push_end(&mut body, 2);
    let message = refused(&sealed(body));
    assert!(message.contains("check id \"c\""), "{message}");
}

#[test]
fn every_truncation_and_changed_byte_of_services_is_refused() {
    let image = encode(&with_services());
    for len in 0..image.len() {
        let message = refused(&image[..len]);
        assert!(
            message.contains("truncated") || message.contains("checksum"),
            "cut at {len}: {message}"
        );
    }
    for position in 0..image.len() {
        for mask in [0x01, 0x80, 0xFF] {
            let mut damaged = image.clone();
            damaged[position] ^= mask;
            refused(&damaged);
        }
    }
}

#[test]
fn structurally_wrong_but_checksummed_service_records_are_refused() {
    // Services out of order, and a duplicated service.
    for (first, second) in [("b", "a"), ("a", "a")] {
        let mut image = header();
        push_service(&mut image, first, 1, 1);
        push_service(&mut image, second, 2, 2);
        push_end(&mut image, 2);
        let message = refused(&sealed(image));
        assert!(message.contains("does not sort after"), "{message}");
    }

    // A KV entry after a service record.
    let mut image = header();
    push_service(&mut image, "s", 1, 1);
    push_entry(&mut image, b"k", b"", 0, 2, 2);
    push_end(&mut image, 2);
    let message = refused(&sealed(image));
    assert!(message.contains("follows a service"), "{message}");

    // An id flag that is neither 0 nor 1.
    let mut image = header();
    image.push(0x02);
    push_str(&mut image, "s");
    image.push(2);
    let message = refused(&sealed(image));
    assert!(message.contains("service id flag"), "{message}");

    // A name that is not UTF-8.
    let mut image = header();
    image.push(0x02);
    image.extend_from_slice(&2u32.to_le_bytes());
    image.extend_from_slice(&[0xFF, 0xFE]);
    let message = refused(&sealed(image));
    assert!(message.contains("service name"), "{message}");
    assert!(message.contains("not valid UTF-8"), "{message}");

    // A tag count over the cap, before anything is allocated for it.
    let mut image = header();
    image.push(0x02);
    push_str(&mut image, "s");
    image.push(0);
    push_str(&mut image, "a");
    image.extend_from_slice(&1u16.to_le_bytes());
    image.extend_from_slice(&u32::MAX.to_le_bytes());
    let message = refused(&image);
    assert!(
        message.contains("tag count 4294967295 of snapshot entry 0 exceeds"),
        "{message}"
    );

    // Meta keys out of order.
    let mut image = header();
    image.push(0x02);
    push_str(&mut image, "s");
    image.push(0);
    push_str(&mut image, "a");
    image.extend_from_slice(&1u16.to_le_bytes());
    image.extend_from_slice(&0u32.to_le_bytes());
    image.extend_from_slice(&2u32.to_le_bytes());
    for key in ["z", "a"] {
        push_str(&mut image, key);
        push_str(&mut image, "v");
    }
    let message = refused(&sealed(image));
    assert!(message.contains("meta keys"), "{message}");

    // The hand-built form is otherwise accepted.
    let mut image = header();
    push_entry(&mut image, b"k", b"", 0, 1, 1);
    push_service(&mut image, "a", 2, 3);
    push_service(&mut image, "b", 4, 4);
    push_end(&mut image, 3);
    let store = decode(&sealed(image)).unwrap();
    assert_eq!(store.service_count(), 2);
    let a = store.service("a").unwrap();
    assert_eq!(
        (
            a.create_index,
            a.modify_index,
            a.expires_at_ms,
            a.service.ttl_ms
        ),
        (2, 3, 9_000, 1_000)
    );
}

#[test]
fn the_writer_refuses_an_oversized_service_field() {
    let mut store = Store::new();
    let mut huge = service("web", None);
    huge.address = "a".repeat(MAX_SNAPSHOT_KEY_LEN + 1);
    store.apply(1, register(huge, 0));
    let error = store.write_snapshot(io::sink()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("service address"), "{error}");
}
