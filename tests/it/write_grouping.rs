//! Concurrent writes are grouped into shared Raft entries (one fsync for many writes). This
//! proves grouping never breaks the KV contract under real concurrency: every acknowledged
//! write is stored with the index it was acknowledged with, and compare-and-swap stays exact
//! (no lost update) when many clients race on one key.

use crate::common;

use common::TestNode;
use konsul_proto::v1 as pb;
use tonic::Code;

/// Two steps on one node: concurrent writers, then racing CAS increments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_keep_their_indices_and_cas_loses_no_update() {
    let node = TestNode::start().await;
    every_write_is_stored_at_the_index_it_was_acked_with(&node).await;
    racing_cas_increments_lose_no_update(&node).await;
}

/// 64 concurrent writers to distinct keys; each key is read back strongly.
async fn every_write_is_stored_at_the_index_it_was_acked_with(node: &TestNode) {
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut kv = node.kv().await;
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for j in 0..10 {
                let key = format!("w/{i}/{j}");
                let r = kv
                    .put(pb::PutRequest {
                        key: key.clone(),
                        value: key.clone().into_bytes(),
                        flags: 0,
                        cas: None,
                        request_id: None,
                    })
                    .await
                    .expect("write acknowledged")
                    .into_inner();
                acked.push((key, r.kv.unwrap().modify_index));
            }
            acked
        }));
    }
    let mut kv = node.kv().await;
    for t in tasks {
        for (key, index) in t.await.unwrap() {
            let got = kv
                .get(pb::GetRequest {
                    key: key.clone(),
                    consistency: pb::Consistency::Strong as i32,
                    min_index: 0,
                })
                .await
                .unwrap()
                .into_inner()
                .kv
                .unwrap();
            assert_eq!(got.value, key.as_bytes());
            assert_eq!(
                got.modify_index, index,
                "{key} stored at the index it was acked with"
            );
        }
    }
}

/// 16 clients increment one counter with CAS, retrying on conflict.
async fn racing_cas_increments_lose_no_update(node: &TestNode) {
    let mut kv = node.kv().await;
    kv.put(pb::PutRequest {
        key: "counter".into(),
        value: b"0".to_vec(),
        flags: 0,
        cas: None,
        request_id: None,
    })
    .await
    .unwrap();
    const CLIENTS: usize = 16;
    const INCREMENTS: usize = 15;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let mut kv = node.kv().await;
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            let mut attempts = 0;
            while done < INCREMENTS {
                attempts += 1;
                assert!(attempts < 10_000, "bounded retries");
                let cur = kv
                    .get(pb::GetRequest {
                        key: "counter".into(),
                        consistency: pb::Consistency::Strong as i32,
                        min_index: 0,
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .kv
                    .unwrap();
                let n: u64 = String::from_utf8(cur.value).unwrap().parse().unwrap();
                let res = kv
                    .put(pb::PutRequest {
                        key: "counter".into(),
                        value: (n + 1).to_string().into_bytes(),
                        flags: 0,
                        cas: Some(cur.modify_index),
                        request_id: None,
                    })
                    .await;
                match res {
                    Ok(_) => done += 1,
                    Err(s) if s.code() == Code::Aborted => {}
                    Err(s) => panic!("unexpected {s}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let fin = kv
        .get(pb::GetRequest {
            key: "counter".into(),
            consistency: pb::Consistency::Strong as i32,
            min_index: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    assert_eq!(
        String::from_utf8(fin.value).unwrap(),
        (CLIENTS * INCREMENTS).to_string(),
        "every successful CAS increment is counted exactly once"
    );
}

/// Node `i`'s `GET /debug/stages`, as stage name → (count, items, total_us).
async fn stages(
    c: &common::cluster::TestCluster,
    i: usize,
) -> std::collections::HashMap<String, (u64, u64, u64)> {
    let body: serde_json::Value = reqwest::get(c.node(i).url("/debug/stages"))
        .await
        .expect("GET /debug/stages")
        .json()
        .await
        .expect("a JSON body");
    assert_eq!(body["node"], c.node(i).name.as_str(), "{body}");
    body["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("no stages in {body}"))
        .iter()
        .map(|s| {
            let n = |f: &str| s[f].as_u64().unwrap_or_else(|| panic!("{f} in {s}"));
            (
                s["stage"].as_str().unwrap().to_owned(),
                (n("count"), n("items"), n("total_us")),
            )
        })
        .collect()
}

// Runtime: about 2 s (a 3-node start, 64 concurrent writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_of_the_write_path_is_counted_where_it_runs() {
    let c = common::cluster::TestCluster::start(3).await;
    let l = c.leader().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let mut kv = c.node(l).kv().await;
        tasks.spawn(async move {
            kv.put(pb::PutRequest {
                key: format!("s/{i}"),
                value: vec![b'x'; 256],
                ..Default::default()
            })
            .await
            .expect("write acknowledged")
            .into_inner()
            .kv
            .unwrap()
            .modify_index
        });
    }
    let mut last = 0;
    while let Some(index) = tasks.join_next().await {
        last = last.max(index.expect("a writer"));
    }
    c.wait_applied(last).await;

    let leader = stages(&c, l).await;
    let names: Vec<&str> = [
        "queue",
        "propose",
        "append",
        "log_write",
        "replicate",
        "peer_decode",
        "apply",
    ]
    .into();
    assert_eq!(leader.len(), names.len(), "{leader:?}");
    for name in names {
        assert!(leader.contains_key(name), "{name} missing: {leader:?}");
    }
    // Every write waited in the queue and was proposed; groups hold several writes.
    assert!(leader["queue"].0 >= 64, "{leader:?}");
    assert!(leader["propose"].1 >= 64, "{leader:?}");
    assert!(leader["propose"].0 <= leader["propose"].1, "{leader:?}");
    for name in ["append", "log_write", "replicate", "apply"] {
        let (count, items, _) = leader[name];
        assert!(count > 0 && items > 0, "{name} on the leader: {leader:?}");
    }
    assert!(leader["apply"].1 >= 64, "{leader:?}");
    assert!(leader["log_write"].2 > 0, "an fsync takes time: {leader:?}");
    for f in (0..3).filter(|&i| i != l) {
        // A follower counts an entry just after it shows as applied: poll for the count.
        let s = common::wait_until(&format!("follower {f} counts 64 applied writes"), || {
            let c = &c;
            async move {
                let s = stages(c, f).await;
                (s["apply"].1 >= 64).then_some(s)
            }
        })
        .await;
        // Followers propose nothing and send no replication; they decode, write, apply.
        assert_eq!(
            (s["queue"].0, s["propose"].0, s["replicate"].0),
            (0, 0, 0),
            "follower {f}: {s:?}"
        );
        for name in ["peer_decode", "append", "log_write"] {
            assert!(s[name].1 > 0, "{name} on follower {f}: {s:?}");
        }
    }
}
