//! The snapshot file format: how one snapshot is laid out on disk and on the wire.
//!
//! Part of the state machine's on-disk half (raft/mod.rs has the data flow; `snapshot_dir.rs`
//! decides where files live and when they are replaced). Synchronous `std` I/O only: the
//! state machine calls it through `deps.blocking.run`.
//!
//! # Version 1
//!
//! ```text
//!  offset  size      field
//!  0       8         magic  b"KNSLRSNP" (the store stream inside has its own, "KNSLSNAP")
//!  8       4         format version (u32 LE) = 1
//!  12      4         meta_len (u32 LE)
//!  16      8         body_len (u64 LE)
//!  24      4         CRC-32C (u32 LE) of meta + body
//!  28      meta_len  openraft SnapshotMeta as JSON (last_log_id, last_membership, snapshot_id)
//!  ..      body_len  body: the stream written by store::Store::write_snapshot
//! ```
//!
//! The whole file is the snapshot data that travels between nodes: a leader streams exactly
//! this file and a follower checks it (length, checksum, header meta against the meta openraft
//! announced) before it becomes the follower's current snapshot. Length and checksum sit in
//! front so a damaged file is rejected before the store decoder reads a single corrupt
//! length prefix.

use crate::raft::TypeConfig;
use openraft::type_config::alias::SnapshotMetaOf;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::store::Store;

/// The snapshot metadata of Konsul's type configuration.
pub(super) type Meta = SnapshotMetaOf<TypeConfig>;

const MAGIC: [u8; 8] = *b"KNSLRSNP";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 28;
/// A membership of a few nodes is well under a KiB; anything larger is a damaged header.
const MAX_META_LEN: u32 = 16 << 20;

/// A snapshot file read back from disk.
pub(super) struct Loaded {
    /// The header metadata.
    pub(super) meta: Meta,
    /// The decoded store.
    pub(super) store: Store,
}

/// Writes the whole snapshot into `file` (which must be empty), header last.
pub(super) fn write_contents(file: &mut File, meta: &Meta, store: &Store) -> io::Result<()> {
    let meta_json = serde_json::to_vec(meta).map_err(io::Error::other)?;
    let meta_len = u32::try_from(meta_json.len())
        .ok()
        .filter(|len| *len <= MAX_META_LEN)
        .ok_or_else(|| {
            invalid(format!(
                "snapshot meta too large: {} bytes",
                meta_json.len()
            ))
        })?;

    let mut out = BufWriter::new(&mut *file);
    // Placeholder: length and checksum are known only after the body is written.
    out.write_all(&[0; HEADER_LEN as usize])?;
    out.write_all(&meta_json)?;
    let mut crc = Crc32c::new();
    crc.update(&meta_json);
    let mut body = Tally {
        inner: &mut out,
        crc,
        len: 0,
    };
    store.write_snapshot(&mut body)?;
    let (crc, body_len) = (body.crc.finish(), body.len);
    out.flush()?;
    drop(out);

    file.rewind()?;
    file.write_all(&encode_header(meta_len, body_len, crc))
}

fn encode_header(meta_len: u32, body_len: u64, crc: u32) -> [u8; HEADER_LEN as usize] {
    let mut h = [0; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&meta_len.to_le_bytes());
    h[16..24].copy_from_slice(&body_len.to_le_bytes());
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The fixed part of the header, checked against the file's real length.
struct Header {
    meta_len: u32,
    body_len: u64,
    crc: u32,
}

fn read_header(file: &mut File) -> io::Result<Header> {
    let file_len = file.metadata()?.len();
    file.rewind()?;
    let mut h = [0; HEADER_LEN as usize];
    file.read_exact(&mut h).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => invalid(format!("truncated: {file_len} bytes")),
        _ => e,
    })?;
    if h[0..8] != MAGIC {
        return Err(invalid("not a Konsul Raft snapshot file (bad magic)"));
    }
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let version = word(8);
    if version != VERSION {
        return Err(invalid(format!(
            "unsupported snapshot format version {version}"
        )));
    }
    let meta_len = word(12);
    let mut body_len = [0; 8];
    body_len.copy_from_slice(&h[16..24]);
    let body_len = u64::from_le_bytes(body_len);
    if meta_len > MAX_META_LEN {
        return Err(invalid(format!(
            "snapshot meta length {meta_len} is implausible"
        )));
    }
    let expected = HEADER_LEN
        .checked_add(u64::from(meta_len))
        .and_then(|n| n.checked_add(body_len));
    if expected != Some(file_len) {
        return Err(invalid(format!(
            "length mismatch: header says {HEADER_LEN}+{meta_len}+{body_len} bytes, file has {file_len}"
        )));
    }
    Ok(Header {
        meta_len,
        body_len,
        crc: word(24),
    })
}

fn read_meta_bytes(file: &mut File, header: &Header) -> io::Result<Vec<u8>> {
    let mut meta = vec![0; header.meta_len as usize];
    file.read_exact(&mut meta)?;
    Ok(meta)
}

fn decode_meta(bytes: &[u8]) -> io::Result<Meta> {
    serde_json::from_slice(bytes).map_err(|e| invalid(format!("snapshot meta: {e}")))
}

/// Reads only the header and meta: enough to announce the snapshot to openraft. The body is
/// verified when the file is loaded, on this node at open and on every follower at install.
pub(super) fn read_meta(file: &mut File) -> io::Result<Meta> {
    let header = read_header(file)?;
    decode_meta(&read_meta_bytes(file, &header)?)
}

/// Fully verifies a snapshot file (length, checksum, meta, store decoding) and decodes it.
/// The checksum is checked in a first pass, so the store decoder only ever sees intact bytes.
pub(super) fn load(file: &mut File) -> io::Result<Loaded> {
    let header = read_header(file)?;
    let meta_bytes = read_meta_bytes(file, &header)?;
    let mut crc = Crc32c::new();
    crc.update(&meta_bytes);
    let mut sink = Tally {
        inner: io::sink(),
        crc,
        len: 0,
    };
    io::copy(&mut Read::take(&mut *file, header.body_len), &mut sink)?;
    if sink.crc.finish() != header.crc {
        return Err(invalid("checksum mismatch"));
    }
    let meta = decode_meta(&meta_bytes)?;

    file.seek(SeekFrom::Start(HEADER_LEN + u64::from(header.meta_len)))?;
    let mut body = BufReader::new(Read::take(&mut *file, header.body_len));
    let store = Store::read_snapshot(&mut body)?;
    if !body.fill_buf()?.is_empty() {
        return Err(invalid("trailing bytes after the store data"));
    }
    Ok(Loaded { meta, store })
}

pub(super) fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// A writer that checksums and counts what passes through it.
struct Tally<W> {
    inner: W,
    crc: Crc32c,
    len: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32C (Castagnoli), from the `crc32c` crate (SSE 4.2 / ARMv8 CRC instructions where
/// present). Detects the torn writes and flipped bits that a snapshot must be rejected for;
/// it is not meant to resist tampering.
struct Crc32c(u32);

impl Crc32c {
    fn new() -> Self {
        Crc32c(0)
    }

    fn update(&mut self, bytes: &[u8]) {
        self.0 = crc32c::crc32c_append(self.0, bytes);
    }

    fn finish(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        let mut crc = Crc32c::new();
        crc.update(b"1234");
        crc.update(b"56789");
        assert_eq!(crc.finish(), 0xE306_9283);
    }
}
