//! Snapshot files: the on-disk half of the state machine (raft/mod.rs has the data flow).
//!
//! The store lives in memory; what makes it durable is the fsynced Raft log plus the snapshot
//! files kept here. A restart loads the newest valid file and openraft replays the log after
//! it. Everything in this file is synchronous `std::fs` code: the state machine calls it only
//! through `deps.blocking.run`, never on the async runtime.
//!
//! # File format (version 1)
//!
//! ```text
//!  offset  size      field
//!  0       8         magic  b"KNSLSNAP"
//!  8       4         format version (u32 LE) = 1
//!  12      4         meta_len (u32 LE)
//!  16      8         body_len (u64 LE)
//!  24      4         CRC-32C (u32 LE) of meta + body
//!  28      meta_len  openraft SnapshotMeta as JSON (last_log_id, last_membership, snapshot_id)
//!  ..      body_len  body: the stream written by store::Store::write_snapshot
//! ```
//!
//! The whole file is the snapshot data that travels between nodes: a leader streams exactly
//! this file and a follower checks it byte for byte (length, checksum, header meta against
//! the meta openraft announced) before it becomes the follower's current snapshot. The length
//! and checksum sit in front so a damaged file is rejected before the store decoder reads a
//! single corrupt length prefix.
//!
//! # Directory layout
//!
//! * `snapshot-<last index, 20 digits>-<seq, 20 digits>-<snapshot id>.snap`: a complete,
//!   fsynced snapshot. Names sort by (last log index, local sequence number), so the
//!   lexicographically greatest name is the current snapshot.
//! * `*.part`: a file being built or received. It becomes a `.snap` only by an atomic rename
//!   after fsync (then the directory is fsynced too); leftovers of a crash are removed on open.
//! * `*.snap.corrupt`: a snapshot that failed verification on open, renamed aside (never
//!   deleted) so that an operator can inspect it and it never again counts as current.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::SnapshotMeta;

use crate::raft::{Member, NodeId};
use crate::store::Store;

/// The snapshot metadata of Konsul's type configuration.
pub(super) type Meta = SnapshotMeta<NodeId, Member>;

const MAGIC: [u8; 8] = *b"KNSLSNAP";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 28;
/// A membership of a few nodes is well under a KiB; anything larger is a damaged header.
const MAX_META_LEN: u32 = 16 << 20;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";
const PART_SUFFIX: &str = ".part";
const CORRUPT_SUFFIX: &str = ".corrupt";

/// The snapshot directory of one node, shared by the state machine and its builders.
#[derive(Debug)]
pub(super) struct SnapshotDir {
    path: PathBuf,
    /// How many complete snapshots to keep; at least 1.
    retention: usize,
    /// Local sequence number for file names and snapshot ids. Starts above every number
    /// found on disk, so ids are deterministic for a given directory and never reused.
    seq: AtomicU64,
}

/// A snapshot file read back from disk.
pub(super) struct Loaded {
    /// The header metadata.
    pub(super) meta: Meta,
    /// The decoded store.
    pub(super) store: Store,
}

/// A file handed to openraft by `begin_receiving_snapshot`.
#[derive(Debug, Clone)]
pub(super) struct Receiving {
    path: PathBuf,
    identity: Option<FileIdentity>,
}

/// (device, inode): lets `install` recognise the handle it gave out, even though openraft
/// may hand back any file (the storage test suite passes the leader's own snapshot file).
type FileIdentity = (u64, u64);

/// One complete snapshot file in the directory.
#[derive(Debug)]
struct Listed {
    path: PathBuf,
    index: u64,
    seq: u64,
}

impl SnapshotDir {
    /// Opens (creating if needed) the directory, removes leftovers of interrupted writes and
    /// loads the newest snapshot that verifies. Files that fail are renamed to `.corrupt`
    /// with a warning, so they can never be served as the current snapshot afterwards.
    pub(super) fn open(path: &Path, retention: usize) -> io::Result<(SnapshotDir, Option<Loaded>)> {
        fs::create_dir_all(path)?;
        let mut max_seq = 0;
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(PART_SUFFIX) {
                tracing::info!(file = %entry.path().display(), "removing unfinished snapshot file");
                remove_if_present(&entry.path())?;
            } else if let Some((_, seq)) = parse_name(name.trim_end_matches(CORRUPT_SUFFIX)) {
                max_seq = max_seq.max(seq);
            }
        }
        let dir = SnapshotDir {
            path: path.to_path_buf(),
            retention: retention.max(1),
            seq: AtomicU64::new(max_seq + 1),
        };

        let mut rejected = 0;
        for listed in dir.list()? {
            match File::open(&listed.path).and_then(|mut f| load(&mut f)) {
                Ok(loaded) => {
                    if rejected > 0 {
                        tracing::warn!(
                            file = %listed.path.display(),
                            snapshot = %loaded.meta,
                            rejected,
                            "restoring from an older snapshot because newer ones failed verification"
                        );
                    }
                    return Ok((dir, Some(loaded)));
                }
                Err(error) => {
                    rejected += 1;
                    let aside = quarantine(&listed.path)?;
                    tracing::warn!(
                        file = %listed.path.display(),
                        renamed_to = %aside.display(),
                        %error,
                        "skipping a snapshot that failed verification"
                    );
                }
            }
        }
        if rejected > 0 {
            tracing::error!(
                dir = %path.display(),
                rejected,
                "no snapshot verified; starting from an empty state machine"
            );
        }
        Ok((dir, None))
    }

    /// The next local sequence number (file names, snapshot ids, temporary files).
    pub(super) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes `store` as a new snapshot: temp file, fsync, rename, fsync of the directory.
    /// Returns the finished file rewound to its start, ready to be streamed to a follower.
    pub(super) fn write(&self, seq: u64, meta: &Meta, store: &Store) -> io::Result<File> {
        let tmp = self.path.join(format!("build-{seq}{PART_SUFFIX}"));
        let written = (|| {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            write_contents(&mut file, meta, store)?;
            file.sync_all()?;
            Ok(file)
        })();
        let mut file = match written {
            Ok(file) => file,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.publish(&tmp, seq, meta)?;
        file.rewind()?;
        Ok(file)
    }

    /// Creates the file a follower receives a snapshot into. `previous`, if any, is a receive
    /// that openraft abandoned (it starts a new one only when the leader switches snapshots);
    /// its file is deleted.
    pub(super) fn begin_receive(
        &self,
        previous: Option<Receiving>,
    ) -> io::Result<(Receiving, File)> {
        if let Some(previous) = previous {
            remove_if_present(&previous.path)?;
        }
        let path = self
            .path
            .join(format!("recv-{}{PART_SUFFIX}", self.next_seq()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let identity = identity(&file);
        Ok((Receiving { path, identity }, file))
    }

    /// Verifies a received snapshot and makes it the current one.
    ///
    /// When `received` is the file handed out for `receiving`, it is verified, fsynced and
    /// renamed into place; any other handle is first copied into a new file of this
    /// directory. Verification is complete (length, checksum, store decoding) and the header
    /// meta must equal `expected`, the meta openraft received with the data. Returns the
    /// decoded store and whether `receiving` was consumed.
    pub(super) fn install(
        &self,
        mut received: File,
        receiving: Option<&Receiving>,
        expected: &Meta,
    ) -> io::Result<(Store, bool)> {
        let ours = receiving.filter(|r| r.identity.is_some() && identity(&received) == r.identity);
        let (tmp, mut file) = match ours {
            Some(r) => (r.path.clone(), received),
            None => {
                let tmp = self
                    .path
                    .join(format!("recv-{}{PART_SUFFIX}", self.next_seq()));
                let mut copy = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&tmp)?;
                let copied = received
                    .rewind()
                    .and_then(|()| io::copy(&mut received, &mut copy));
                if let Err(e) = copied {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
                (tmp, copy)
            }
        };
        let verified = (|| {
            let loaded = load(&mut file)?;
            if loaded.meta != *expected {
                return Err(invalid(format!(
                    "snapshot header {} does not match the announced {}",
                    loaded.meta, expected
                )));
            }
            file.sync_all()?;
            Ok(loaded.store)
        })();
        let store = match verified {
            Ok(store) => store,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        self.publish(&tmp, self.next_seq(), expected)?;
        Ok((store, ours.is_some()))
    }

    /// The newest snapshot file with its header meta, rewound to its start.
    pub(super) fn current(&self) -> io::Result<Option<(Meta, File)>> {
        for listed in self.list()? {
            let mut file = match File::open(&listed.path) {
                Ok(file) => file,
                // Pruned by a concurrent build or install after we listed it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let meta = read_meta(&mut file)?;
            file.rewind()?;
            return Ok(Some((meta, file)));
        }
        Ok(None)
    }

    /// Deletes complete snapshots beyond the newest `retention`. A failure to delete is only
    /// logged: an extra old file costs disk, not correctness.
    pub(super) fn prune(&self) {
        let listed = match self.list() {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(dir = %self.path.display(), %error, "cannot list snapshots to prune");
                return;
            }
        };
        for old in listed.iter().skip(self.retention) {
            if let Err(error) = remove_if_present(&old.path) {
                tracing::warn!(file = %old.path.display(), %error, "cannot delete old snapshot");
            }
        }
    }

    /// Atomically turns the fsynced temp file into a complete snapshot.
    fn publish(&self, tmp: &Path, seq: u64, meta: &Meta) -> io::Result<()> {
        let index = meta.last_log_id.map_or(0, |l| l.index);
        let name = format!(
            "{PREFIX}{index:020}-{seq:020}-{}{SUFFIX}",
            sanitize(&meta.snapshot_id)
        );
        fs::rename(tmp, self.path.join(name))?;
        sync_dir(&self.path)
    }

    /// Complete snapshot files, newest first.
    fn list(&self) -> io::Result<Vec<Listed>> {
        let mut listed = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some((index, seq)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            listed.push(Listed {
                path: entry.path(),
                index,
                seq,
            });
        }
        listed.sort_by_key(|l| std::cmp::Reverse((l.index, l.seq)));
        Ok(listed)
    }
}

/// (last log index, seq) of a complete snapshot's file name; None for any other file.
fn parse_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut fields = rest.splitn(3, '-');
    let index = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    Some((index, seq))
}

/// Snapshot ids come from the leader; keep only characters that are safe in a file name.
fn sanitize(id: &str) -> String {
    id.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_contents(file: &mut File, meta: &Meta, store: &Store) -> io::Result<()> {
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
        return Err(invalid("not a Konsul snapshot (bad magic)"));
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
fn read_meta(file: &mut File) -> io::Result<Meta> {
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

/// Renames a snapshot that failed verification to `<name>.corrupt`.
fn quarantine(path: &Path) -> io::Result<PathBuf> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(CORRUPT_SUFFIX);
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside)?;
    Ok(aside)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes renames and creations in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(unix)]
fn identity(file: &File) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_file: &File) -> Option<FileIdentity> {
    None
}

fn invalid(message: impl Into<String>) -> io::Error {
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

/// CRC-32C (Castagnoli), table driven. Detects the torn writes and flipped bits that a
/// snapshot must be rejected for; it is not meant to resist tampering.
struct Crc32c(u32);

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32c {
    fn new() -> Self {
        Crc32c(!0)
    }

    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = CRC32C_TABLE[((self.0 ^ u32::from(*b)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    fn finish(&self) -> u32 {
        !self.0
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

    #[test]
    fn names_sort_by_index_then_seq_and_ids_are_sanitized() {
        assert_eq!(
            parse_name("snapshot-00000000000000000042-00000000000000000007-3-42-7.snap"),
            Some((42, 7))
        );
        assert_eq!(parse_name("snapshot-1-2-x.snap.corrupt"), None);
        assert_eq!(parse_name("recv-3.part"), None);
        assert_eq!(sanitize("3-42-7"), "3-42-7");
        assert_eq!(sanitize("../../etc/passwd"), "______etc_passwd");
    }
}
