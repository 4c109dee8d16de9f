//! The log's single writer: group commit for every mutation of the Raft log.
//!
//! openraft hands the log store one `append` per batch of client writes and waits for
//! `append` to return before it hands over the next. If `append` waited for its own fsync,
//! every batch would pay a whole fsync in turn and nothing more would ever group. Instead
//! `append` queues its entries here (they are readable at once through the index's pending
//! map) and returns; this task takes everything queued since its last commit, appends it to
//! the segments as records, calls `fdatasync` once, moves the entries from pending to
//! located in the [`LogIndex`], and only then calls each batch's `io_completed`. While one
//! fsync runs, new writes pile up for the next, so its cost is shared by every write that
//! arrived during the previous one.
//!
//! Every other mutation (vote, committed id, truncate, purge) goes through the same queue,
//! so they land in exactly the order openraft issued them, and those openraft waits for
//! (vote, truncate, purge) answer only after their sync.
//!
//! The committed log id, which openraft reports after every commit, is written at once but
//! not synced when nothing else is queued with it: it is a restart hint, and the page cache
//! keeps it across a process crash or a clean shutdown. It must not wait for the next write
//! instead: a node shut down after its last write would then restart with an older committed
//! id and report ready before it has applied writes it acknowledged (`tests/it/recovery.rs`
//! caught exactly that with the earlier redb writer).
//!
//! A failed write or sync leaves the files in a state nobody can vouch for (after a failed
//! fsync the kernel may have dropped the dirty pages), so the first failure is final: every
//! later mutation gets the same error and openraft stops the node, as etcd does.

use std::sync::{Arc, Mutex};

use openraft::storage::IOFlushed;
use openraft::type_config::alias::{LogIdOf, VoteOf};
use tokio::sync::{mpsc, oneshot, watch};

use super::TypeConfig;
use super::index::{self, LogIndex};
use super::segments::{Location, Record, Segments};
use crate::deps::BlockingExecutor;
use crate::faults::{self, FaultPoints};
use crate::raft::lock;
use crate::raft::stages::{Stage, Stages};

/// Most queued mutations one group commit takes; the rest wait for the next one.
const MAX_BATCH: usize = 4096;

type LogId = LogIdOf<TypeConfig>;
type Done = oneshot::Sender<Result<(), String>>;

/// One queued mutation of the log.
pub(super) enum Write {
    /// New entries, encoded, with their ids; `io_completed` once durable.
    Append {
        entries: Vec<Vec<u8>>,
        ids: Vec<LogId>,
        callback: IOFlushed<TypeConfig>,
    },
    /// The new vote.
    Vote {
        vote: VoteOf<TypeConfig>,
        done: Done,
    },
    /// The committed log id. Nobody waits for it.
    Committed { id: Option<LogId> },
    /// Remove every entry from `from` on.
    Truncate { from: u64, done: Done },
    /// Record the purge point and drop every entry up to it.
    Purge { log_id: LogId, done: Done },
}

/// Starts the writer over `segments`. It runs until every sender is dropped; then it closes
/// the files and the receiver turns `true` (the log may be opened again: an in-process
/// restart).
pub(super) fn spawn(
    mut segments: Segments,
    index: Arc<Mutex<LogIndex>>,
    blocking: BlockingExecutor,
    faults: FaultPoints,
    stages: Arc<Stages>,
) -> (mpsc::UnboundedSender<Write>, watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    let (closed_tx, closed_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut failed: Option<String> = None;
        let mut spare_task: Option<tokio::task::JoinHandle<()>> = None;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            if let Some(e) = &failed {
                finish(batch, Err(format!("an earlier raft log write failed: {e}")));
                continue;
            }
            let entries: usize = batch.iter().map(Write::entries).sum();
            let started = tokio::time::Instant::now();
            let (faults, index) = (faults.clone(), index.clone());
            let (back, batch, result) = blocking
                .run(move || {
                    faults.pause_blocking(faults::LOG_FSYNC);
                    let (batch, result) = if faults.fires(faults::LOG_FAIL) {
                        let e = "failpoint log.fail: the disk refused the write".to_owned();
                        (batch, Err(e))
                    } else {
                        match commit(&mut segments, batch, &index) {
                            Ok(batch) => (batch, Ok(())),
                            Err((batch, e)) => (batch, Err(e.to_string())),
                        }
                    };
                    (segments, batch, result)
                })
                .await;
            segments = back;
            let elapsed = started.elapsed();
            stages.record(Stage::LogWrite, elapsed, entries as u64);
            tracing::debug!(entries, ?elapsed, "raft log batch written");
            if let Err(e) = &result {
                tracing::error!("raft log write failed, the log takes no more writes: {e}");
                failed = Some(e.clone());
            }
            finish(batch, result);
            if let Some(job) = segments.spare_job() {
                spare_task = Some(tokio::spawn(async move {
                    if let Err(e) = blocking.run(move || job.run()).await {
                        tracing::warn!("preparing the next raft log segment failed: {e}");
                    }
                }));
            }
        }
        // The log counts as closed only once nothing touches its directory any more.
        if let Some(task) = spare_task {
            let _ = task.await;
        }
        drop(segments);
        let _ = closed_tx.send(true);
    });
    (tx, closed_rx)
}

impl Write {
    fn entries(&self) -> usize {
        match self {
            Write::Append { ids, .. } => ids.len(),
            _ => 0,
        }
    }
}

type Failed = (Vec<Write>, std::io::Error);

/// Appends the whole batch as records in queue order, syncs unless it holds nothing but the
/// committed id, and publishes the result to `index`; after a purge it deletes the
/// segments nothing kept lies in any more.
fn commit(
    segments: &mut Segments,
    mut batch: Vec<Write>,
    index: &Mutex<LogIndex>,
) -> Result<Vec<Write>, Failed> {
    let mut records = Vec::new();
    for w in &mut batch {
        match w {
            Write::Append { entries, .. } => {
                records.extend(std::mem::take(entries).into_iter().map(Record::Entry));
            }
            Write::Vote { vote, .. } => records.push(Record::Vote(index::encode_vote(vote))),
            Write::Committed { id } => records.push(Record::Committed(index::encode_committed(id))),
            Write::Truncate { from, .. } => records.push(Record::Truncate(*from)),
            Write::Purge { log_id, .. } => {
                records.push(Record::Purge(index::encode_log_id(log_id)));
            }
        }
    }
    let hints_only = batch.iter().all(|w| matches!(w, Write::Committed { .. }));
    let written = segments.append(&records).and_then(|at| {
        if !hints_only {
            segments.sync()?;
        }
        Ok(at)
    });
    let locations = match written {
        Ok(at) => at,
        Err(e) => return Err((batch, e)),
    };
    let purged = publish(&batch, &locations, segments, index);
    if purged {
        let keep = lock(index).oldest_segment().unwrap_or(segments.current());
        if let Err(e) = segments.remove_below(keep) {
            return Err((batch, e));
        }
        lock(index).refresh_reader(segments);
    }
    Ok(batch)
}

/// Makes the batch's effects visible: entries move from pending to their locations, the
/// vote, truncation and purge take effect. Answers whether the batch purged.
fn publish(
    batch: &[Write],
    locations: &[Location],
    segments: &Segments,
    index: &Mutex<LogIndex>,
) -> bool {
    let mut index = lock(index);
    // A roll-over added a file: readers must know it before they learn of entries in it.
    index.refresh_reader(segments);
    let mut at = locations.iter().copied();
    let mut purged = false;
    for w in batch {
        match w {
            Write::Append { ids, .. } => {
                let here: Vec<Location> = at.by_ref().take(ids.len()).collect();
                index.durable(ids, &here);
            }
            Write::Vote { vote, .. } => {
                at.next();
                index.vote = Some(*vote);
            }
            Write::Committed { .. } => {
                at.next();
            }
            Write::Truncate { from, .. } => {
                at.next();
                index.truncate(*from);
            }
            Write::Purge { log_id, .. } => {
                at.next();
                index.purge(*log_id);
                purged = true;
            }
        }
    }
    purged
}

/// Tells everyone in `batch` how it went.
fn finish(batch: Vec<Write>, result: Result<(), String>) {
    for w in batch {
        match w {
            Write::Append { callback, .. } => {
                callback.io_completed(result.clone().map_err(std::io::Error::other));
            }
            Write::Vote { done, .. } | Write::Truncate { done, .. } | Write::Purge { done, .. } => {
                let _ = done.send(result.clone());
            }
            Write::Committed { .. } => {}
        }
    }
}
