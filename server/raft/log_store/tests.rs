//! Tests of the redb log store: our own (append, reopen, truncate, purge, bounded reads) and
//! the log-only cases of openraft's storage suite. The full suite also exercises a state
//! machine; it can run once `raft::state_machine` exists.

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
use crate::deps::MemoryDisk;
use crate::store::Command;

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

fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
    indexes.map(|i| entry(term, i)).collect()
}

fn memory_deps() -> Deps {
    Deps {
        disk: Arc::new(MemoryDisk),
        ..Deps::production()
    }
}

/// A log file in a fresh temporary directory; the directory lives as long as the guard.
fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft-log.redb");
    (dir, path)
}

async fn indexes(store: &mut LogStore) -> Vec<u64> {
    let all = store.try_get_log_entries(..).await.unwrap();
    all.iter().map(|e| e.log_id.index).collect()
}

#[tokio::test]
async fn appended_batches_read_back_in_order() {
    let mut store = LogStore::open(Path::new("mem"), &memory_deps())
        .await
        .unwrap();
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
    let deps = Deps::production();
    {
        let mut store = LogStore::open(&path, &deps).await.unwrap();
        store.blocking_append(entries(3, 1..=4)).await.unwrap();
        // save_committed does not wait: it becomes durable with the next transaction,
        // here the vote's, which does wait.
        store.save_committed(Some(log_id(3, 2))).await.unwrap();
        store.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
    }
    let mut store = LogStore::open(&path, &deps).await.unwrap();
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
    let mut store = LogStore::open(Path::new("mem"), &memory_deps())
        .await
        .unwrap();
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
    let deps = Deps::production();
    {
        let mut store = LogStore::open(&path, &deps).await.unwrap();
        store.blocking_append(entries(1, 1..=10)).await.unwrap();

        store.purge(log_id(1, 3)).await.unwrap();
        assert_eq!(indexes(&mut store).await, (4..=10).collect::<Vec<_>>());
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
        assert_eq!(state.last_log_id, Some(log_id(1, 10)));

        store.purge(log_id(1, 10)).await.unwrap();
        assert!(indexes(&mut store).await.is_empty());
    }
    // After a restart the empty log still ends where it was cut, not at "nothing".
    let mut store = LogStore::open(&path, &deps).await.unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 10)));
    assert_eq!(state.last_log_id, Some(log_id(1, 10)));
}

#[tokio::test]
async fn limited_reads_stop_at_the_byte_budget_but_return_at_least_one_entry() {
    let mut store = LogStore::open(Path::new("mem"), &memory_deps())
        .await
        .unwrap();
    let big = |index: u64| Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(Command::KvSet {
            key: format!("big{index}"),
            value: vec![7; REPLICATION_BATCH_BYTES * 3 / 4],
            flags: 0,
        }),
    };
    store.blocking_append((1..=3).map(big)).await.unwrap();

    let limited = store.limited_get_log_entries(1, 4).await.unwrap();
    assert_eq!(limited.len(), 1, "a second entry would exceed the budget");
    assert_eq!(store.try_get_log_entries(1..4).await.unwrap().len(), 3);
}

/// Builds a fresh in-memory log store for each suite case, beside a real state machine in its
/// own temp dir (the log-only cases never touch it; the temp dir is the guard).
struct MemoryLogs;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for MemoryLogs {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), openraft::StorageError<TypeConfig>>
    {
        let store = LogStore::open(Path::new("mem"), &memory_deps())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachine::open(dir.path(), &Deps::production(), 2)
            .await
            .unwrap();
        Ok((dir, store, sm))
    }
}

type LogSuite = Suite<TypeConfig, LogStore, StateMachine, MemoryLogs, tempfile::TempDir>;

/// One `#[tokio::test]` per openraft suite case, so their built-in sleeps run in parallel.
macro_rules! suite_cases {
    ($($case:ident),* $(,)?) => {
        mod openraft_suite {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let (_dir, store, sm) = MemoryLogs.build().await.unwrap();
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
