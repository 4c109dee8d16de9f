//! The Raft log's files: append-only segments, preallocated, a CRC per record, one
//! `fdatasync` per group commit. Synchronous: the log store's writer calls it on the
//! blocking executor; readers call [`SegmentReader::read`] from any thread.
//!
//! Not in use yet: this is the store issue 9 chose to replace redb under `LogStore`
//! (docs/architecture.md, "Where a write's time goes"); wiring it in, migrating an existing
//! `raft-log.redb` and openraft's storage Suite on it are the next steps.
//!
//! ```text
//!  <dir>/00000000000000000001.seg   preallocated to `segment_bytes`, zeros past the data
//!    magic "KSEGLOG1"
//!    record: len u32 LE (> 0) | crc32 u32 LE (of kind + body) | kind u8 | body (len - 1 bytes)
//!    record ...
//!    0u32                       end of the data: the rest of the file is still zeros
//! ```
//!
//! Every Raft mutation is a record: an entry, the vote, the committed log id, a truncation,
//! a purge. Replaying the records in order rebuilds the log's state, so nothing is ever
//! rewritten in place. A new segment starts with the current vote, committed id and purge
//! point, so every segment before the oldest entry still kept can be deleted whole.
//!
//! Preallocation is the point (docs/architecture.md, "Where a write's time goes"): writing
//! inside a file that already has its size leaves `fdatasync` no metadata to journal, which
//! measured about 3x faster than a redb commit on the same disk.
//!
//! Recovery reads every segment. In the newest one, a record that does not check out is a
//! torn write if nothing but zeros follows it: it is zeroed and appends resume there. A bad
//! record anywhere else, or one followed by more data, is corruption: opening fails, naming
//! the file and the offset, and nothing is changed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// First bytes of every segment file.
const MAGIC: &[u8; 8] = b"KSEGLOG1";
/// Bytes before a record's kind and body: length and CRC.
const HEADER: u64 = 8;
/// File name suffix of a segment.
const SUFFIX: &str = ".seg";

/// What a record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An encoded log entry (its log id is inside).
    Entry(Vec<u8>),
    /// The encoded vote.
    Vote(Vec<u8>),
    /// The encoded committed log id; empty for none.
    Committed(Vec<u8>),
    /// Every entry from this index on is gone.
    Truncate(u64),
    /// The encoded last purged log id.
    Purge(Vec<u8>),
}

impl Record {
    fn kind(&self) -> u8 {
        match self {
            Record::Entry(_) => 1,
            Record::Vote(_) => 2,
            Record::Committed(_) => 3,
            Record::Truncate(_) => 4,
            Record::Purge(_) => 5,
        }
    }

    fn body(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Record::Entry(b) | Record::Vote(b) | Record::Committed(b) | Record::Purge(b) => {
                std::borrow::Cow::Borrowed(b)
            }
            Record::Truncate(i) => std::borrow::Cow::Owned(i.to_le_bytes().to_vec()),
        }
    }

    fn decode(kind: u8, body: &[u8]) -> Option<Record> {
        Some(match kind {
            1 => Record::Entry(body.to_vec()),
            2 => Record::Vote(body.to_vec()),
            3 => Record::Committed(body.to_vec()),
            4 => Record::Truncate(u64::from_le_bytes(body.try_into().ok()?)),
            5 => Record::Purge(body.to_vec()),
            _ => return None,
        })
    }

    /// Its bytes on disk: header, kind, body.
    fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let len = u32::try_from(body.len() + 1).expect("a record is far below 4 GiB");
        let mut out = Vec::with_capacity(HEADER as usize + len as usize);
        out.extend_from_slice(&len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[self.kind()]);
        crc.update(&body);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.push(self.kind());
        out.extend_from_slice(&body);
        out
    }
}

/// Where a record's body lies, for reading an entry back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The segment's number.
    pub segment: u64,
    /// Offset of the record's header in the segment.
    pub offset: u64,
    /// The record's encoded length (header included).
    pub len: u32,
}

/// The segment files of one log, open for appending at the end of the newest.
pub struct Segments {
    dir: PathBuf,
    segment_bytes: u64,
    files: BTreeMap<u64, Arc<File>>,
    /// The newest segment and where its next record goes.
    current: u64,
    end: u64,
    /// Segments written since the last sync (the newest is always synced).
    unsynced: Vec<u64>,
    /// The latest vote, committed id and purge point, repeated at the start of a segment.
    vote: Option<Vec<u8>>,
    committed: Option<Vec<u8>>,
    purged: Option<Vec<u8>>,
}

/// Opening failed because a segment does not read back as written.
fn corrupt(path: &Path, offset: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "raft log segment {} is corrupt at byte {offset}: {what}; refusing to start \
             (restore the node's data dir or wipe it and let the node rejoin)",
            path.display()
        ),
    )
}

impl Segments {
    /// Opens (creating if needed) the log in `dir`, whose segments are preallocated to
    /// `segment_bytes`, and answers every record in log order with where it lies. A torn
    /// write at the end of the newest segment is zeroed; any other damage fails.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<(Segments, Vec<(Location, Record)>)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(SUFFIX)?.parse::<u64>().ok()
            })
            .collect();
        numbers.sort_unstable();
        let mut segments = Segments {
            dir: dir.to_path_buf(),
            segment_bytes,
            files: BTreeMap::new(),
            current: 0,
            end: 0,
            unsynced: Vec::new(),
            vote: None,
            committed: None,
            purged: None,
        };
        let mut records = Vec::new();
        let newest = numbers.last().copied();
        for n in numbers {
            let path = segments.path(n);
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let end = scan(&path, &file, n, Some(n) == newest, &mut records)?;
            segments.files.insert(n, Arc::new(file));
            segments.current = n;
            segments.end = end;
        }
        for (_, r) in &records {
            segments.remember(r);
        }
        if segments.files.is_empty() {
            segments.start_segment(1)?;
            segments.sync()?;
        }
        Ok((segments, records))
    }

    fn path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n:020}{SUFFIX}"))
    }

    fn remember(&mut self, r: &Record) {
        match r {
            Record::Vote(b) => self.vote = Some(b.clone()),
            Record::Committed(b) => self.committed = Some(b.clone()),
            Record::Purge(b) => self.purged = Some(b.clone()),
            Record::Entry(_) | Record::Truncate(_) => {}
        }
    }

    /// Creates segment `n`, preallocated, with the magic and the current vote, committed id
    /// and purge point, and makes it the one appended to.
    fn start_segment(&mut self, n: u64) -> io::Result<()> {
        let path = self.path(n);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        preallocate(&file, self.segment_bytes)?;
        file.write_all_at(MAGIC, 0)?;
        file.sync_all()?;
        File::open(&self.dir)?.sync_all()?;
        self.files.insert(n, Arc::new(file));
        self.current = n;
        self.end = MAGIC.len() as u64;
        let carried: Vec<Record> = [
            self.vote.clone().map(Record::Vote),
            self.committed.clone().map(Record::Committed),
            self.purged.clone().map(Record::Purge),
        ]
        .into_iter()
        .flatten()
        .collect();
        self.write_here(&carried)?;
        Ok(())
    }

    /// Writes `records` at the end of the current segment (which must have room).
    fn write_here(&mut self, records: &[Record]) -> io::Result<Vec<Location>> {
        let mut buf = Vec::new();
        let mut locations = Vec::with_capacity(records.len());
        for r in records {
            let bytes = r.encode();
            locations.push(Location {
                segment: self.current,
                offset: self.end + buf.len() as u64,
                len: bytes.len() as u32,
            });
            buf.extend_from_slice(&bytes);
        }
        if !buf.is_empty() {
            self.files[&self.current].write_all_at(&buf, self.end)?;
            self.end += buf.len() as u64;
            if !self.unsynced.contains(&self.current) {
                self.unsynced.push(self.current);
            }
        }
        Ok(locations)
    }

    /// Appends `records` in order, starting a new segment whenever the current one lacks
    /// room (the end marker's 4 bytes stay free), and answers where each went. Durable only
    /// after [`Self::sync`].
    pub fn append(&mut self, records: &[Record]) -> io::Result<Vec<Location>> {
        let mut locations = Vec::with_capacity(records.len());
        let mut start = 0;
        while start < records.len() {
            let room = self.segment_bytes.saturating_sub(self.end + 4);
            let mut take = 0;
            let mut bytes = 0u64;
            for r in &records[start..] {
                let n = HEADER + 1 + r.body().len() as u64;
                if bytes + n > room {
                    break;
                }
                bytes += n;
                take += 1;
            }
            if take == 0 {
                let first = HEADER + 1 + records[start].body().len() as u64;
                if MAGIC.len() as u64 + first + 4 > self.segment_bytes {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "a raft log record of {first} bytes does not fit in a segment of \
                             {} bytes",
                            self.segment_bytes
                        ),
                    ));
                }
                self.start_segment(self.current + 1)?;
                continue;
            }
            for r in &records[start..start + take] {
                self.remember(r);
            }
            locations.extend(self.write_here(&records[start..start + take])?);
            start += take;
        }
        Ok(locations)
    }

    /// Makes everything appended so far durable: `fdatasync` on each segment written since
    /// the last sync.
    pub fn sync(&mut self) -> io::Result<()> {
        for n in std::mem::take(&mut self.unsynced) {
            if let Some(f) = self.files.get(&n) {
                f.sync_data()?;
            }
        }
        Ok(())
    }

    /// A handle for reading records back (cheap to clone, usable from any thread).
    pub fn reader(&self) -> SegmentReader {
        SegmentReader {
            files: self.files.clone(),
        }
    }

    /// Deletes every segment numbered below `keep_from` (never the current one).
    pub fn remove_below(&mut self, keep_from: u64) -> io::Result<()> {
        let doomed: Vec<u64> = self
            .files
            .range(..keep_from.min(self.current))
            .map(|(n, _)| *n)
            .collect();
        for n in doomed {
            self.files.remove(&n);
            std::fs::remove_file(self.path(n))?;
        }
        File::open(&self.dir)?.sync_all()
    }
}

/// Reads records back by [`Location`]; holds the segment files it was made with.
#[derive(Clone)]
pub struct SegmentReader {
    files: BTreeMap<u64, Arc<File>>,
}

impl SegmentReader {
    /// The body of the entry record at `at`, checked against its CRC.
    pub fn read(&self, at: Location) -> io::Result<Vec<u8>> {
        let file = self.files.get(&at.segment).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("raft log segment {} is gone", at.segment),
            )
        })?;
        let mut buf = vec![0; at.len as usize];
        file.read_exact_at(&mut buf, at.offset)?;
        match parse(&buf) {
            Some((Record::Entry(body), _)) => Ok(body),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "raft log segment {} does not hold a valid entry at byte {}",
                    at.segment, at.offset
                ),
            )),
        }
    }
}

/// The record at the start of `buf` and its encoded length; `None` if it does not check out.
fn parse(buf: &[u8]) -> Option<(Record, u64)> {
    let len = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?) as u64;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    if len == 0 {
        return None;
    }
    let rest = buf.get(HEADER as usize..(HEADER + len) as usize)?;
    if crc32fast::hash(rest) != crc {
        return None;
    }
    let record = Record::decode(rest[0], &rest[1..])?;
    Some((record, HEADER + len))
}

/// Reads one segment's records into `out` and answers where the next record goes. In the
/// `newest` segment a torn tail is zeroed; everything else that does not check out fails.
fn scan(
    path: &Path,
    file: &File,
    number: u64,
    newest: bool,
    out: &mut Vec<(Location, Record)>,
) -> io::Result<u64> {
    let data = std::fs::read(path)?;
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        return Err(corrupt(path, 0, "no segment header"));
    }
    let mut at = MAGIC.len();
    loop {
        let rest = &data[at..];
        if rest.len() < 4 || rest[..4] == [0; 4] {
            // The end marker: past it nothing may have been written.
            if let Some(junk) = rest.iter().position(|&b| b != 0) {
                if !newest {
                    return Err(corrupt(
                        path,
                        (at + junk) as u64,
                        "data after the end marker",
                    ));
                }
                return torn(path, file, &data, at);
            }
            return Ok(at as u64);
        }
        match parse(rest) {
            Some((record, len)) => {
                out.push((
                    Location {
                        segment: number,
                        offset: at as u64,
                        len: len as u32,
                    },
                    record,
                ));
                at += len as usize;
            }
            None if newest => return torn(path, file, &data, at),
            None => return Err(corrupt(path, at as u64, "a record fails its checksum")),
        }
    }
}

/// The newest segment's data stops checking out at `at`. A torn write leaves one partial
/// record and zeros after it; then the partial record is zeroed (so a later record cannot
/// run into its leftovers) and appends resume at `at`. Anything else is corruption.
fn torn(path: &Path, file: &File, data: &[u8], at: usize) -> io::Result<u64> {
    let rest = &data[at..];
    // How far the partial record can reach: its length field, if that lies inside the file.
    let claimed = rest
        .get(0..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .map_or(rest.len(), |len| (HEADER as usize + len).min(rest.len()));
    if let Some(junk) = rest[claimed..].iter().position(|&b| b != 0) {
        return Err(corrupt(
            path,
            (at + claimed + junk) as u64,
            "a damaged record followed by more data",
        ));
    }
    let last = rest.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    if last > 0 {
        tracing::warn!(
            segment = %path.display(),
            offset = at,
            bytes = last,
            "raft log: a torn write at the end of the log (a crash during an append); its \
             bytes are cleared, nothing acknowledged was in it"
        );
        file.write_all_at(&vec![0; last], at as u64)?;
        file.sync_data()?;
    }
    Ok(at as u64)
}

/// Gives `file` its full size up front, so appends never change its length.
fn preallocate(file: &File, bytes: u64) -> io::Result<()> {
    // Writing zeros block by block makes the blocks real (not a sparse hole), which is what
    // keeps `fdatasync` from journaling an allocation on each append.
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut at = 0;
    while at < bytes {
        let n = CHUNK.min((bytes - at) as usize);
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
