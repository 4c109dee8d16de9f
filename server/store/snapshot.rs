//! The snapshot format: the on-disk and on-the-wire image of a [`Store`].
//!
//! `raft/state_machine.rs` writes one when openraft asks to compact the log, and reads one
//! on restart or when a leader installs it on a lagging follower; everything after it is
//! replayed from the log through [`Store::apply`]. Because indices are Raft log indices and
//! the image keeps every entry's `create_index` / `modify_index`, a restored node and a
//! node that replayed the whole log are equal.
//!
//! Format version 4, all integers little-endian (`str` = `len: u32` + UTF-8 bytes):
//!
//! ```text
//! header   "KNSLSNAP" (8 bytes)  version: u32 = 4  catalog_index: u64  log_time_ms: u64
//! entry    tag: u8 = 0x01  key_len: u32  key (UTF-8)  value_len: u32  value
//!          flags: u64  create_index: u64  modify_index: u64
//!          ... one per key, keys strictly ascending
//! service  tag: u8 = 0x02  name: str  has_id: u8 (0 | 1)  [id: str]  address: str  port: u16
//!          tag_count: u32  tag: str ...  meta_count: u32  (meta key: str, value: str) ...
//!          ttl_ms: u64  create_index: u64  modify_index: u64  expires_at_ms: u64
//!          check_count: u32  check ...
//!          ... one per service, after every KV entry, catalog keys strictly ascending,
//!          meta keys strictly ascending within a service
//! check    id: str  name: str  kind: u8 (0 ttl | 1 http | 2 tcp | 3 grpc)
//!          ttl:  ttl_ms: u64
//!          http: url: str  method: str  header_count: u32  (name: str, value: str) ...
//!                tls_skip_verify: u8
//!          tcp:  address: str
//!          grpc: address: str  service: str  use_tls: u8
//!          interval_ms: u64  timeout_ms: u64  status: u8 (0 passing | 1 warning | 2 critical)
//!          output: str  last_check_ms: u64  expires_at_ms: u64
//!          ... in the service's registration order
//! client   tag: u8 = 0x03  client_id: str  floor: u64  last_ms: u64  count: u32
//!          (seq: u64  index: u64  at_ms: u64  outcome_len: u32  outcome: JSON) ...
//!          ... one per client of the request log (`requests.rs`), after every service,
//!          client ids strictly ascending, seqs ascending within a client
//! end      tag: u8 = 0x00  record_count: u64  crc32: u32
//! ```
//!
//! This build still reads the older versions, so a node upgraded with an old snapshot on
//! disk starts: version 3 has no `log_time_ms` and no request log (it starts empty);
//! version 2 also has no `catalog_index` (it reads as the highest service modify_index) and
//! no checks; version 1 also has no service records. The CRC-32
//! covers every byte before it, magic included; nothing may follow it. Writing and reading
//! stream record by record through buffered I/O, so a snapshot is never held in one
//! buffer; lengths and counts are capped so a corrupt one cannot allocate gigabytes.

use std::io::{self, BufReader, BufWriter, Read, Write};

use super::{KvEntry, Store};
// CRC-32 (IEEE): crc32fast, the crate the Raft log's records use too.
use crc32fast::Hasher as Crc32;

mod check_record;
mod request_record;
mod service_record;

/// First bytes of every snapshot, so a wrong file is refused before anything is parsed.
const MAGIC: &[u8; 8] = b"KNSLSNAP";
/// The format version this build writes.
const VERSION: u32 = 4;
/// An older version this build still reads: no request log.
const VERSION_WITHOUT_REQUESTS: u32 = 3;
/// An older version this build still reads: services without checks, no catalog index.
const VERSION_WITHOUT_CHECKS: u32 = 2;
/// The oldest version this build still reads: no service records.
const VERSION_WITHOUT_CATALOG: u32 = 1;
/// Record tag of the end marker.
const TAG_END: u8 = 0x00;
/// Record tag of one KV entry.
const TAG_KV: u8 = 0x01;
/// Record tag of one registered service (version 2 on).
const TAG_SERVICE: u8 = 0x02;
/// Record tag of one client of the request log (version 4 on).
const TAG_CLIENT: u8 = 0x03;

/// Longest key a snapshot may hold: far above the API's key limit (1 KiB by default), so a
/// raised limit still snapshots, yet small enough that a corrupt length is caught early.
/// Configured key limits must stay at or below it.
pub const MAX_SNAPSHOT_KEY_LEN: usize = 64 * 1024;
/// Longest value a snapshot may hold: far above the API's value limit (1 MiB by default).
/// Configured value limits must stay at or below it.
pub const MAX_SNAPSHOT_VALUE_LEN: usize = 64 * 1024 * 1024;

impl Store {
    /// Writes the whole store to `w` in the snapshot format, entry by entry, and flushes.
    ///
    /// Fails with `InvalidInput` if an entry exceeds the snapshot length caps, leaving an
    /// unterminated image that [`Self::read_snapshot`] refuses: a snapshot that cannot be
    /// read back must never look complete.
    pub fn write_snapshot<W: Write>(&self, w: W) -> io::Result<()> {
        let mut out = Encoder {
            inner: BufWriter::new(w),
            crc: Crc32::new(),
        };
        out.put(MAGIC)?;
        out.put(&VERSION.to_le_bytes())?;
        out.put(&self.catalog_index.to_le_bytes())?;
        out.put(&self.requests.log_time_ms().to_le_bytes())?;
        let mut count: u64 = 0;
        for (key, entry) in &self.kv {
            let key_len = encodable_len(key.len(), MAX_SNAPSHOT_KEY_LEN, "key", count)?;
            let value_len =
                encodable_len(entry.value.len(), MAX_SNAPSHOT_VALUE_LEN, "value", count)?;
            out.put(&[TAG_KV])?;
            out.put(&key_len.to_le_bytes())?;
            out.put(key.as_bytes())?;
            out.put(&value_len.to_le_bytes())?;
            out.put(&entry.value)?;
            out.put(&entry.flags.to_le_bytes())?;
            out.put(&entry.create_index.to_le_bytes())?;
            out.put(&entry.modify_index.to_le_bytes())?;
            count += 1;
        }
        for entry in self.catalog.values() {
            out.put(&[TAG_SERVICE])?;
            service_record::write(&mut out, entry, count)?;
            count += 1;
        }
        count += request_record::write_all(&mut out, &self.requests, TAG_CLIENT, count)?;
        out.put(&[TAG_END])?;
        out.put(&count.to_le_bytes())?;
        let crc = out.crc.clone().finalize();
        out.inner.write_all(&crc.to_le_bytes())?;
        out.inner.flush()
    }

    /// Reads a store written by [`Self::write_snapshot`].
    ///
    /// Anything that is not a complete, intact snapshot of version 1 to 4 (wrong magic,
    /// unknown version, truncation, an oversized length or count, unsorted keys or services,
    /// a KV entry after a service, a checksum mismatch, trailing bytes) is an `InvalidData`
    /// error naming the problem; I/O errors of `r` pass through unchanged. A store is returned only after the checksum has been verified.
    pub fn read_snapshot<R: Read>(r: R) -> io::Result<Self> {
        let mut input = Decoder {
            inner: BufReader::new(r),
            crc: Crc32::new(),
        };
        let mut magic = [0u8; 8];
        input.take_exact(&mut magic, Place::Header)?;
        if &magic != MAGIC {
            return Err(invalid(
                "not a Konsul snapshot (bad magic bytes)".to_owned(),
            ));
        }
        let version = input.u32(Place::Header)?;
        if !(VERSION_WITHOUT_CATALOG..=VERSION).contains(&version) {
            return Err(invalid(format!(
                "unsupported snapshot format version {version} (this build reads versions \
                 {VERSION_WITHOUT_CATALOG} to {VERSION})"
            )));
        }

        let mut store = Store::new();
        if version >= VERSION_WITHOUT_REQUESTS {
            store.catalog_index = input.u64(Place::Header)?;
        }
        let log_time_ms = if version >= VERSION {
            input.u64(Place::Header)?
        } else {
            0
        };
        let mut clients = std::collections::BTreeMap::new();
        let mut count: u64 = 0;
        loop {
            match input.u8(Place::Entry(count, "record tag"))? {
                TAG_KV if store.catalog.is_empty() && clients.is_empty() => {
                    read_kv(&mut input, &mut store, count)?
                }
                TAG_KV => {
                    return Err(invalid(format!(
                        "KV entry {count} of the snapshot follows a service or client record"
                    )));
                }
                TAG_CLIENT if version >= VERSION => {
                    request_record::read(&mut input, &mut clients, count)?
                }
                TAG_SERVICE if !clients.is_empty() => {
                    return Err(invalid(format!(
                        "service entry {count} of the snapshot follows a client record"
                    )));
                }
                TAG_SERVICE if version >= VERSION_WITHOUT_CHECKS => {
                    let entry = service_record::read(
                        &mut input,
                        count,
                        version >= VERSION_WITHOUT_REQUESTS,
                    )?;
                    let key = entry.service.key();
                    if let Some((previous, _)) = store.catalog.last_key_value()
                        && key.as_str() <= previous.as_str()
                    {
                        return Err(invalid(format!(
                            "the service of snapshot entry {count} does not sort after the \
                             previous service"
                        )));
                    }
                    for def in &entry.service.checks {
                        if let Some(owner) = store.check_owners.insert(def.id.clone(), key.clone())
                        {
                            return Err(invalid(format!(
                                "check id {:?} of snapshot entry {count} also belongs to \
                                 service {owner:?}",
                                def.id
                            )));
                        }
                    }
                    super::catalog::index_tags(&mut store.tag_index, &key, &entry.service.tags);
                    store.catalog.insert(key, entry);
                }
                TAG_END => break,
                tag => {
                    return Err(invalid(format!(
                        "unknown record tag 0x{tag:02x} at entry {count} of the snapshot"
                    )));
                }
            }
            count += 1;
        }

        let stored_count = input.u64(Place::EndMarker)?;
        let computed = input.crc.clone().finalize();
        let mut stored = [0u8; 4];
        input.read_raw(&mut stored, Place::Checksum)?;
        let stored = u32::from_le_bytes(stored);
        if stored != computed {
            return Err(invalid(format!(
                "snapshot checksum mismatch (stored {stored:08x}, computed {computed:08x})"
            )));
        }
        if stored_count != count {
            return Err(invalid(format!(
                "snapshot end marker counts {stored_count} entries but {count} were read"
            )));
        }
        let mut probe = [0u8; 1];
        if read_some(&mut input.inner, &mut probe)? != 0 {
            return Err(invalid(
                "trailing bytes after the snapshot's checksum".to_owned(),
            ));
        }
        store.requests = super::RequestLog::restore(log_time_ms, clients);
        if version < VERSION_WITHOUT_REQUESTS {
            store.catalog_index = store
                .catalog
                .values()
                .map(|e| e.modify_index)
                .max()
                .unwrap_or(0);
        }
        Ok(store)
    }
}

/// Reads the rest of one KV record (after its tag) into `store`, refusing a key that does
/// not sort after the previous one.
fn read_kv<R: Read>(input: &mut Decoder<R>, store: &mut Store, count: u64) -> io::Result<()> {
    let key = input.bytes(Blob::Key, count)?;
    let key = String::from_utf8(key).map_err(|_| {
        invalid(format!(
            "the key of snapshot entry {count} is not valid UTF-8"
        ))
    })?;
    if let Some((previous, _)) = store.kv.last_key_value()
        && key.as_str() <= previous.as_str()
    {
        return Err(invalid(format!(
            "the key of snapshot entry {count} does not sort after the previous key"
        )));
    }
    let value = input.bytes(Blob::Value, count)?;
    let flags = input.u64(Place::Entry(count, "flags"))?;
    let create_index = input.u64(Place::Entry(count, "create_index"))?;
    let modify_index = input.u64(Place::Entry(count, "modify_index"))?;
    store.kv.insert(
        key,
        KvEntry {
            value,
            flags,
            create_index,
            modify_index,
        },
    );
    Ok(())
}

/// Where in the snapshot a read happened, for error messages; formatted only on error so
/// the hot loop allocates nothing for it.
#[derive(Clone, Copy)]
enum Place {
    /// Magic bytes and version.
    Header,
    /// A field of the entry with this position (keys may be long, so not named by key).
    Entry(u64, &'static str),
    /// The entry count after the end tag.
    EndMarker,
    /// The trailing CRC-32.
    Checksum,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Header => f.write_str("the header"),
            Place::Entry(n, field) => write!(f, "the {field} of entry {n}"),
            Place::EndMarker => f.write_str("the end marker"),
            Place::Checksum => f.write_str("the checksum"),
        }
    }
}

/// A buffered writer that checksums everything it writes.
struct Encoder<W: Write> {
    inner: BufWriter<W>,
    crc: Crc32,
}

impl<W: Write> Encoder<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// A buffered reader that checksums everything it reads and reports a short read as
/// truncation rather than as a bare end of file.
struct Decoder<R: Read> {
    inner: BufReader<R>,
    crc: Crc32,
}

impl<R: Read> Decoder<R> {
    /// Fills `buf` without checksumming it (only the checksum itself is read this way).
    fn read_raw(&mut self, buf: &mut [u8], what: Place) -> io::Result<()> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => invalid(format!("snapshot truncated in {what}")),
            _ => e,
        })
    }

    fn take_exact(&mut self, buf: &mut [u8], what: Place) -> io::Result<()> {
        self.read_raw(buf, what)?;
        self.crc.update(buf);
        Ok(())
    }

    fn u8(&mut self, what: Place) -> io::Result<u8> {
        let mut buf = [0u8; 1];
        self.take_exact(&mut buf, what)?;
        Ok(buf[0])
    }

    fn u32(&mut self, what: Place) -> io::Result<u32> {
        let mut buf = [0u8; 4];
        self.take_exact(&mut buf, what)?;
        Ok(u32::from_le_bytes(buf))
    }

    fn u64(&mut self, what: Place) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        self.take_exact(&mut buf, what)?;
        Ok(u64::from_le_bytes(buf))
    }

    /// A u32-length-prefixed key or value, capped at its maximum. Memory grows with the
    /// bytes actually present, never with the declared length alone.
    fn bytes(&mut self, blob: Blob, entry: u64) -> io::Result<Vec<u8>> {
        let len = self.u32(Place::Entry(entry, blob.length_name()))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let (field, max) = (blob.name(), blob.max());
        if len > max {
            return Err(invalid(format!(
                "the {field} length {len} of snapshot entry {entry} exceeds the maximum {max}"
            )));
        }
        let mut buf = Vec::new();
        (&mut self.inner).take(len as u64).read_to_end(&mut buf)?;
        if buf.len() != len {
            return Err(invalid(format!(
                "snapshot truncated in {}",
                Place::Entry(entry, field)
            )));
        }
        self.crc.update(&buf);
        Ok(buf)
    }
}

/// The length-prefixed fields of a record, each with its own cap.
#[derive(Clone, Copy)]
enum Blob {
    Key,
    Value,
    /// A string of a service record: its field name and the name of its length. Capped at
    /// [`MAX_SNAPSHOT_KEY_LEN`], far above any service field the API accepts.
    Text(&'static str, &'static str),
}

impl Blob {
    fn name(self) -> &'static str {
        match self {
            Blob::Key => "key",
            Blob::Value => "value",
            Blob::Text(name, _) => name,
        }
    }

    fn length_name(self) -> &'static str {
        match self {
            Blob::Key => "key length",
            Blob::Value => "value length",
            Blob::Text(_, length) => length,
        }
    }

    fn max(self) -> usize {
        match self {
            Blob::Key | Blob::Text(..) => MAX_SNAPSHOT_KEY_LEN,
            Blob::Value => MAX_SNAPSHOT_VALUE_LEN,
        }
    }
}

/// One read that retries on `Interrupted`, for the end-of-input probe.
fn read_some<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A length as written to the snapshot, refusing one the reader would reject.
fn encodable_len(len: usize, max: usize, field: &str, at: u64) -> io::Result<u32> {
    match u32::try_from(len) {
        Ok(encoded) if len <= max => Ok(encoded),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the {field} of entry {at} is {len} bytes, over the snapshot maximum {max}"),
        )),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests;
