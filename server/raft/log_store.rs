//! The Raft log and the node's vote, durable in redb: the hot path of every write.
//!
//! ```text
//!  openraft::Raft ──append(batch)──► LogStore ──one redb write txn, fsync──► log_io_completed
//!        │ replication tasks ──limited_get_log_entries──► LogStore (MVCC read txns)
//! ```
//!
//! Two tables: [`LOG`] maps the log index to the protobuf-encoded [`pb::Entry`] (through
//! [`codec`], the format peers exchange too), and [`META`] holds the vote, the committed log id
//! and the last purged log id. Every redb call runs on [`Deps::blocking`], never on the async
//! runtime; every mutation is one write transaction committed with redb's default
//! `Durability::Immediate`, so it is on disk before the call returns. An append batch is one
//! transaction however many entries it carries, and openraft hears `log_io_completed` only
//! after that commit.
//!
//! [`pb::Entry`]: konsul_proto::raft::v1::Entry

// openraft's trait methods return its large `StorageError`; the helpers here return the same
// type so that `?` needs no conversion. Boxing it would only move the cost.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use konsul_proto::raft::v1 as pb;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError};
use openraft::{OptionalSend, Vote};
use prost::Message;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{NodeId, TypeConfig, codec};
use crate::deps::{BlockingExecutor, Deps};

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

type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// The durable Raft log of one node. Cloning is cheap (an `Arc`), which is how openraft's
/// replication tasks get their own reader while the core keeps writing.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: redb::Database,
    blocking: BlockingExecutor,
}

impl LogStore {
    /// Opens (creating if needed) the log at `path` on `deps.disk`, creating both tables so
    /// that later read transactions never meet a missing table.
    pub async fn open(path: &Path, deps: &Deps) -> crate::Result<LogStore> {
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
        Ok(LogStore {
            inner: Arc::new(Inner {
                db,
                blocking: deps.blocking,
            }),
        })
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

    /// Writes (or, with `None`, removes) one meta key in its own durable transaction.
    async fn write_meta(
        &self,
        key: &'static str,
        value: Option<Vec<u8>>,
        kind: IoKind,
    ) -> StoreResult<()> {
        self.run(move |db| {
            let txn = db.begin_write().io(kind)?;
            {
                let mut meta = txn.open_table(META).io(kind)?;
                match &value {
                    Some(v) => meta.insert(key, v.as_slice()).map(drop),
                    None => meta.remove(key).map(drop),
                }
                .io(kind)?;
            }
            txn.commit().io(kind)
        })
        .await
    }
}

fn decode_log_id(bytes: &[u8]) -> Result<LogId<NodeId>, codec::CodecError> {
    codec::decode_log_id(pb::LogId::decode(bytes)?)
}

/// Reads entries with index in `range`, stopping after `max_bytes` of encoded entries (but
/// never before the first).
fn read_entries(
    db: &redb::Database,
    range: (Bound<u64>, Bound<u64>),
    max_bytes: usize,
) -> StoreResult<Vec<Entry<TypeConfig>>> {
    let txn = db.begin_read().io(StorageIOError::read_logs)?;
    let log = txn.open_table(LOG).io(StorageIOError::read_logs)?;
    let mut entries = Vec::new();
    let mut bytes = 0;
    for item in log.range::<u64>(range).io(StorageIOError::read_logs)? {
        let (_, value) = item.io(StorageIOError::read_logs)?;
        let value = value.value();
        if !entries.is_empty() && bytes + value.len() > max_bytes {
            break;
        }
        bytes += value.len();
        entries.push(codec::entry_from_bytes(value).io(StorageIOError::read_logs)?);
    }
    Ok(entries)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry<TypeConfig>>> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        self.run(move |db| read_entries(db, range, usize::MAX))
            .await
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> StoreResult<Vec<Entry<TypeConfig>>> {
        let range = (Bound::Included(start), Bound::Excluded(end));
        self.run(move |db| read_entries(db, range, REPLICATION_BATCH_BYTES))
            .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        self.run(|db| {
            let txn = db.begin_read().io(StorageIOError::read_logs)?;
            let meta = txn.open_table(META).io(StorageIOError::read_logs)?;
            let purged = meta.get(PURGED_KEY).io(StorageIOError::read_logs)?;
            let last_purged_log_id = purged
                .map(|v| decode_log_id(v.value()))
                .transpose()
                .io(StorageIOError::read_logs)?;
            let log = txn.open_table(LOG).io(StorageIOError::read_logs)?;
            let last = log.last().io(StorageIOError::read_logs)?;
            let last_log_id = match last {
                Some((_, v)) => Some(
                    codec::entry_from_bytes(v.value())
                        .io(StorageIOError::read_logs)?
                        .log_id,
                ),
                // Everything was purged (or nothing written): the log ends where it was cut.
                None => last_purged_log_id,
            };
            Ok(LogState {
                last_purged_log_id,
                last_log_id,
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoreResult<()> {
        let bytes = codec::encode_vote(vote).encode_to_vec();
        self.write_meta(VOTE_KEY, Some(bytes), StorageIOError::write_vote)
            .await
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<NodeId>>> {
        let decode = |b: &[u8]| codec::decode_vote(pb::Vote::decode(b)?);
        self.read_meta(VOTE_KEY, decode, StorageIOError::read_vote)
            .await
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StoreResult<()> {
        let bytes = committed.map(|c| codec::encode_log_id(&c).encode_to_vec());
        self.write_meta(COMMITTED_KEY, bytes, StorageIOError::write)
            .await
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId<NodeId>>> {
        self.read_meta(COMMITTED_KEY, decode_log_id, StorageIOError::read)
            .await
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let result = self
            .run(move |db| {
                // One transaction for the whole batch: one fsync, however many entries.
                let txn = db.begin_write().io(StorageIOError::write_logs)?;
                {
                    let mut log = txn.open_table(LOG).io(StorageIOError::write_logs)?;
                    for entry in entries {
                        let index = entry.log_id.index;
                        let bytes = codec::entry_to_bytes(entry);
                        log.insert(index, bytes.as_slice())
                            .io(StorageIOError::write_logs)?;
                    }
                }
                txn.commit().io(StorageIOError::write_logs)
            })
            .await;
        // The commit above has returned, so the batch is on disk (or failed) by now.
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        self.run(move |db| {
            let txn = db.begin_write().io(StorageIOError::write_logs)?;
            {
                let mut log = txn.open_table(LOG).io(StorageIOError::write_logs)?;
                log.retain_in(log_id.index.., |_, _| false)
                    .io(StorageIOError::write_logs)?;
            }
            txn.commit().io(StorageIOError::write_logs)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let purged = codec::encode_log_id(&log_id).encode_to_vec();
        self.run(move |db| {
            // The new purge point and the removal commit together: a crash leaves either the
            // old state or the new one, never entries below a recorded purge point missing.
            let txn = db.begin_write().io(StorageIOError::write_logs)?;
            {
                let mut meta = txn.open_table(META).io(StorageIOError::write_logs)?;
                meta.insert(PURGED_KEY, purged.as_slice())
                    .io(StorageIOError::write_logs)?;
                let mut log = txn.open_table(LOG).io(StorageIOError::write_logs)?;
                log.retain_in(..=log_id.index, |_, _| false)
                    .io(StorageIOError::write_logs)?;
            }
            txn.commit().io(StorageIOError::write_logs)
        })
        .await
    }
}

/// One of openraft's `StorageIOError` constructors: says what was being read or written.
type IoKind = fn(AnyError) -> StorageIOError<NodeId>;

/// Attaches openraft's error subject (what was being read or written) to a failure.
trait IoContext<T> {
    fn io(self, kind: IoKind) -> StoreResult<T>;
}

impl<T, E: std::error::Error + 'static> IoContext<T> for Result<T, E> {
    fn io(self, kind: IoKind) -> StoreResult<T> {
        self.map_err(|e| kind(AnyError::new(&e)).into())
    }
}

#[cfg(test)]
mod tests;
