//! Snapshot tests: build and restart, install on a follower, damaged data, retention.

use super::*;

#[tokio::test]
async fn built_snapshot_is_current_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 2).await;
    sm.apply_entries([membership(1, 0, &[1, 2]), set(1, 1, "k", "v"), blank(2, 2)])
        .await
        .unwrap();

    let mut built = build(&mut sm).await;
    let membership = StoredMembership::new(Some(log_id(1, 0)), members(&[1, 2]));
    assert_eq!(built.meta.last_log_id, Some(log_id(2, 2)));
    assert_eq!(built.meta.last_membership, membership);
    // Deterministic file name: index then seq, seq starting at 1 in a fresh directory.
    assert_eq!(
        snap_files(dir.path()),
        [format!("snapshot-{:020}-{:020}.snap", 2, 1)]
    );

    let mut current = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("current snapshot");
    assert_eq!(current.meta, built.meta);
    assert_eq!(bytes_of(&mut current).await, bytes_of(&mut built).await);
    assert_eq!(snap_files(dir.path()).len(), 1);
    assert!(files_ending(dir.path(), ".part").is_empty());

    let before = sm.applied_state().await.unwrap();
    let store_before = sm.view().read(|s| s.clone());
    drop(sm);

    let mut reopened = open(dir.path(), 2).await;
    assert_eq!(reopened.applied_state().await.unwrap(), before);
    assert_eq!(reopened.view().read(|s| s.clone()), store_before);
    assert_eq!(reopened.view().applied_index(), 2);
    let k = reopened
        .view()
        .read(|s| s.get("k").cloned())
        .expect("k restored");
    assert_eq!(
        (k.value, k.create_index, k.modify_index),
        (b"v".to_vec(), 1, 1)
    );
    let current = reopened
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("current snapshot");
    assert_eq!(current.meta, built.meta);

    // The sequence continues above what is on disk: a new snapshot of the same state gets a
    // new file and becomes the current one.
    let again = build(&mut reopened).await;
    assert!(
        snap_files(dir.path()).contains(&format!("snapshot-{:020}-{:020}.snap", 2, 2)),
        "{:?}",
        snap_files(dir.path())
    );
    let current = reopened
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("current snapshot");
    assert_eq!(current.meta, again.meta);
}

#[tokio::test]
async fn follower_installs_the_leaders_snapshot_file() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), 2).await;
    leader.apply_entries(mixed_log()).await.unwrap();
    build(&mut leader).await;

    // The wire: the bytes of the leader's current snapshot file, with its meta.
    let mut sent = leader
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("leader snapshot");
    let bytes = bytes_of(&mut sent).await;

    let mut follower = open(follower_dir.path(), 2).await;
    follower
        .apply_entries([membership(1, 0, &[1, 2, 3])])
        .await
        .unwrap();
    let follower_view = follower.view();
    receive_and_install(&mut follower, &sent.meta, &bytes)
        .await
        .unwrap();

    let leader_state = leader.applied_state().await.unwrap();
    assert_eq!(follower.applied_state().await.unwrap(), leader_state);
    assert_eq!(follower_view.applied_index(), 9);
    assert_eq!(follower_view.read(|s| s.len()), 3);
    assert_eq!(
        follower_view.read(|s| s.clone()),
        leader.view().read(|s| s.clone())
    );

    let mut current = follower
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("installed");
    assert_eq!(current.meta, sent.meta);
    assert_eq!(
        bytes_of(&mut current).await,
        bytes,
        "follower keeps the leader's exact bytes"
    );
    assert_eq!(snap_files(follower_dir.path()).len(), 1);
    assert!(files_ending(follower_dir.path(), ".part").is_empty());

    // And the follower restarts from it.
    drop(follower);
    let mut reopened = open(follower_dir.path(), 2).await;
    assert_eq!(reopened.applied_state().await.unwrap(), leader_state);
}

#[tokio::test]
async fn install_copies_a_foreign_file_handle_from_its_start() {
    // openraft's storage suite hands install_snapshot the leader's own file, positioned
    // anywhere; install reads it from the start and leaves no temp files.
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = StateMachine::open(leader_dir.path(), &inline_deps(), 1)
        .await
        .unwrap();
    leader
        .apply_entries([membership(3, 5, &[1, 2]), blank(3, 6)])
        .await
        .unwrap();
    build(&mut leader).await;
    let mut sent = leader.get_current_snapshot().await.unwrap().unwrap();
    let leader_bytes = bytes_of(&mut sent).await;
    sent.snapshot
        .seek(std::io::SeekFrom::Start(11))
        .await
        .unwrap();

    let mut follower = StateMachine::open(follower_dir.path(), &inline_deps(), 1)
        .await
        .unwrap();
    follower
        .install_snapshot(&sent.meta, sent.snapshot)
        .await
        .unwrap();

    assert_eq!(
        follower.applied_state().await.unwrap(),
        leader.applied_state().await.unwrap()
    );
    let mut current = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(bytes_of(&mut current).await, leader_bytes);
    drop(follower);
    let _reopened = StateMachine::open(follower_dir.path(), &inline_deps(), 1)
        .await
        .unwrap();
    assert!(files_ending(follower_dir.path(), ".part").is_empty());
    assert_eq!(snap_files(follower_dir.path()).len(), 1);
}

#[tokio::test]
async fn install_rejects_damaged_or_mismatched_data_and_keeps_the_state() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), 2).await;
    leader
        .apply_entries([membership(1, 0, &[1, 2]), set(1, 1, "k", "v")])
        .await
        .unwrap();
    let mut sent = build(&mut leader).await;
    let bytes = bytes_of(&mut sent).await;

    let mut follower = open(follower_dir.path(), 2).await;
    follower.apply_entries([blank(1, 0)]).await.unwrap();
    let before = follower.applied_state().await.unwrap();

    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    assert!(
        receive_and_install(&mut follower, &sent.meta, &damaged)
            .await
            .is_err()
    );

    let truncated = &bytes[..bytes.len() - 1];
    assert!(
        receive_and_install(&mut follower, &sent.meta, truncated)
            .await
            .is_err()
    );

    let mut other_meta = sent.meta.clone();
    other_meta.last_log_id = Some(log_id(9, 9));
    assert!(
        receive_and_install(&mut follower, &other_meta, &bytes)
            .await
            .is_err()
    );

    assert_eq!(follower.applied_state().await.unwrap(), before);
    assert!(follower.get_current_snapshot().await.unwrap().is_none());
    assert!(snap_files(follower_dir.path()).is_empty());
    assert!(files_ending(follower_dir.path(), ".part").is_empty());

    // The intact bytes still install afterwards.
    receive_and_install(&mut follower, &sent.meta, &bytes)
        .await
        .unwrap();
    assert_eq!(
        follower.applied_state().await.unwrap(),
        leader.applied_state().await.unwrap()
    );
}

#[tokio::test]
async fn leftover_part_files_are_deleted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let sm = open(dir.path(), 2).await;

    // A crash mid-write or mid-install leaves .part files; open removes them.
    std::fs::write(dir.path().join("build-77.part"), b"half a snapshot").unwrap();
    std::fs::write(dir.path().join("recv-78.part"), b"half a snapshot").unwrap();
    drop(sm);
    let _reopened = open(dir.path(), 2).await;
    assert!(files_ending(dir.path(), ".part").is_empty());
}

#[tokio::test]
async fn retention_keeps_only_the_newest_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 2).await;
    for index in 0..5 {
        sm.apply_entries([blank(1, index)]).await.unwrap();
        build(&mut sm).await;
    }
    let files = snap_files(dir.path());
    assert_eq!(
        files,
        [
            format!("snapshot-{:020}-{:020}.snap", 3, 4),
            format!("snapshot-{:020}-{:020}.snap", 4, 5)
        ]
    );

    // Retention 0 still keeps the current snapshot.
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 0).await;
    for index in 0..3 {
        sm.apply_entries([blank(1, index)]).await.unwrap();
        build(&mut sm).await;
    }
    assert_eq!(snap_files(dir.path()).len(), 1);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id, Some(log_id(1, 2)));
}

#[tokio::test]
async fn corrupt_newest_snapshot_falls_back_to_an_older_valid_one() {
    for damage in ["flip body byte", "flip meta byte", "truncate", "garbage"] {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = open(dir.path(), 3).await;
        sm.apply_entries([membership(1, 0, &[1]), set(1, 1, "k", "old")])
            .await
            .unwrap();
        let older = build(&mut sm).await.meta;
        let older_state = sm.applied_state().await.unwrap();
        sm.apply_entries([membership(2, 2, &[1, 2]), set(2, 3, "k", "new")])
            .await
            .unwrap();
        build(&mut sm).await;
        drop(sm);

        let files = snap_files(dir.path());
        let newest = dir.path().join(files.last().unwrap());
        match damage {
            "flip body byte" => flip_byte(&newest, -1),
            "flip meta byte" => flip_byte(&newest, 30),
            "truncate" => {
                let len = std::fs::metadata(&newest).unwrap().len();
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&newest)
                    .unwrap();
                f.set_len(len - 3).unwrap();
            }
            _ => std::fs::write(&newest, b"not a snapshot at all").unwrap(),
        }

        let mut reopened = open(dir.path(), 3).await;
        assert_eq!(
            reopened.applied_state().await.unwrap(),
            older_state,
            "{damage}"
        );
        let k = reopened
            .view()
            .read(|s| s.get("k").map(|e| e.value.clone()));
        assert_eq!(k.as_deref(), Some(&b"old"[..]), "{damage}");
        let current = reopened.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, older, "{damage}");
        assert_eq!(snap_files(dir.path()).len(), 1, "{damage}");
        assert_eq!(
            files_ending(dir.path(), ".corrupt").len(),
            1,
            "{damage}: kept aside"
        );

        // The quarantined file stays out of the way on later opens too.
        drop(reopened);
        let mut again = open(dir.path(), 3).await;
        assert_eq!(
            again.applied_state().await.unwrap(),
            older_state,
            "{damage}"
        );
    }
}

#[tokio::test]
async fn only_corrupt_snapshots_start_empty_and_keep_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 2).await;
    sm.apply_entries([blank(1, 0)]).await.unwrap();
    build(&mut sm).await;
    drop(sm);
    let only = dir.path().join(&snap_files(dir.path())[0]);
    flip_byte(&only, -1);

    let mut reopened = open(dir.path(), 2).await;
    assert_eq!(
        reopened.applied_state().await.unwrap(),
        (None, StoredMembership::default())
    );
    assert!(reopened.get_current_snapshot().await.unwrap().is_none());
    assert_eq!(files_ending(dir.path(), ".corrupt").len(), 1);
}
