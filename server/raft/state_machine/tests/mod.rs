//! State machine tests: no cluster, just the adapter, real files in a temp dir and the
//! openraft trait methods called the way openraft calls them. This file holds the shared
//! helpers and the apply tests; `snapshots` covers building, restoring, installing and
//! pruning snapshot files; `storage_suite` runs openraft's own suite with the redb log store.

// openraft 0.10 names its log types through the type config; short names for the tests.
use openraft::vote::RaftLeaderId as _;
type Entry = openraft::type_config::alias::EntryOf<crate::raft::TypeConfig>;
type CommittedLeaderId = openraft::type_config::alias::CommittedLeaderIdOf<crate::raft::TypeConfig>;
use crate::raft::{Member, NodeId, TypeConfig};
use openraft::LogId;

mod snapshots;
mod storage_suite;

use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::StoredMembership;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, Membership, RaftSnapshotBuilder};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::*;
use crate::store::{Command, KvSetItem};

fn deps() -> Deps {
    Deps::production()
}

fn inline_deps() -> Deps {
    Deps {
        blocking: BlockingExecutor::Inline,
        ..Deps::production()
    }
}

fn log_id(term: u64, index: u64) -> LogIdOf<TypeConfig> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

fn members(ids: &[NodeId]) -> Membership<NodeId, Member> {
    let voters: BTreeSet<NodeId> = ids.iter().copied().collect();
    let nodes: BTreeMap<NodeId, Member> = ids
        .iter()
        .map(|id| {
            let member = Member {
                name: format!("node{id}"),
                raft_addr: format!("127.0.0.1:{}", 7000 + id),
                client_addr: format!("127.0.0.1:{}", 8000 + id),
                incarnation: *id,
            };
            (*id, member)
        })
        .collect();
    Membership::new(vec![voters], nodes).expect("every voter has a node")
}

fn membership(term: u64, index: u64, ids: &[NodeId]) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(members(ids)),
    }
}

fn command(term: u64, index: u64, command: Command) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(command),
    }
}

fn set(term: u64, index: u64, key: &str, value: &str) -> Entry {
    let value = value.as_bytes().to_vec();
    command(
        term,
        index,
        Command::KvSet {
            key: key.to_string(),
            value,
            flags: 0,
        },
    )
}

/// A log with every kind of entry: membership changes, blanks (new leaders) and KV
/// commands, including a CAS that succeeds, one that fails and a batch.
fn mixed_log() -> Vec<Entry> {
    vec![
        membership(1, 0, &[1]),
        blank(1, 1),
        set(1, 2, "a", "1"),
        set(1, 3, "b", "2"),
        membership(1, 4, &[1, 2, 3]),
        command(
            1,
            5,
            Command::KvSetCas {
                key: "a".to_string(),
                value: b"3".to_vec(),
                expected_index: 2,
            },
        ),
        blank(2, 6),
        command(
            2,
            7,
            Command::KvDelete {
                key: "b".to_string(),
            },
        ),
        command(
            2,
            8,
            Command::KvSetCas {
                key: "c".to_string(),
                value: b"x".to_vec(),
                expected_index: 99,
            },
        ),
        command(
            2,
            9,
            Command::KvBatchSet {
                items: vec![
                    KvSetItem {
                        key: "d/1".to_string(),
                        value: b"4".to_vec(),
                        flags: 7,
                    },
                    KvSetItem {
                        key: "d/2".to_string(),
                        value: vec![0, 255],
                        flags: 0,
                    },
                ],
            },
        ),
    ]
}

async fn open(dir: &Path, retention: usize) -> StateMachine {
    StateMachine::open(dir, &deps(), retention)
        .await
        .expect("open state machine")
}

/// Complete snapshot files in `dir`, sorted by name (oldest first).
fn snap_files(dir: &Path) -> Vec<String> {
    files_ending(dir, ".snap")
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

async fn bytes_of(snapshot: &mut SnapshotOf<TypeConfig, tokio::fs::File>) -> Vec<u8> {
    let mut bytes = Vec::new();
    snapshot.snapshot.rewind().await.unwrap();
    snapshot.snapshot.read_to_end(&mut bytes).await.unwrap();
    bytes
}

async fn build(sm: &mut StateMachine) -> SnapshotOf<TypeConfig, tokio::fs::File> {
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build snapshot")
}

/// What a follower does with a leader's snapshot: the peer service receives it in chunks into
/// a file of its own (outside the snapshot dir), then openraft installs that file.
async fn receive_and_install(
    follower: &mut StateMachine,
    meta: &SnapshotMetaOf<TypeConfig>,
    bytes: &[u8],
) -> std::io::Result<()> {
    let incoming = tempfile::tempfile().unwrap();
    let mut file = tokio::fs::File::from_std(incoming);
    for (i, chunk) in bytes.chunks(7).enumerate() {
        file.seek(std::io::SeekFrom::Start((i * 7) as u64))
            .await
            .unwrap();
        file.write_all(chunk).await.unwrap();
    }
    file.shutdown().await.unwrap();
    follower.install_snapshot(meta, file).await
}

/// Flips one byte; a negative `at` counts from the end.
fn flip_byte(path: &Path, at: isize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = if at < 0 {
        bytes.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    bytes[at] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn apply_blank_and_membership_entries_updates_applied_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 2).await;
    let view = sm.view();

    assert_eq!(
        sm.applied_state().await.unwrap(),
        (None, StoredMembership::default())
    );
    assert_eq!(view.applied_index(), 0);

    let responses = sm
        .apply_entries([
            membership(1, 0, &[1]),
            blank(1, 1),
            membership(1, 2, &[1, 2, 3]),
        ])
        .await
        .unwrap();
    assert_eq!(responses, vec![Response::None; 3]);

    let expected = StoredMembership::new(Some(log_id(1, 2)), members(&[1, 2, 3]));
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (Some(log_id(1, 2)), expected.clone())
    );
    assert_eq!(view.applied_index(), 2);
    assert_eq!(view.membership(), expected);

    // A blank entry moves last_applied but keeps the membership.
    sm.apply_entries([blank(2, 3)]).await.unwrap();
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (Some(log_id(2, 3)), expected)
    );
    assert_eq!(view.applied_index(), 3);
    assert_eq!(view.read(|s| s.len()), 0);

    assert!(sm.get_current_snapshot().await.unwrap().is_none());
    assert!(snap_files(dir.path()).is_empty());
}

#[tokio::test]
async fn commands_apply_at_their_log_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 2).await;
    let responses = sm.apply_entries(mixed_log()).await.unwrap();
    assert_eq!(responses.len(), 10, "one response per entry, in order");
    let written = |key: &str, create_index, modify_index, flags| Response::Written {
        key: key.to_string(),
        flags,
        create_index,
        modify_index,
    };
    assert_eq!(responses[0], Response::None);
    assert_eq!(responses[1], Response::None);
    assert_eq!(responses[2], written("a", 2, 2, 0));
    assert_eq!(responses[3], written("b", 3, 3, 0));
    assert_eq!(responses[4], Response::None);
    assert_eq!(responses[5], written("a", 2, 5, 0));
    assert_eq!(responses[6], Response::None);
    assert_eq!(responses[7], Response::Deleted { existed: true });
    assert!(
        matches!(responses[8], Response::CasFailed(_)),
        "{:?}",
        responses[8]
    );
    assert_eq!(
        responses[9],
        Response::BatchWritten {
            keys: vec!["d/1".to_string(), "d/2".to_string()],
            index: 9
        }
    );

    let view = sm.view();
    assert_eq!(view.applied_index(), 9);
    assert_eq!(view.membership().log_id(), &Some(log_id(1, 4)));
    let a = view.read(|s| s.get("a").cloned()).expect("a exists");
    assert_eq!(
        (a.value.as_slice(), a.create_index, a.modify_index),
        (&b"3"[..], 2, 5)
    );
    assert!(view.read(|s| s.get("b").is_none()));
    assert!(view.read(|s| s.get("c").is_none()));
    assert_eq!(view.read(|s| s.range_prefix("d/").count()), 2);
}

#[tokio::test]
async fn snapshot_plus_replay_equals_full_replay() {
    // DESIGN.md §3: restart = latest snapshot + log replay, with the same indices as a node
    // that applied the whole log.
    let log = mixed_log();
    let full_dir = tempfile::tempdir().unwrap();
    let mut full = open(full_dir.path(), 2).await;
    let full_responses = full.apply_entries(log.clone()).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 2).await;
    let (head, tail) = log.split_at(6);
    sm.apply_entries(head.to_vec()).await.unwrap();
    build(&mut sm).await;
    drop(sm);

    let mut restarted = open(dir.path(), 2).await;
    assert_eq!(restarted.view().applied_index(), 5);
    let tail_responses = restarted.apply_entries(tail.to_vec()).await.unwrap();
    assert_eq!(tail_responses, full_responses[6..]);
    assert_eq!(
        restarted.applied_state().await.unwrap(),
        full.applied_state().await.unwrap()
    );
    assert_eq!(
        restarted.view().read(|s| s.clone()),
        full.view().read(|s| s.clone())
    );
}
