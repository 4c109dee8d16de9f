//! The Raft log and the node's vote, durable in redb: the hot path of every write.
//!
//! ```text
//!  openraft::Raft ──append(batch)──► LogStore ──one redb write txn, fsync──► io_completed
//!        │ replication tasks ──limited_get_log_entries──► LogStore (MVCC read txns)
//! ```
//!
//! Two tables: [`LOG`] maps the log index to the protobuf-encoded [`pb::Entry`] (through
//! [`codec`], the format peers exchange too), and [`META`] holds the vote, the committed log id
//! and the last purged log id. Every redb call runs on [`Deps::blocking`], never on the async
//! runtime.
//!
//! Writes go through one writer task (`writer.rs`) that commits everything queued since its
//! last commit in a single transaction with redb's default `Durability::Immediate` (fsync):
//! group commit. `append` queues its entries, makes them readable at once through an
//! in-memory pending map, and returns; openraft hears `io_completed` only after the
//! transaction that holds them is on disk. The vote, truncate and purge wait for their
//! transaction; the committed log id is only a restart hint (a node that lost it re-learns
//! commitment from the log), so `save_committed` does not wait and becomes durable with the
//! next transaction.
//!
//! [`pb::Entry`]: konsul_proto::raft::v1::Entry

pub mod segments;
mod writer;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex};

use konsul_proto::raft::v1 as pb;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::{OptionalSend, RaftLogReader};
use prost::Message;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::stages::{Stage, Stages};
use super::{TypeConfig, codec, lock};
use crate::deps::{BlockingExecutor, Deps};
use crate::faults::FaultPoints;

/// Log entries by index; the value is a protobuf [`pb::Entry`].
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// Small persistent Raft state, one protobuf message per key.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const VOTE_KEY: &str = "vote";
const COMMITTED_KEY: &str = "committed";
const PURGED_KEY: &str = "last_purged";

/// Upper bound on the encoded bytes one `limited_get_log_entries` call returns (at least one
/// entry is always returned). Keeps an AppendEntries message well under the peer transport's
/// message limit even when values are large.
pub const REPLICATION_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// openraft 0.10's storage traits speak `std::io::Error`; openraft adds what was being done.
type StoreResult<T> = io::Result<T>;

/// The log entry type of Konsul's type config.
type Entry = EntryOf<TypeConfig>;

/// What failed, for the error message: "reading log entries", "writing the vote", ...
type IoKind = &'static str;

const READ_LOGS: IoKind = "reading raft log entries";
const WRITE_LOGS: IoKind = "writing raft log entries";
const READ_VOTE: IoKind = "reading the raft vote";
const WRITE_VOTE: IoKind = "writing the raft vote";
const READ_META: IoKind = "reading raft metadata";
const WRITE_META: IoKind = "writing raft metadata";

/// The durable Raft log of one node. Cloning is cheap (an `Arc`), which is how openraft's
/// replication tasks get their own reader while the core keeps writing.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<redb::Database>,
    blocking: BlockingExecutor,
    /// The queue of the single writer task.
    writes: mpsc::UnboundedSender<writer::Write>,
    /// Entries appended but not yet durable in redb, by index: readable at once, as
    /// openraft requires of `append`.
    pending: Arc<Mutex<BTreeMap<u64, Entry>>>,
    /// The last committed log id handed to `save_committed`, so reads see it before the
    /// writer has stored it.
    committed: Mutex<Option<Option<LogIdOf<TypeConfig>>>>,
    /// Turns `true` when the writer has stopped and released the database.
    closed: tokio::sync::watch::Receiver<bool>,
    /// The node's write-path counters (`append` here, `log_write` in the writer).
    stages: Arc<Stages>,
}

impl LogStore {
    /// Opens (creating if needed) the log at `path` on `deps.disk`, creating both tables so
    /// that later read transactions never meet a missing table.
    pub async fn open(path: &Path, deps: &Deps) -> crate::Result<LogStore> {
        Self::open_with(path, deps, FaultPoints::default(), Arc::default()).await
    }

    /// Like [`Self::open`], with the node's failpoints (a slow fsync: `faults::LOG_FSYNC`)
    /// and write-path counters.
    pub async fn open_with(
        path: &Path,
        deps: &Deps,
        faults: FaultPoints,
        stages: Arc<Stages>,
    ) -> crate::Result<LogStore> {
        let (path, disk) = (path.to_path_buf(), deps.disk.clone());
        let db = deps
            .blocking
            .run(move || -> Result<redb::Database, redb::Error> {
                let db = disk.open_database(&path)?;
                let txn = db.begin_write()?;
                txn.open_table(LOG)?;
                txn.open_table(META)?;
                txn.commit()?;
                Ok(db)
            })
            .await
            .map_err(|e| crate::Error::Storage(format!("opening the raft log: {e}")))?;
        let db = Arc::new(db);
        let pending: Arc<Mutex<BTreeMap<u64, Entry>>> = Arc::default();
        let on_durable = {
            let pending = pending.clone();
            Box::new(move |ids: &[LogIdOf<TypeConfig>]| {
                let mut pending = lock(&pending);
                for id in ids {
                    if pending.get(&id.index).is_some_and(|e| e.log_id == *id) {
                        pending.remove(&id.index);
                    }
                }
            })
        };
        let (writes, closed) = writer::spawn(
            Arc::downgrade(&db),
            deps.blocking,
            on_durable,
            faults,
            stages.clone(),
        );
        Ok(LogStore {
            inner: Arc::new(Inner {
                db,
                blocking: deps.blocking,
                writes,
                pending,
                committed: Mutex::new(None),
                closed,
                stages,
            }),
        })
    }

    /// Turns `true` once every handle of this log is dropped and its writer has finished,
    /// i.e. once the database file is closed and may be opened again (an in-process restart).
    pub fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closed.clone()
    }

    /// Queues `write` and waits until its transaction is durable.
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

    /// Pending (not yet durable) entries with index in `range`, oldest first.
    fn pending_in(&self, range: (Bound<u64>, Bound<u64>)) -> Vec<Entry> {
        lock(&self.inner.pending)
            .range(range)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Runs `f` against the database on the blocking executor.
    async fn run<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&redb::Database) -> T + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        self.inner.blocking.run(move || f(&inner.db)).await
    }

    /// Reads and decodes one meta key; `kind` names what failed.
    async fn read_meta<T, F>(
        &self,
        key: &'static str,
        decode: F,
        kind: IoKind,
    ) -> StoreResult<Option<T>>
    where
        F: FnOnce(&[u8]) -> Result<T, codec::CodecError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |db| {
            let txn = db.begin_read().io(kind)?;
            let meta = txn.open_table(META).io(kind)?;
            let guard = meta.get(key).io(kind)?;
            guard.map(|v| decode(v.value())).transpose().io(kind)
        })
        .await
    }

    /// Writes (or, with `None`, removes) one meta key and waits until it is durable.
    async fn write_meta(
        &self,
        key: &'static str,
        value: Option<Vec<u8>>,
        kind: IoKind,
    ) -> StoreResult<()> {
        self.write_and_wait(
            |done| writer::Write::Meta {
                key,
                value,
                done: Some(done),
            },
            kind,
        )
        .await
    }
}

fn decode_log_id(bytes: &[u8]) -> Result<LogIdOf<TypeConfig>, codec::CodecError> {
    codec::decode_log_id(pb::LogId::decode(bytes)?)
}

/// Reads entries with index in `range`, stopping after `max_bytes` of encoded entries (but
/// never before the first). The flag says whether the byte budget cut the read short.
fn read_entries(
    db: &redb::Database,
    range: (Bound<u64>, Bound<u64>),
    max_bytes: usize,
) -> StoreResult<(Vec<Entry>, bool)> {
    let txn = db.begin_read().io(READ_LOGS)?;
    let log = txn.open_table(LOG).io(READ_LOGS)?;
    let mut entries = Vec::new();
    let mut bytes = 0;
    for item in log.range::<u64>(range).io(READ_LOGS)? {
        let (_, value) = item.io(READ_LOGS)?;
        let value = value.value();
        if !entries.is_empty() && bytes + value.len() > max_bytes {
            return Ok((entries, true));
        }
        bytes += value.len();
        entries.push(codec::entry_from_bytes(value).io(READ_LOGS)?);
    }
    Ok((entries, false))
}

impl LogStore {
    /// Entries in `range` from redb plus the pending ones. The pending map is read FIRST: an
    /// entry that leaves it in between has been committed, so the redb read sees it.
    async fn read_range(
        &self,
        range: (Bound<u64>, Bound<u64>),
        max_bytes: usize,
    ) -> StoreResult<Vec<Entry>> {
        let pending = self.pending_in(range);
        let (durable, cut) = self
            .run(move |db| read_entries(db, range, max_bytes))
            .await?;
        if cut || pending.is_empty() {
            return Ok(durable);
        }
        let mut all: BTreeMap<u64, Entry> =
            durable.into_iter().map(|e| (e.log_id.index, e)).collect();
        for e in pending {
            all.insert(e.log_id.index, e);
        }
        Ok(all.into_values().collect())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn read_vote(&mut self) -> StoreResult<Option<VoteOf<TypeConfig>>> {
        let decode = |b: &[u8]| codec::decode_vote(pb::Vote::decode(b)?);
        self.read_meta(VOTE_KEY, decode, READ_VOTE).await
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
        let pending_last = lock(&self.inner.pending)
            .last_key_value()
            .map(|(_, e)| e.log_id);
        let mut state = self
            .run(|db| -> StoreResult<LogState<TypeConfig>> {
                let txn = db.begin_read().io(READ_LOGS)?;
                let meta = txn.open_table(META).io(READ_LOGS)?;
                let purged = meta.get(PURGED_KEY).io(READ_LOGS)?;
                let last_purged_log_id = purged
                    .map(|v| decode_log_id(v.value()))
                    .transpose()
                    .io(READ_LOGS)?;
                let log = txn.open_table(LOG).io(READ_LOGS)?;
                let last = log.last().io(READ_LOGS)?;
                let last_log_id = match last {
                    Some((_, v)) => Some(codec::entry_from_bytes(v.value()).io(READ_LOGS)?.log_id),
                    // Everything was purged (or nothing written): the log ends where it was cut.
                    None => last_purged_log_id,
                };
                Ok(LogState {
                    last_purged_log_id,
                    last_log_id,
                })
            })
            .await?;
        state.last_log_id = state.last_log_id.max(pending_last);
        Ok(state)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<TypeConfig>) -> StoreResult<()> {
        let bytes = codec::encode_vote(vote).encode_to_vec();
        self.write_meta(VOTE_KEY, Some(bytes), WRITE_VOTE).await
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<TypeConfig>>) -> StoreResult<()> {
        // A restart hint only: queued without waiting, durable with the next transaction.
        *lock(&self.inner.committed) = Some(committed);
        let value = committed.map(|c| codec::encode_log_id(&c).encode_to_vec());
        self.inner
            .writes
            .send(writer::Write::Meta {
                key: COMMITTED_KEY,
                value,
                done: None,
            })
            .map_err(|_| writer_stopped(WRITE_META))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogIdOf<TypeConfig>>> {
        if let Some(committed) = *lock(&self.inner.committed) {
            return Ok(committed);
        }
        self.read_meta(COMMITTED_KEY, decode_log_id, READ_META)
            .await
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
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .iter()
            .map(|e| (e.log_id.index, codec::entry_to_bytes(e.clone())))
            .collect();
        {
            // Readable from now on, before it is durable (openraft's contract for append).
            let mut pending = lock(&self.inner.pending);
            for e in entries {
                pending.insert(e.log_id.index, e);
            }
        }
        // The writer calls io_completed once the transaction holding these is on disk.
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
            .await?;
        lock(&self.inner.pending).retain(|i, _| *i < from);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogIdOf<TypeConfig>) -> StoreResult<()> {
        // The new purge point and the removal commit together: a crash leaves either the
        // old state or the new one, never entries below a recorded purge point missing.
        let purged = codec::encode_log_id(&log_id).encode_to_vec();
        let upto = log_id.index;
        self.write_and_wait(
            |done| writer::Write::Purge {
                upto,
                purged,
                purged_key: PURGED_KEY,
                done,
            },
            WRITE_LOGS,
        )
        .await?;
        lock(&self.inner.pending).retain(|i, _| *i > upto);
        Ok(())
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
