//! Tests of the snapshot format: exact layout, round trips (empty, binary, 10,000 keys),
//! streaming behaviour, and that every kind of damage is refused with `InvalidData`.
//! Service records have their own file, `tests/catalog.rs`.

mod catalog;

use std::io::{self, Read, Write};

use super::super::{Command, KvEntry, Store};
use super::{MAX_SNAPSHOT_KEY_LEN, MAX_SNAPSHOT_VALUE_LEN};
use crc32fast::Hasher as Crc32;

fn set(key: &str, value: &[u8], flags: u64) -> Command {
    Command::KvSet {
        key: key.to_owned(),
        value: value.to_vec(),
        flags,
    }
}

fn encode(store: &Store) -> Vec<u8> {
    let mut image = Vec::new();
    store
        .write_snapshot(&mut image)
        .expect("writing to a Vec cannot fail");
    image
}

fn decode(image: &[u8]) -> io::Result<Store> {
    Store::read_snapshot(image)
}

/// Decoding must fail with InvalidData; returns the message for further checks.
fn refused(image: &[u8]) -> String {
    match decode(image) {
        Ok(store) => panic!(
            "accepted a bad snapshot of {} bytes as {} keys",
            image.len(),
            store.len()
        ),
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "wrong kind for: {e}");
            e.to_string()
        }
    }
}

/// A few keys with every awkward shape: empty key and value, all byte values, Unicode,
/// large flags and indices, an updated key.
fn sample() -> Store {
    let mut store = Store::new();
    store.apply(1, set("", b"", 0));
    store.apply(2, set("binary", &(0..=255u8).collect::<Vec<_>>(), 9));
    store.apply(3, set("clé/ünïcode/日本", "ß".as_bytes(), u64::MAX));
    store.apply(4, set("nul\0inside", &[0, 0, 0], 1));
    store.apply(5, set("updated", b"old", 3));
    store.apply(u64::MAX - 1, set("updated", b"new", 0));
    store
}

/// Appends the CRC-32 of `body` to it: builds hand-made snapshots with a valid checksum.
fn sealed(mut body: Vec<u8>) -> Vec<u8> {
    let mut crc = Crc32::new();
    crc.update(&body);
    body.extend_from_slice(&crc.finalize().to_le_bytes());
    body
}

/// The header of the version this build writes (4), with catalog index and log time 0.
fn header() -> Vec<u8> {
    header_with_index(0)
}

/// A version-4 header carrying `catalog_index` and log time 0.
fn header_with_index(catalog_index: u64) -> Vec<u8> {
    let mut bytes = header_of(4);
    bytes.extend_from_slice(&catalog_index.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes
}

/// A version-3 header (no request log) carrying `catalog_index`.
fn header_v3(catalog_index: u64) -> Vec<u8> {
    let mut bytes = header_of(3);
    bytes.extend_from_slice(&catalog_index.to_le_bytes());
    bytes
}

fn header_of(version: u32) -> Vec<u8> {
    let mut bytes = b"KNSLSNAP".to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes
}

fn push_entry(bytes: &mut Vec<u8>, key: &[u8], value: &[u8], flags: u64, create: u64, modify: u64) {
    bytes.push(0x01);
    bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
    bytes.extend_from_slice(value);
    for n in [flags, create, modify] {
        bytes.extend_from_slice(&n.to_le_bytes());
    }
}

fn push_end(bytes: &mut Vec<u8>, count: u64) {
    bytes.push(0x00);
    bytes.extend_from_slice(&count.to_le_bytes());
}

#[test]
fn the_kv_layout_is_exactly_as_documented() {
    let mut store = Store::new();
    store.apply(3, set("k", b"v\0", 7));
    store.apply(4, set("k", b"v\0", 0));

    let mut expected = header();
    push_entry(&mut expected, b"k", b"v\0", 7, 3, 4);
    push_end(&mut expected, 1);
    let expected = sealed(expected);
    assert_eq!(
        expected.len(),
        12 + 8 + 8 + 1 + 4 + 1 + 4 + 2 + 24 + 1 + 8 + 4
    );
    assert_eq!(encode(&store), expected);
}

#[test]
fn an_empty_store_round_trips() {
    let image = encode(&Store::new());
    let mut expected = header();
    push_end(&mut expected, 0);
    assert_eq!(image, sealed(expected));
    assert_eq!(image.len(), 41);
    assert_eq!(decode(&image).unwrap(), Store::new());
}

#[test]
fn binary_values_unicode_keys_and_extreme_indices_round_trip() {
    let store = sample();
    let restored = decode(&encode(&store)).unwrap();
    assert_eq!(restored, store);
    assert_eq!(restored.len(), 5);
    assert_eq!(
        restored.get("updated"),
        Some(&KvEntry {
            value: b"new".to_vec(),
            flags: 3,
            create_index: 5,
            modify_index: u64::MAX - 1
        })
    );
    assert_eq!(
        restored.get("binary").unwrap().value,
        (0..=255u8).collect::<Vec<_>>()
    );
}

#[test]
fn ten_thousand_keys_round_trip() {
    let mut store = Store::new();
    for i in 0..10_000u64 {
        store.apply(i + 1, set(&format!("key/{i:05}"), &i.to_le_bytes(), i % 4));
    }
    let image = encode(&store);
    let restored = decode(&image).unwrap();
    assert_eq!(restored.len(), 10_000);
    assert_eq!(restored, store);
    assert_eq!(
        restored.get("key/09999"),
        Some(&KvEntry {
            value: 9999u64.to_le_bytes().to_vec(),
            flags: 3,
            create_index: 10_000,
            modify_index: 10_000
        })
    );
    // Two stores with the same content encode to the same bytes.
    assert_eq!(encode(&restored), image);
}

/// Records every write it is handed, to show the encoder streams in bounded pieces.
#[derive(Default)]
struct Recorder {
    bytes: Vec<u8>,
    writes: usize,
    largest: usize,
    flushes: usize,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.largest = self.largest.max(buf.len());
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

#[test]
fn writing_streams_in_bounded_buffered_pieces() {
    let mut store = Store::new();
    for i in 0..10_000u64 {
        store.apply(i + 1, set(&format!("key/{i:05}"), b"some value", 0));
    }
    let mut recorder = Recorder::default();
    store.write_snapshot(&mut recorder).unwrap();
    assert!(
        recorder.bytes.len() > 400_000,
        "image is {} bytes",
        recorder.bytes.len()
    );
    assert!(
        recorder.largest <= 8 * 1024,
        "one write of {} bytes",
        recorder.largest
    );
    assert!(
        recorder.writes >= recorder.bytes.len() / (8 * 1024),
        "{} writes",
        recorder.writes
    );
    assert!(recorder.flushes >= 1, "the snapshot was not flushed");
    assert_eq!(decode(&recorder.bytes).unwrap(), store);
}

/// Hands out one byte per read and sometimes reports `Interrupted`, like a slow pipe.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(7) {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let Some((&first, rest)) = self.data.split_first() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = first;
        self.data = rest;
        Ok(1)
    }
}

#[test]
fn reading_works_through_short_and_interrupted_reads() {
    let store = sample();
    let image = encode(&store);
    let restored = Store::read_snapshot(Trickle {
        data: &image,
        calls: 0,
    })
    .unwrap();
    assert_eq!(restored, store);
}

#[test]
fn every_truncation_is_refused() {
    let image = encode(&sample());
    for len in 0..image.len() {
        let message = refused(&image[..len]);
        assert!(
            message.contains("truncated") || message.contains("checksum"),
            "cut at {len}: {message}"
        );
    }

    let mut big = Store::new();
    for i in 0..500u64 {
        big.apply(i + 1, set(&format!("k{i}"), &[i as u8; 37], 0));
    }
    let image = encode(&big);
    for len in (0..image.len()).step_by(13) {
        refused(&image[..len]);
    }
}

#[test]
fn every_changed_byte_is_refused() {
    let image = encode(&sample());
    for position in 0..image.len() {
        for mask in [0x01, 0x80, 0xFF] {
            let mut damaged = image.clone();
            damaged[position] ^= mask;
            refused(&damaged);
        }
    }
}

#[test]
fn a_changed_value_byte_is_a_checksum_mismatch() {
    let store = sample();
    let mut image = encode(&store);
    // The 256-byte value of "binary" holds 0..=255; find its run and flip one byte of it.
    let run: Vec<u8> = (0..=255u8).collect();
    let start = image
        .windows(256)
        .position(|w| w == run.as_slice())
        .unwrap();
    image[start + 100] ^= 0x10;
    let message = refused(&image);
    assert!(message.contains("checksum mismatch"), "{message}");
}

#[test]
fn wrong_magic_is_refused() {
    let mut image = encode(&sample());
    image[0] = b'X';
    assert!(refused(&image).contains("bad magic"));
    assert!(refused(b"PK\x03\x04 definitely a zip file").contains("bad magic"));
}

#[test]
fn an_unknown_version_is_refused() {
    for version in [0, 5, u32::MAX] {
        let mut image = encode(&Store::new());
        image[8..12].copy_from_slice(&version.to_le_bytes());
        let message = refused(&image);
        assert!(
            message.contains(&format!("unsupported snapshot format version {version}")),
            "{message}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut image = encode(&sample());
    image.push(0);
    let message = refused(&image);
    assert!(message.contains("trailing bytes"), "{message}");
}

#[test]
fn oversized_lengths_are_refused_before_allocating() {
    // A key length of 4 GiB with nothing behind it must fail on the cap, not try to read.
    let mut image = header();
    image.push(0x01);
    image.extend_from_slice(&u32::MAX.to_le_bytes());
    let message = refused(&image);
    assert!(
        message.contains("key length 4294967295 of snapshot entry 0 exceeds the maximum"),
        "{message}"
    );

    let mut image = header();
    image.push(0x01);
    image.extend_from_slice(&((MAX_SNAPSHOT_KEY_LEN + 1) as u32).to_le_bytes());
    assert!(refused(&image).contains("exceeds the maximum"));

    let mut image = header();
    image.push(0x01);
    image.extend_from_slice(&1u32.to_le_bytes());
    image.push(b'k');
    image.extend_from_slice(&((MAX_SNAPSHOT_VALUE_LEN + 1) as u32).to_le_bytes());
    let message = refused(&image);
    assert!(message.contains("value length"), "{message}");
}

#[test]
fn a_length_longer_than_the_data_is_truncation() {
    let mut image = header();
    image.push(0x01);
    image.extend_from_slice(&1000u32.to_le_bytes());
    image.extend_from_slice(b"short");
    let message = refused(&image);
    assert!(
        message.contains("snapshot truncated in the key of entry 0"),
        "{message}"
    );

    let mut image = header();
    image.extend_from_slice(&[0x01, 0x05, 0x00]);
    let message = refused(&image);
    assert!(
        message.contains("snapshot truncated in the key length of entry 0"),
        "{message}"
    );
}

#[test]
fn structurally_wrong_but_checksummed_images_are_refused() {
    // Keys out of order.
    let mut image = header();
    push_entry(&mut image, b"b", b"", 0, 1, 1);
    push_entry(&mut image, b"a", b"", 0, 2, 2);
    push_end(&mut image, 2);
    assert!(refused(&sealed(image)).contains("does not sort after"));

    // A duplicated key.
    let mut image = header();
    push_entry(&mut image, b"a", b"", 0, 1, 1);
    push_entry(&mut image, b"a", b"", 0, 2, 2);
    push_end(&mut image, 2);
    assert!(refused(&sealed(image)).contains("does not sort after"));

    // A key that is not UTF-8.
    let mut image = header();
    push_entry(&mut image, &[0xFF, 0xFE], b"", 0, 1, 1);
    push_end(&mut image, 1);
    assert!(refused(&sealed(image)).contains("not valid UTF-8"));

    // A record tag this version does not know, a client record in a version-3 image, and a
    // service record in a version-1 image.
    let mut image = header();
    image.push(0x04);
    assert!(refused(&sealed(image)).contains("unknown record tag 0x04"));
    let mut image = header_v3(0);
    image.push(0x03);
    assert!(refused(&sealed(image)).contains("unknown record tag 0x03"));
    let mut image = header_of(1);
    image.push(0x02);
    assert!(refused(&sealed(image)).contains("unknown record tag 0x02"));

    // An end marker whose count disagrees with the entries.
    let mut image = header();
    push_entry(&mut image, b"a", b"", 0, 1, 1);
    push_end(&mut image, 2);
    let message = refused(&sealed(image));
    assert!(
        message.contains("counts 2 entries but 1 were read"),
        "{message}"
    );

    // The hand-built form is otherwise accepted: the helpers build valid images.
    let mut image = header();
    push_entry(&mut image, b"a", b"x", 5, 1, 2);
    push_end(&mut image, 1);
    let store = decode(&sealed(image)).unwrap();
    assert_eq!(
        store.get("a"),
        Some(&KvEntry {
            value: b"x".to_vec(),
            flags: 5,
            create_index: 1,
            modify_index: 2
        })
    );
}

#[test]
fn io_errors_pass_through_unchanged() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "disk says no",
            ))
        }
    }
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "disk says no",
            ))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    assert_eq!(
        Store::read_snapshot(Broken).unwrap_err().kind(),
        io::ErrorKind::PermissionDenied
    );
    assert_eq!(
        sample().write_snapshot(Broken).unwrap_err().kind(),
        io::ErrorKind::PermissionDenied
    );
}

#[test]
fn the_writer_refuses_what_the_reader_would_refuse() {
    let mut store = Store::new();
    store.apply(1, set(&"k".repeat(MAX_SNAPSHOT_KEY_LEN + 1), b"", 0));
    let error = store.write_snapshot(io::sink()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("over the snapshot maximum"),
        "{error}"
    );

    let mut store = Store::new();
    store.apply(1, set(&"k".repeat(MAX_SNAPSHOT_KEY_LEN), b"", 0));
    assert_eq!(decode(&encode(&store)).unwrap(), store);
}
