//! The log's single writer: group commit for every mutation of the Raft log.
//!
//! openraft hands the log store one `append` per batch of client writes and waits for
//! `append` to return before it hands over the next. If `append` waited for its own fsync,
//! every batch would pay a whole fsync in turn and nothing more would ever group. Instead `append`
//! queues its entries here (they are readable at once through the log store's pending
//! map) and returns; this task takes everything queued since its last commit, writes it in
//! ONE redb transaction with one fsync, and only then calls each batch's
//! `io_completed`. While one fsync runs, new writes pile up for the next, so the cost of
//! an fsync is shared by every write that arrived during the previous one.
//!
//! Every other mutation (vote, committed id, truncate, purge) goes through the same queue,
//! so they apply in exactly the order openraft issued them, and those openraft waits for
//! (vote, truncate, purge) answer only after their transaction is durable.
//!
//! The committed log id, which openraft reports after every commit, gets a transaction
//! without an fsync when nothing else is queued with it (so a second, cheap, transaction per
//! write). It must not wait for the next write instead: a node shut down after its last
//! write would then restart with an older committed id and report ready before it has
//! applied writes it acknowledged (`tests/recovery.rs` caught exactly that).

use openraft::type_config::alias::LogIdOf;
use std::sync::{Arc, Weak};

use openraft::storage::IOFlushed;
use tokio::sync::{mpsc, oneshot, watch};

use super::{LOG, META, TypeConfig};
use crate::deps::BlockingExecutor;
use crate::faults::{self, FaultPoints};
use crate::raft::stages::{Stage, Stages};

/// Most queued mutations one transaction takes; the rest wait for the next one.
const MAX_BATCH: usize = 4096;

/// One queued mutation of the log.
pub(super) enum Write {
    /// New entries (index, encoded entry); `io_completed` once durable.
    Append {
        entries: Vec<(u64, Vec<u8>)>,
        ids: Vec<LogIdOf<TypeConfig>>,
        callback: IOFlushed<TypeConfig>,
    },
    /// Set (or, with `None`, remove) one meta key. `done` answers once durable; `None`
    /// when nobody waits (the committed log id).
    Meta {
        key: &'static str,
        value: Option<Vec<u8>>,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// Remove every entry from `from` on.
    Truncate {
        from: u64,
        done: oneshot::Sender<Result<(), String>>,
    },
    /// Record the purge point and remove every entry up to `upto`, in one step.
    Purge {
        upto: u64,
        purged: Vec<u8>,
        purged_key: &'static str,
        done: oneshot::Sender<Result<(), String>>,
    },
}

/// Called after each commit with the ids of the entries it made durable, so the log store
/// can drop them from its pending map.
pub(super) type OnDurable = Box<dyn Fn(&[LogIdOf<TypeConfig>]) + Send + Sync>;

/// Starts the writer for `db`. It runs until every sender is dropped; it holds the database
/// only weakly between batches, so once the last `LogStore` is dropped and the batch in
/// flight (if any) is done, the file is closed. The receiver turns `true` at that point.
pub(super) fn spawn(
    db: Weak<redb::Database>,
    blocking: BlockingExecutor,
    on_durable: OnDurable,
    faults: FaultPoints,
    stages: Arc<Stages>,
) -> (mpsc::UnboundedSender<Write>, watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    let (closed_tx, closed_rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            let Some(db) = db.upgrade() else {
                finish(batch, Err("the raft log is closed".to_owned()), &on_durable);
                continue;
            };
            let size = batch.len();
            let started = tokio::time::Instant::now();
            let faults = faults.clone();
            let (batch, result) = blocking
                .run(move || {
                    faults.pause_blocking(faults::LOG_FSYNC);
                    let result = commit(&db, &batch).map_err(|e| e.to_string());
                    (batch, result)
                })
                .await;
            let elapsed = started.elapsed();
            let entries: usize = batch
                .iter()
                .map(|w| match w {
                    Write::Append { entries, .. } => entries.len(),
                    _ => 0,
                })
                .sum();
            stages.record(Stage::LogWrite, elapsed, entries as u64);
            tracing::debug!(size, ?elapsed, "raft log batch committed");
            if let Err(e) = &result {
                tracing::error!("raft log write failed: {e}");
            }
            finish(batch, result, &on_durable);
        }
        let _ = closed_tx.send(true);
    });
    (tx, closed_rx)
}

/// Writes a whole batch in one transaction, in queue order, and commits it durably, unless
/// it holds nothing but restart hints (the committed log id) that nobody waits for: those
/// are committed without an fsync and become durable with the next durable commit (redb
/// guarantees a crash never loses a durable commit because of a later non-durable one).
fn commit(db: &redb::Database, batch: &[Write]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    let hints_only = batch
        .iter()
        .all(|w| matches!(w, Write::Meta { done: None, .. }));
    if hints_only {
        txn.set_durability(redb::Durability::None)?;
    }
    {
        let mut log = txn.open_table(LOG)?;
        let mut meta = txn.open_table(META)?;
        for w in batch {
            match w {
                Write::Append { entries, .. } => {
                    for (index, bytes) in entries {
                        log.insert(*index, bytes.as_slice())?;
                    }
                }
                Write::Meta { key, value, .. } => match value {
                    Some(v) => {
                        meta.insert(*key, v.as_slice())?;
                    }
                    None => {
                        meta.remove(*key)?;
                    }
                },
                Write::Truncate { from, .. } => {
                    log.retain_in(*from.., |_, _| false)?;
                }
                Write::Purge {
                    upto,
                    purged,
                    purged_key,
                    ..
                } => {
                    meta.insert(*purged_key, purged.as_slice())?;
                    log.retain_in(..=*upto, |_, _| false)?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// Tells everyone in `batch` how it went, after dropping the now-durable entries from the
/// pending map (so readers find them in redb instead).
fn finish(batch: Vec<Write>, result: Result<(), String>, on_durable: &OnDurable) {
    if result.is_ok() {
        let ids: Vec<LogIdOf<TypeConfig>> = batch
            .iter()
            .filter_map(|w| match w {
                Write::Append { ids, .. } => Some(ids.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        on_durable(&ids);
    }
    for w in batch {
        match w {
            Write::Append { callback, .. } => {
                callback.io_completed(result.clone().map_err(std::io::Error::other));
            }
            Write::Meta { done, .. } => {
                if let Some(done) = done {
                    let _ = done.send(result.clone());
                }
            }
            Write::Truncate { done, .. } | Write::Purge { done, .. } => {
                let _ = done.send(result.clone());
            }
        }
    }
}
