//! The Raft log's files: append-only segments, preallocated, a CRC per record, one
//! `fdatasync` per group commit. Synchronous: the log store's writer (`writer.rs`) owns the
//! [`Segments`] and calls it on the blocking executor; readers call [`SegmentReader`] from
//! any thread.
//!
//! ```text
//!  <dir>/00000000000000000001.seg   preallocated to `segment_bytes`, zeros past the data
//!    magic "KSEGLOG1"
//!    record: len u32 LE (> 0) | crc32 u32 LE (of kind + body) | kind u8 | body (len - 1 bytes)
//!    record ...
//!    0u32                       end of the data: the rest of the file is still zeros
//!  <dir>/spare.tmp                  the next segment, preallocated ahead of need
//!  <dir>/next.tmp                   a segment being made at a roll-over that found no spare
//!  <dir>/LOCK                       flock'ed while open: one process per log
//! ```
//!
//! Every Raft mutation is a record: an entry, the vote, the committed log id, a truncation,
//! a purge. Replaying the records in order rebuilds the log's state, so nothing is ever
//! rewritten in place. A new segment starts with the current vote, committed id and purge
//! point, so every segment before the oldest entry still kept can be deleted whole.
//!
//! Preallocation is the point (docs/architecture.md, "Where a write's time goes"): writing
//! inside a file that already has its size leaves `fdatasync` no metadata to journal, which
//! measured about 3x faster than a redb commit on the same disk. Writing a segment's zeros
//! takes ~30–90 ms at 64 MiB (straight to the disk with `O_DIRECT` where it can, to spare the
//! page cache and the CPU), so the next one is made ahead by a [`SpareJob`] off the write
//! path, and a roll-over only renames it.
//!
//! Three rules keep a crash from leaving a hole: a roll-over syncs everything written so far
//! before the next segment exists; a segment takes its `<n>.seg` name only once its magic
//! and carried records are synced (it is made as `spare.tmp` or `next.tmp`); segments are
//! deleted oldest first, each unlink synced before the next. So `open` can refuse a
//! missing segment number, and the index refuses entries that do not run on (`index.rs`).
//!
//! Recovery reads every segment. In the newest one, a record that does not check out is a
//! torn write if nothing but zeros follows it: it is zeroed and appends resume there. A bad
//! record anywhere else, or one followed by more data, is corruption: opening fails, naming
//! the file and the offset, and nothing is changed. That errs on the side of refusing: after
//! a power loss the disk may have kept a later page of an unfinished (never acknowledged)
//! group commit but not an earlier one, which also reads as "a damaged record followed by
//! more data"; the node then refuses to start rather than guess, and is wiped and rejoined
//! (docs/operations.md).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod prealloc;
mod reader;
mod record;
mod recover;

use self::prealloc::preallocate;
pub use self::reader::SegmentReader;
pub use self::record::{Location, Record};
use self::recover::scan;

/// First bytes of every segment file.
const MAGIC: &[u8; 8] = b"KSEGLOG1";
/// Bytes before a record's kind and body: length and CRC.
const HEADER: u64 = 8;
/// File name suffix of a segment.
const SUFFIX: &str = ".seg";
/// File name of the next segment while it waits to be used.
const SPARE: &str = "spare.tmp";
/// File name of a segment being made by a roll-over that found no spare ready.
const NEXT: &str = "next.tmp";
/// File held locked while the log is open, so a second process cannot write the same log.
const LOCK: &str = "LOCK";

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
    /// Bumped whenever the set of files changes (a readers' copy is then out of date).
    generation: u64,
    /// The next segment, made ahead by a [`SpareJob`].
    spare: Arc<Mutex<Spare>>,
    /// Holds the directory's lock until the log is closed.
    _lock: File,
}

/// The state of the next segment's file.
enum Spare {
    None,
    /// A [`SpareJob`] is making it.
    Making,
    /// Preallocated, with the magic, synced: ready to be renamed into place.
    Ready(File),
}

impl Segments {
    /// Opens (creating if needed) the log in `dir`, whose segments are preallocated to
    /// `segment_bytes`, and answers every record in log order with where it lies. A torn
    /// write at the end of the newest segment is zeroed; any other damage fails.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<(Segments, Vec<(Location, Record)>)> {
        std::fs::create_dir_all(dir)?;
        let lock_file = lock_dir(dir)?;
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
            generation: 0,
            spare: Arc::new(Mutex::new(Spare::None)),
            _lock: lock_file,
        };
        // A spare or next segment left by the last run may be half made: both are made
        // afresh (neither was ever part of the log: a segment takes its name when complete).
        for name in [SPARE, NEXT] {
            remove_if_there(&dir.join(name))?;
        }
        // Segments are only ever deleted oldest first, each unlink synced before the next,
        // so a missing number between two others means lost files.
        if let Some(w) = numbers.windows(2).find(|w| w[1] != w[0] + 1) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "raft log segment {} is missing (found {} and {} in {}); refusing to start \
                     (restore the node's data dir or wipe it and let the node rejoin)",
                    w[0] + 1,
                    w[0],
                    w[1],
                    dir.display()
                ),
            ));
        }
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

    /// The records a new segment starts with: the current vote, committed id and purge
    /// point.
    fn carried(&self) -> Vec<Record> {
        [
            self.vote.clone().map(Record::Vote),
            self.committed.clone().map(Record::Committed),
            self.purged.clone().map(Record::Purge),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Starts segment `n` and makes it the one appended to. Everything written so far is
    /// synced first (a newer segment on disk after an older one's lost tail would be a hole
    /// in the log). The new file (the spare when one is ready, else made now under a
    /// temporary name) gets the magic and the [`Self::carried`] records and is synced before
    /// it takes its name, so no segment is ever seen without them.
    fn start_segment(&mut self, n: u64) -> io::Result<()> {
        self.sync()?;
        let ready = {
            let mut spare = lock(&self.spare);
            match std::mem::replace(&mut *spare, Spare::None) {
                Spare::Ready(file) => Some(file),
                Spare::Making => {
                    // Still being made: leave it to its job, for the roll-over after this one.
                    *spare = Spare::Making;
                    None
                }
                Spare::None => None,
            }
        };
        let (file, tmp) = match ready {
            Some(file) => (file, self.dir.join(SPARE)),
            None => {
                let tmp = self.dir.join(NEXT);
                remove_if_there(&tmp)?;
                (new_segment_file(&tmp, self.segment_bytes)?, tmp)
            }
        };
        let head: Vec<u8> = self.carried().iter().flat_map(Record::encode).collect();
        file.write_all_at(&head, MAGIC.len() as u64)?;
        file.sync_data()?;
        std::fs::rename(&tmp, self.path(n))?;
        File::open(&self.dir)?.sync_all()?;
        self.generation += 1;
        self.files.insert(n, Arc::new(file));
        self.current = n;
        self.end = (MAGIC.len() + head.len()) as u64;
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
                let head: u64 = self
                    .carried()
                    .iter()
                    .map(|r| HEADER + 1 + r.body().len() as u64)
                    .sum();
                if MAGIC.len() as u64 + head + first + 4 > self.segment_bytes {
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

    /// A handle for reading records back (cheap to clone, usable from any thread). It knows
    /// the files of the moment; [`Self::generation`] says when to take a new one.
    pub fn reader(&self) -> SegmentReader {
        SegmentReader {
            files: self.files.clone(),
        }
    }

    /// Changes whenever a segment is created or removed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The number of the segment appended to now.
    pub fn current(&self) -> u64 {
        self.current
    }

    /// Once the current segment is half full and no next one is ready or being made: the
    /// job that makes it, to run off the write path.
    pub fn spare_job(&self) -> Option<SpareJob> {
        if self.end < self.segment_bytes / 2 {
            return None;
        }
        let mut spare = lock(&self.spare);
        if !matches!(*spare, Spare::None) {
            return None;
        }
        *spare = Spare::Making;
        Some(SpareJob {
            path: self.dir.join(SPARE),
            dir: self.dir.clone(),
            segment_bytes: self.segment_bytes,
            spare: self.spare.clone(),
        })
    }

    /// Deletes every segment numbered below `keep_from` (never the current one).
    pub fn remove_below(&mut self, keep_from: u64) -> io::Result<()> {
        let doomed: Vec<u64> = self
            .files
            .range(..keep_from.min(self.current))
            .map(|(n, _)| *n)
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        // Oldest first, each unlink synced before the next: a crash leaves a suffix of the
        // segments, never a gap (which `open` refuses as lost files).
        self.generation += 1;
        let dir = File::open(&self.dir)?;
        for n in doomed {
            self.files.remove(&n);
            std::fs::remove_file(self.path(n))?;
            dir.sync_all()?;
        }
        Ok(())
    }
}

/// Makes the next segment's file ahead of need (see [`Segments::spare_job`]).
pub struct SpareJob {
    path: PathBuf,
    dir: PathBuf,
    segment_bytes: u64,
    spare: Arc<Mutex<Spare>>,
}

impl SpareJob {
    /// Writes the spare file (blocking: ~90 ms at 64 MiB) and offers it to the next
    /// roll-over. On failure the roll-over makes its segment itself.
    pub fn run(self) -> io::Result<()> {
        let made = new_segment_file(&self.path, self.segment_bytes)
            .and_then(|file| File::open(&self.dir)?.sync_all().map(|()| file));
        let mut spare = lock(&self.spare);
        match made {
            Ok(file) => {
                *spare = Spare::Ready(file);
                Ok(())
            }
            Err(e) => {
                *spare = Spare::None;
                // A file this job did not create (AlreadyExists) is not its to remove.
                if e.kind() != io::ErrorKind::AlreadyExists {
                    let _ = std::fs::remove_file(&self.path);
                }
                Err(e)
            }
        }
    }
}

/// Removes `path` if it exists.
fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Takes the exclusive lock on `dir`'s lock file (an `flock`, released when the file is
/// closed, also when the process dies).
fn lock_dir(dir: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!(
                "the raft log in {} is in use by another process (is another konsul running on \
                 this data dir?)",
                dir.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A new file at `path`: `bytes` long, real zeros past the magic, synced.
fn new_segment_file(path: &Path, bytes: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    preallocate(&file, path, bytes)?;
    file.write_all_at(MAGIC, 0)?;
    file.sync_all()?;
    Ok(file)
}

/// The spare's state, even if a job panicked while holding it.
fn lock(spare: &Mutex<Spare>) -> std::sync::MutexGuard<'_, Spare> {
    spare.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
