//! The Raft log and the node's vote, durable in segment files: the hot path of every write.
//!
//! ```text
//!  openraft::Raft ──append(batch)──► LogStore ──queue──► writer: records, one fdatasync ──► io_completed
//!        │ replication tasks ──limited_get_log_entries──► LogIndex (memory, or where) ──► pread
//! ```
//!
//! The files are `segments.rs`: append-only, preallocated, a CRC per record (entries in
//! [`codec`]'s protobuf form, the format peers exchange too). `index.rs` keeps in memory
//! where each durable entry lies, the entries not yet durable, the newest durable ones
//! (which the state machine and replication read back moments after their sync), and the
//! vote, committed id and purge point; it is rebuilt from the records on open, so reading
//! the vote, the log state or a recent entry never touches the disk. Disk calls run on [`Deps::blocking`], never on the async
//! runtime.
//!
//! Writes go through one writer task (`writer.rs`) that appends everything queued since its
//! last sync and syncs once: group commit. `append` queues its entries, makes them readable
//! at once through the pending map, and returns; openraft hears `io_completed` only after
//! the sync that covers them. The vote, truncate and purge wait for their sync; the
//! committed log id is a restart hint and is written without waiting or syncing.
//!
//! A log kept by an older version in `raft-log.redb` is moved into segments on first open
//! (`migrate.rs`).

mod index;
mod migrate;
pub mod segments;
mod writer;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::{OptionalSend, RaftLogReader};
use tokio::sync::{mpsc, oneshot};

use self::index::LogIndex;
use self::segments::Segments;
use super::stages::{Stage, Stages};
use super::{TypeConfig, codec, lock};
use crate::deps::{BlockingExecutor, Deps};
use crate::faults::FaultPoints;

/// Upper bound on the encoded bytes one `limited_get_log_entries` call returns (at least one
/// entry is always returned). Keeps an AppendEntries message well under the peer transport's
/// message limit even when values are large.
pub const REPLICATION_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Size of each segment file unless configured (`KONSUL_RAFT_LOG_SEGMENT_BYTES`).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// openraft 0.10's storage traits speak `std::io::Error`; openraft adds what was being done.
type StoreResult<T> = io::Result<T>;

/// The log entry type of Konsul's type config.
type Entry = EntryOf<TypeConfig>;

/// What failed, for the error message: "reading log entries", "writing the vote", ...
type IoKind = &'static str;

const READ_LOGS: IoKind = "reading raft log entries";
const WRITE_LOGS: IoKind = "writing raft log entries";
const WRITE_VOTE: IoKind = "writing the raft vote";
const WRITE_META: IoKind = "writing raft metadata";

/// How a log is opened beyond its directory.
#[derive(Clone)]
pub struct LogOptions {
    /// Size of each segment file; a record (one entry) must fit in one.
    pub segment_bytes: u64,
    /// Encoded bytes of the newest durable entries kept decoded in memory for reads
    /// (`index::RECENT_BYTES` unless a test wants every read to go to the disk).
    pub recent_bytes: usize,
    /// The node's failpoints (a slow fsync: `faults::LOG_FSYNC`).
    pub faults: FaultPoints,
    /// The node's write-path counters (`append` here, `log_write` in the writer).
    pub stages: Arc<Stages>,
}

impl LogOptions {
    /// Segments of 1 MiB, for unit tests (less to preallocate, roll-overs sooner).
    #[cfg(test)]
    pub fn small() -> Self {
        Self {
            segment_bytes: 1 << 20,
            ..Self::default()
        }
    }

    /// Like [`LogOptions::small`], but no entry is kept in memory once durable: every read
    /// of a synced entry goes to the segments.
    #[cfg(test)]
    pub fn small_from_disk() -> Self {
        Self {
            recent_bytes: 0,
            ..Self::small()
        }
    }
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            recent_bytes: index::RECENT_BYTES,
            faults: FaultPoints::default(),
            stages: Arc::default(),
        }
    }
}

/// The durable Raft log of one node. Cloning is cheap (an `Arc`), which is how openraft's
/// replication tasks get their own reader while the core keeps writing.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    blocking: BlockingExecutor,
    /// The queue of the single writer task.
    writes: mpsc::UnboundedSender<writer::Write>,
    /// Where every entry is, and the vote, committed id and purge point.
    index: Arc<Mutex<LogIndex>>,
    /// Turns `true` when the writer has stopped and closed the files.
    closed: tokio::sync::watch::Receiver<bool>,
    stages: Arc<Stages>,
}

impl LogStore {
    /// Opens (creating if needed) the log in directory `dir` with default options.
    pub async fn open(dir: &Path, deps: &Deps) -> crate::Result<LogStore> {
        Self::open_with(dir, deps, LogOptions::default()).await
    }

    /// Opens (creating if needed) the log in directory `dir`: moves an older
    /// `<dir>.redb` log into it first, then replays its records into memory.
    pub async fn open_with(
        dir: &Path,
        deps: &Deps,
        options: LogOptions,
    ) -> crate::Result<LogStore> {
        let (dir, disk, bytes) = (dir.to_path_buf(), deps.disk.clone(), options.segment_bytes);
        let recent_bytes = options.recent_bytes;
        let opened = deps
            .blocking
            .run(move || -> io::Result<(Segments, LogIndex)> {
                migrate::from_redb(&dir, bytes, disk.as_ref())?;
                let (segments, records) = Segments::open(&dir, bytes)?;
                let mut index = LogIndex::replay(records, &segments)?;
                index.keep_recent_up_to(recent_bytes);
                Ok((segments, index))
            })
            .await;
        let (segments, index) =
            opened.map_err(|e| crate::Error::Storage(format!("opening the raft log: {e}")))?;
        let index = Arc::new(Mutex::new(index));
        let (writes, closed) = writer::spawn(
            segments,
            index.clone(),
            deps.blocking,
            options.faults,
            options.stages.clone(),
        );
        Ok(LogStore {
            inner: Arc::new(Inner {
                blocking: deps.blocking,
                writes,
                index,
                closed,
                stages: options.stages,
            }),
        })
    }

    /// Where the log of a node whose Raft data lives in `raft_dir` is kept.
    pub fn dir_in(raft_dir: &Path) -> PathBuf {
        raft_dir.join("raft-log")
    }

    /// Turns `true` once every handle of this log is dropped and its writer has finished,
    /// i.e. once its files are closed and may be opened again (an in-process restart).
    pub fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closed.clone()
    }

    /// Queues `write` and waits until it is durable.
    async fn write_and_wait(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), String>>) -> writer::Write,
        kind: IoKind,
    ) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        let closed = || writer_stopped(kind);
        self.inner.writes.send(make(tx)).map_err(|_| closed())?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io::Error::other(format!("{kind}: {e}"))),
            Err(_) => Err(closed()),
        }
    }

    /// Entries in `range`, pending and recent ones from memory and older durable ones from
    /// the segments, at most about `max_bytes` of encoded entries (but at least one entry).
    async fn read_range(
        &self,
        range: (Bound<u64>, Bound<u64>),
        max_bytes: usize,
    ) -> StoreResult<Vec<Entry>> {
        let index::ReadPlan {
            memory,
            located,
            reader,
        } = lock(&self.inner.index).plan(range, max_bytes);
        if located.is_empty() {
            return Ok(memory);
        }
        let durable = self
            .inner
            .blocking
            .run(move || -> StoreResult<Vec<Entry>> {
                let bodies = reader.read_many(&located).io(READ_LOGS)?;
                bodies
                    .iter()
                    .map(|b| codec::entry_from_bytes(b).io(READ_LOGS))
                    .collect()
            })
            .await?;
        if memory.is_empty() {
            return Ok(durable);
        }
        let mut all: BTreeMap<u64, Entry> =
            durable.into_iter().map(|e| (e.log_id.index, e)).collect();
        for e in memory {
            all.insert(e.log_id.index, e);
        }
        Ok(all.into_values().collect())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn read_vote(&mut self) -> StoreResult<Option<VoteOf<TypeConfig>>> {
        Ok(lock(&self.inner.index).vote)
    }

    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry>> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        self.read_range(range, usize::MAX).await
    }

    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> StoreResult<Vec<Entry>> {
        let range = (Bound::Included(start), Bound::Excluded(end));
        self.read_range(range, REPLICATION_BATCH_BYTES).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let index = lock(&self.inner.index);
        Ok(LogState {
            last_purged_log_id: index.purged,
            last_log_id: index.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> StoreResult<()> {
        let vote = *vote;
        self.write_and_wait(|done| writer::Write::Vote { vote, done }, WRITE_VOTE)
            .await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> StoreResult<()> {
        // A restart hint only: written without waiting (see writer.rs for why at once).
        lock(&self.inner.index).committed = committed;
        self.inner
            .writes
            .send(writer::Write::Committed { id: committed })
            .map_err(|_| writer_stopped(WRITE_META))
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogIdOf<TypeConfig>>> {
        Ok(lock(&self.inner.index).committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let started = tokio::time::Instant::now();
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        let count = entries.len() as u64;
        let ids: Vec<LogIdOf<TypeConfig>> = entries.iter().map(|e| e.log_id).collect();
        let encoded: Vec<Vec<u8>> = entries
            .iter()
            .map(|e| codec::entry_to_bytes(e.clone()))
            .collect();
        {
            // Readable from now on, before it is durable (openraft's contract for append).
            let mut index = lock(&self.inner.index);
            for (e, bytes) in entries.into_iter().zip(&encoded) {
                index.pending.insert(e.log_id.index, (e, bytes.len()));
            }
        }
        // The writer calls io_completed once the sync that covers these is done.
        let sent = self
            .inner
            .writes
            .send(writer::Write::Append {
                entries: encoded,
                ids,
                callback,
            })
            .map_err(|_| writer_stopped(WRITE_LOGS));
        self.inner
            .stages
            .record(Stage::Append, started.elapsed(), count);
        sent
    }

    async fn truncate_after(&mut self, last: Option<LogIdOf<TypeConfig>>) -> StoreResult<()> {
        // openraft 0.10 keeps `last` and removes what follows (0.9's `truncate` removed the
        // id it was given too); `None` removes everything.
        let from = last.map_or(0, |l| l.index + 1);
        self.write_and_wait(|done| writer::Write::Truncate { from, done }, WRITE_LOGS)
            .await
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> StoreResult<()> {
        // One record holds the new purge point; replaying it drops every entry up to it, so
        // a crash leaves either the old state or the new one.
        self.write_and_wait(|done| writer::Write::Purge { log_id, done }, WRITE_LOGS)
            .await
    }
}

/// The error of a write that found the writer task gone (the node is shutting down).
fn writer_stopped(kind: IoKind) -> io::Error {
    io::Error::other(format!("{kind}: the raft log writer stopped"))
}

/// Attaches what was being read or written to a failure.
trait IoContext<T> {
    fn io(self, kind: IoKind) -> StoreResult<T>;
}

impl<T, E: std::fmt::Display> IoContext<T> for Result<T, E> {
    fn io(self, kind: IoKind) -> StoreResult<T> {
        self.map_err(|e| io::Error::other(format!("{kind}: {e}")))
    }
}

#[cfg(test)]
mod tests;
