//! Tests of the segment-file log store: our own (append, reopen, truncate, purge, bounded
//! reads, segment roll-over and removal) and the log-only cases of openraft's storage suite
//! (the full suite, with the state machine, is `state_machine/tests/storage_suite.rs`).

// openraft 0.10 names its log types through the type config; short names for the tests.
use openraft::vote::RaftLeaderId as _;
type Entry = openraft::type_config::alias::EntryOf<crate::raft::TypeConfig>;
type CommittedLeaderId = openraft::type_config::alias::CommittedLeaderIdOf<crate::raft::TypeConfig>;
use crate::raft::TypeConfig;
use openraft::{LogId, Vote};

use openraft::type_config::alias::LogIdOf;
use std::path::PathBuf;

use openraft::EntryPayload;
use openraft::storage::RaftLogStorageExt;
use openraft::testing::log::{StoreBuilder, Suite};

use crate::raft::state_machine::StateMachine;

use super::*;
use crate::store::Command;
use prost::Message;

fn log_id(term: u64, index: u64) -> LogIdOf<TypeConfig> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entry(term: u64, index: u64) -> Entry {
    let cmd = Command::KvSet {
        key: format!("k{index}"),
        value: vec![index as u8],
        flags: 0,
    };
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(cmd),
    }
}

/// An entry whose value is `bytes` long.
fn valued(term: u64, index: u64, bytes: usize) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command::KvSet {
            key: format!("k{index}"),
            value: vec![index as u8; bytes],
            flags: 0,
        }),
    }
}

fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    indexes.map(|i| entry(term, i)).collect()
}

/// A log directory in a fresh temporary directory; it lives as long as the guard.
fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = LogStore::dir_in(dir.path());
    (dir, path)
}

async fn open(path: &Path) -> LogStore {
    LogStore::open_with(path, &Deps::production(), LogOptions::small())
        .await
        .unwrap()
}

/// A fresh log in its own temp dir (the guard deletes it).
async fn fresh() -> (tempfile::TempDir, LogStore) {
    let (dir, path) = temp_log();
    (dir, open(&path).await)
}

/// Drops `store` and waits until its writer has closed the files (the lock is then free).
async fn close(store: LogStore) {
    let mut closed = store.closed();
    drop(store);
    closed.wait_for(|c| *c).await.unwrap();
}

async fn indexes(store: &mut LogStore) -> Vec<u64> {
    let all = store.try_get_log_entries(..).await.unwrap();
    all.iter().map(|e| e.log_id.index).collect()
}

#[tokio::test]
async fn appended_batches_read_back_in_order() {
    let (_dir, mut store) = fresh().await;
    let state = store.get_log_state().await.unwrap();
    assert_eq!((state.last_purged_log_id, state.last_log_id), (None, None));

    store.blocking_append(entries(1, 1..=5)).await.unwrap();
    store.blocking_append(entries(2, 6..=7)).await.unwrap();
    store.blocking_append(Vec::new()).await.unwrap();

    let mut reader = store.get_log_reader().await;
    assert_eq!(
        reader.try_get_log_entries(2..4).await.unwrap(),
        entries(1, 2..=3)
    );
    assert_eq!(
        reader.try_get_log_entries(6..).await.unwrap(),
        entries(2, 6..=7)
    );
    assert!(reader.try_get_log_entries(8..10).await.unwrap().is_empty());
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(2, 7)));
    assert_eq!(state.last_purged_log_id, None);
}

#[tokio::test]
async fn reopening_the_file_keeps_entries_vote_and_committed() {
    let (_dir, path) = temp_log();
    {
        let mut store = open(&path).await;
        store.blocking_append(entries(3, 1..=4)).await.unwrap();
        // save_committed does not wait; the vote, which does, is written after it.
        store.save_committed(Some(log_id(3, 2))).await.unwrap();
        store.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
        close(store).await;
    }
    let mut store = open(&path).await;
    assert_eq!(
        store.try_get_log_entries(..).await.unwrap(),
        entries(3, 1..=4)
    );
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(3, 1))
    );
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(3, 2)));
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id(3, 4))
    );

    store.save_committed(None).await.unwrap();
    assert_eq!(store.read_committed().await.unwrap(), None);
}

#[tokio::test]
async fn truncate_after_removes_the_conflicting_suffix() {
    let (_dir, mut store) = fresh().await;
    store.blocking_append(entries(1, 1..=10)).await.unwrap();

    // openraft 0.10 keeps the id it names and removes what follows.
    store.truncate_after(Some(log_id(1, 5))).await.unwrap();
    assert_eq!(indexes(&mut store).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id(1, 5))
    );

    // A new leader's entries take the freed indexes.
    store.blocking_append(entries(2, 6..=7)).await.unwrap();
    assert_eq!(
        store.try_get_log_entries(6..).await.unwrap(),
        entries(2, 6..=7)
    );
}

#[tokio::test]
async fn purge_moves_the_start_and_survives_purging_everything() {
    let (_dir, path) = temp_log();
    {
        let mut store = open(&path).await;
        store.blocking_append(entries(1, 1..=10)).await.unwrap();

        store.purge(log_id(1, 3)).await.unwrap();
        assert_eq!(indexes(&mut store).await, (4..=10).collect::<Vec<_>>());
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
        assert_eq!(state.last_log_id, Some(log_id(1, 10)));

        store.purge(log_id(1, 10)).await.unwrap();
        assert!(indexes(&mut store).await.is_empty());
        close(store).await;
    }
    // After a restart the empty log still ends where it was cut, not at "nothing".
    let mut store = open(&path).await;
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 10)));
    assert_eq!(state.last_log_id, Some(log_id(1, 10)));
}

#[tokio::test]
async fn limited_reads_stop_at_the_byte_budget_but_return_at_least_one_entry() {
    let (_dir, path) = temp_log();
    let mut store = open_sized(&path, 16 << 20).await;
    let big = |index: u64| valued(1, index, REPLICATION_BATCH_BYTES * 3 / 4);
    store.blocking_append((1..=3).map(big)).await.unwrap();

    let limited = store.limited_get_log_entries(1, 4).await.unwrap();
    assert_eq!(limited.len(), 1, "a second entry would exceed the budget");
    assert_eq!(store.try_get_log_entries(1..4).await.unwrap().len(), 3);
}

/// Builds a fresh log store for each suite case, beside a real state machine, both in one
/// temp dir (the log-only cases never touch the state machine; the temp dir is the guard).
struct TempLogs;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for TempLogs {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), openraft::StorageError<TypeConfig>>
    {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&LogStore::dir_in(dir.path())).await;
        let sm = StateMachine::open(dir.path(), &Deps::production(), 2)
            .await
            .unwrap();
        Ok((dir, store, sm))
    }
}

/// What [`TempLogs`] builds, with a log that keeps no synced entry in memory.
async fn built_from_disk() -> (tempfile::TempDir, LogStore, StateMachine) {
    let dir = tempfile::tempdir().unwrap();
    let path = LogStore::dir_in(dir.path());
    let options = LogOptions::small_from_disk();
    let store = LogStore::open_with(&path, &Deps::production(), options)
        .await
        .unwrap();
    let sm = StateMachine::open(dir.path(), &Deps::production(), 2)
        .await
        .unwrap();
    (dir, store, sm)
}

type LogSuite = Suite<TypeConfig, LogStore, StateMachine, TempLogs, tempfile::TempDir>;

/// One `#[tokio::test]` per openraft suite case, so their built-in sleeps run in parallel.
/// Run twice: as a node runs (recent entries read from memory) and with every durable
/// entry read back from the segments.
macro_rules! suite_cases {
    ($($case:ident),* $(,)?) => {
        mod openraft_suite {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let (_dir, store, sm) = TempLogs.build().await.unwrap();
                    LogSuite::$case(store, sm).await.unwrap();
                }
            )*
        }
        mod openraft_suite_from_disk {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let (_dir, store, sm) = built_from_disk().await;
                    LogSuite::$case(store, sm).await.unwrap();
                }
            )*
        }
    };
}

suite_cases!(
    save_vote,
    initial_logs,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    get_log_state,
    get_log_id,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_after_11,
    delete_logs_after_5,
    delete_logs_after_0,
    delete_logs_after_none,
    leader_bounded_stream,
    entries_stream,
    log_reader_reads_new_entries,
    last_id_in_log,
    append_to_log,
);

/// Entries big enough that a few fill a 64 KiB segment.
fn bulky(term: u64, index: u64) -> Entry {
    valued(term, index, 3000)
}

fn segment_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count()
}

async fn open_sized(path: &Path, segment_bytes: u64) -> LogStore {
    // Every read of a synced entry goes to the segments: these tests are about the files.
    let options = LogOptions {
        segment_bytes,
        ..LogOptions::small_from_disk()
    };
    LogStore::open_with(path, &Deps::production(), options)
        .await
        .unwrap()
}

#[tokio::test]
async fn entries_span_segments_and_a_purge_deletes_the_segments_it_emptied() {
    let (_dir, path) = temp_log();
    {
        let mut store = open_sized(&path, 64 * 1024).await;
        store.save_vote(&Vote::new_committed(4, 1)).await.unwrap();
        for i in 1..=100 {
            store.blocking_append([bulky(4, i)]).await.unwrap();
        }
        let files = segment_count(&path);
        assert!(files >= 4, "100 x 3 KB in 64 KiB segments: {files} files");
        assert_eq!(indexes(&mut store).await, (1..=100).collect::<Vec<_>>());
        let got = store.try_get_log_entries(40..43).await.unwrap();
        assert_eq!(got, (40..43).map(|i| bulky(4, i)).collect::<Vec<_>>());

        store.purge(log_id(4, 90)).await.unwrap();
        assert!(
            segment_count(&path) < files,
            "segments holding only purged entries are deleted"
        );
        assert_eq!(indexes(&mut store).await, (91..=100).collect::<Vec<_>>());
        close(store).await;
    }
    // The vote was written in the first segment, long deleted: every new segment repeats it.
    let mut store = open_sized(&path, 64 * 1024).await;
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(4, 1))
    );
    assert_eq!(indexes(&mut store).await, (91..=100).collect::<Vec<_>>());
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(4, 90)));
    assert_eq!(state.last_log_id, Some(log_id(4, 100)));
}

#[tokio::test]
async fn a_truncation_holds_after_reopening() {
    let (_dir, path) = temp_log();
    {
        let mut store = open(&path).await;
        store.blocking_append(entries(1, 1..=8)).await.unwrap();
        store.truncate_after(Some(log_id(1, 4))).await.unwrap();
        store.blocking_append(entries(2, 5..=6)).await.unwrap();
        close(store).await;
    }
    let mut store = open(&path).await;
    let mut want = entries(1, 1..=4);
    want.extend(entries(2, 5..=6));
    assert_eq!(store.try_get_log_entries(..).await.unwrap(), want);
    assert_eq!(
        store.get_log_state().await.unwrap().last_log_id,
        Some(log_id(2, 6))
    );
}

/// The committed id is written at once, not held for a later write: a node shut down right
/// after its last commit must restart knowing it (the bug f93ceb9 reverted).
#[tokio::test]
async fn the_committed_id_survives_a_shutdown_with_no_write_after_it() {
    let (_dir, path) = temp_log();
    {
        let mut store = open(&path).await;
        store.blocking_append(entries(1, 1..=3)).await.unwrap();
        store.save_committed(Some(log_id(1, 3))).await.unwrap();
        close(store).await;
    }
    let mut store = open(&path).await;
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 3)));
}

#[tokio::test]
async fn readers_see_every_entry_while_appends_roll_over_segments() {
    let (_dir, path) = temp_log();
    let mut store = open_sized(&path, 64 * 1024).await;
    let mut reader = store.get_log_reader().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reads = tokio::spawn(async move {
        let mut rounds = 0u32;
        // Bounded: stops when told, or after many rounds.
        while !*stop_rx.borrow() && rounds < 2_000 {
            let got = reader.try_get_log_entries(1..).await.unwrap();
            for (i, e) in got.iter().enumerate() {
                assert_eq!(*e, bulky(1, i as u64 + 1), "entries in order, none missing");
            }
            rounds += 1;
            tokio::task::yield_now().await;
        }
        rounds
    });
    for chunk in 0..30u64 {
        let batch: Vec<Entry> = (chunk * 4 + 1..=chunk * 4 + 4)
            .map(|i| bulky(1, i))
            .collect();
        store.blocking_append(batch).await.unwrap();
    }
    // The reader may already have stopped at its bound.
    let _ = stop_tx.send(true);
    assert!(reads.await.unwrap() > 0);
    assert!(segment_count(&path) > 3);
    assert_eq!(indexes(&mut store).await, (1..=120).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_bounded_read_stops_before_the_entry_that_would_pass_the_budget() {
    let (_dir, path) = temp_log();
    let mut store = open_sized(&path, 16 << 20).await;
    // Each entry a little over 30% of the budget: three fit, the fourth would not.
    let big = |index: u64| valued(1, index, REPLICATION_BATCH_BYTES * 31 / 100);
    store.blocking_append((1..=5).map(big)).await.unwrap();
    let limited = store.limited_get_log_entries(1, 10).await.unwrap();
    let got: Vec<u64> = limited.iter().map(|e| e.log_id.index).collect();
    assert_eq!(got, vec![1, 2, 3], "the fourth would pass the byte budget");
    let rest = store.limited_get_log_entries(4, 10).await.unwrap();
    assert_eq!(rest.len(), 2);
}

#[tokio::test]
async fn a_log_from_an_older_version_in_redb_is_moved_into_segments() {
    let (dir, path) = temp_log();
    let old = path.with_extension("redb");
    {
        let db = redb::Database::create(&old).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut log = txn.open_table(migrate::LOG).unwrap();
            for e in entries(2, 5..=9) {
                log.insert(e.log_id.index, codec::entry_to_bytes(e).as_slice())
                    .unwrap();
            }
            let mut meta = txn.open_table(migrate::META).unwrap();
            let vote = codec::encode_vote(&Vote::new_committed(2, 1)).encode_to_vec();
            meta.insert("vote", vote.as_slice()).unwrap();
            let committed = codec::encode_log_id(&log_id(2, 8)).encode_to_vec();
            meta.insert("committed", committed.as_slice()).unwrap();
            let purged = codec::encode_log_id(&log_id(1, 4)).encode_to_vec();
            meta.insert("last_purged", purged.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    // A move cut short by a crash left a half-made directory; it is started over.
    std::fs::create_dir_all(path.with_extension("migrating")).unwrap();
    std::fs::write(path.with_extension("migrating").join("junk.seg"), b"x").unwrap();
    // While another opener holds the old file, the move does not start and leaves the
    // other's directory alone.
    let held = redb::Database::create(&old).unwrap();
    let refused = LogStore::open_with(&path, &Deps::production(), LogOptions::small()).await;
    assert!(refused.is_err(), "the old file is in use");
    assert!(path.with_extension("migrating").join("junk.seg").exists());
    drop(held);

    let mut store = open(&path).await;
    assert!(!old.exists(), "the redb file is gone once moved");
    assert!(!path.with_extension("migrating").exists());
    assert_eq!(
        store.try_get_log_entries(..).await.unwrap(),
        entries(2, 5..=9)
    );
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(2, 1))
    );
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(2, 8)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
    assert_eq!(state.last_log_id, Some(log_id(2, 9)));
    drop(store);
    drop(dir);
}
