//! Restart recovery in-process: a node restarts from its newest snapshot plus the log tail,
//! and a node whose snapshots were lost after the log was purged refuses to start instead of
//! coming up with acknowledged writes missing. Also the snapshot timer, which keeps that
//! tail short on a quiet node.

use crate::common;

use common::{start_with, test_config_with, wait_until};
use konsul_proto::v1 as pb;
use konsul_proto::v1::kv_service_client::KvServiceClient;
use openraft::async_runtime::WatchReceiver;

const ENV: &[(&str, &str)] = &[
    ("KONSUL_RAFT_SNAPSHOT_THRESHOLD", "20"),
    ("KONSUL_RAFT_TRAILING_LOGS", "0"),
];

async fn write_keys(addr: std::net::SocketAddr, n: usize) {
    let mut kv = KvServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    for i in 0..n {
        kv.put(pb::PutRequest {
            key: format!("r/{i:04}"),
            value: vec![b'v'; 10],
            flags: 0,
            cas: None,
            request_id: None,
        })
        .await
        .unwrap();
    }
}

fn snapshot_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("raft").join("snapshots"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "snap"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn restart_uses_snapshot_plus_log_and_refuses_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(test_config_with(dir.path(), ENV)).await.unwrap();
    write_keys(server.client_addr(), 400).await;
    // Wait until a snapshot exists and the log before it has been purged.
    let raft = server.node().raft().clone();
    wait_until("the log purged behind a snapshot", || {
        let purged = raft.metrics().borrow_watched().purged;
        let files = snapshot_files(dir.path());
        async move { (purged.is_some() && !files.is_empty()).then_some(()) }
    })
    .await;
    server.shutdown().await.unwrap();

    // Snapshot + log tail: every key is back.
    let server = start_with(test_config_with(dir.path(), ENV)).await.unwrap();
    let count = server.node().view().read(|s| s.len());
    assert_eq!(count, 400);
    server.shutdown().await.unwrap();

    // Lose every snapshot: the purged log cannot rebuild the state, so startup must fail.
    for f in snapshot_files(dir.path()) {
        std::fs::remove_file(f).unwrap();
    }
    let err = match start_with(test_config_with(dir.path(), ENV)).await {
        Ok(_) => panic!("a node with a gap between snapshot and log must not start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("purged up to index"), "{err}");
}

/// `raft.snapshot_interval`: with a threshold never reached, the timer alone snapshots what
/// was applied since the last snapshot, again after each new write.
#[tokio::test]
async fn the_snapshot_timer_covers_new_writes_on_a_quiet_node() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("KONSUL_RAFT_SNAPSHOT_THRESHOLD", "1000000"),
        ("KONSUL_RAFT_SNAPSHOT_INTERVAL", "100ms"),
    ];
    let server = start_with(test_config_with(dir.path(), &env))
        .await
        .unwrap();
    let raft = server.node().raft().clone();
    for round in 1..=2 {
        write_keys(server.client_addr(), 3 * round).await;
        let applied = server.node().view().applied_index();
        wait_until("a timer snapshot covering the writes", || {
            let snapshot = raft.metrics().borrow_watched().snapshot;
            async move { snapshot.is_some_and(|s| s.index >= applied).then_some(()) }
        })
        .await;
    }
    assert!(!snapshot_files(dir.path()).is_empty());
    server.shutdown().await.unwrap();
}
