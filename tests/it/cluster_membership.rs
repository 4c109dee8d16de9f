//! Forming and changing a cluster: bootstrap and join, the same data on every node,
//! idempotent and refused joins, serialised changes, leave of a follower and of the leader,
//! a new node catching up through a snapshot, and the standalone answers. Every wait polls
//! with a deadline; nothing is timed.

use crate::common;

use common::TestNode;
use common::cluster::{SHORT_CATCH_UP, TestCluster};
use common::wait_until;
use konsul_proto::v1 as pb;
use openraft::async_runtime::WatchReceiver;
use serde_json::Value;
use std::time::Duration;
use tonic::Code;

fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: key.into(),
        value: value.into(),
        flags: 0,
        cas: None,
        request_id: None,
    }
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_a_cluster_and_apply_the_same_data() {
    let c = TestCluster::start(3).await;
    let leader = c.leader().await;
    let mut kv = c.node(leader).kv().await;
    let mut last = 0;
    for i in 0..20 {
        let r = kv.put(put(&format!("k/{i:02}"), &format!("v{i}"))).await;
        last = r.unwrap().into_inner().kv.unwrap().modify_index;
    }
    c.wait_applied(last).await;
    let expected = &c.contents(leader).await;
    assert_eq!(expected.len(), 20);
    for i in 0..3 {
        assert_eq!(&c.contents(i).await, expected, "node {i} has the same data");
    }

    // The leader's status: three voters, replication progress for every follower. A
    // follower can apply an entry before the leader has read its acknowledgement (with
    // pipelined replication the commit index may reach it on the next request first), so
    // the leader's view of the followers' progress is awaited, not assumed.
    let cluster = c.node(leader).cluster().await;
    let status = wait_until("the leader to see every follower at the last write", || {
        let mut cluster = cluster.clone();
        async move {
            let status = cluster
                .status(pb::StatusRequest {})
                .await
                .unwrap()
                .into_inner();
            status
                .peers
                .iter()
                .all(|p| p.match_index >= last)
                .then_some(status)
        }
    })
    .await;
    assert_eq!(status.state, pb::NodeState::Leader as i32);
    assert_eq!(status.peers.len(), 3);
    assert!(status.commit_index >= last);
    for p in &status.peers {
        assert_eq!(p.suffrage, pb::Suffrage::Voter as i32, "{p:?}");
        assert!(p.match_index >= last, "{p:?}");
        assert!(p.last_contact_ms >= 0, "{p:?}");
    }

    // A follower's REST view names the leader with the contract's fields.
    let follower = (leader + 1) % 3;
    let (code, s) = get_json(&c.node(follower).url("/cluster/status")).await;
    assert_eq!(code, 200);
    assert_eq!(s["state"], "Follower");
    assert_eq!(s["leader_id"], c.node(leader).name.as_str());
    assert_eq!(s["leader_addr"], c.node(leader).raft_addr().to_string());
    assert_eq!(s["peers"].as_array().unwrap().len(), 3);
    assert_eq!(s["peers"][0]["state"], "Voter");
    assert!(s["stats"]["commit_index"].is_string());
    let (code, l) = get_json(&c.node(follower).url("/cluster/leader")).await;
    assert_eq!(code, 200);
    assert_eq!(l["is_self"], false);
    let (code, p) = get_json(&c.node(follower).url("/cluster/peers")).await;
    assert_eq!((code, p["count"].as_u64()), (200, Some(3)));

    // Join on a follower is redirected to the leader.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(c.node(follower).url("/cluster/join"))
        .json(&serde_json::json!({"node_id": "n9", "address": "127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["leader_id"], c.node(leader).name.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_is_idempotent_and_a_known_id_elsewhere_is_refused() {
    let c = TestCluster::start(2).await;
    let again = c.join(c.node(1).join_request()).await.unwrap().into_inner();
    assert!(again.already_member);
    assert_eq!(again.node_id, "n2");

    let mut moved = c.node(1).join_request();
    moved.address = "127.0.0.1:9".into();
    let err = c.join(moved).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert!(err.message().contains("remove it first"), "{err:?}");

    let leader = c.leader().await;
    let r = reqwest::Client::new()
        .post(c.node(leader).url("/cluster/join"))
        .json(&serde_json::json!({"address": "127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["message"], "node_id: is required");
    let r = reqwest::Client::new()
        .post(c.node(leader).url("/cluster/join"))
        .json(&serde_json::json!({"node_id": "n3", "address": "nowhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_change_while_one_is_in_flight_is_refused_and_a_stuck_join_is_undone() {
    let c = TestCluster::start(1).await;
    let mut client = c.node(0).cluster().await;
    // The ghost says who it is but refuses every Raft call: it can never catch up.
    let ghost = common::ghost::start("ghost").await;
    let stuck = pb::JoinRequest {
        node_id: "ghost".into(),
        address: ghost.to_string(),
        client_address: String::new(),
        catch_up_timeout_ms: SHORT_CATCH_UP.as_millis() as u32,
    };
    let first = tokio::spawn({
        let mut client = client.clone();
        async move { client.join(stuck).await }
    });
    let raft = c.node(0).server().node().raft().clone();
    let has_ghost = move || {
        raft.metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .nodes()
            .any(|(_, m)| m.name == "ghost")
    };
    wait_until("ghost added as a learner", || {
        let added = has_ghost();
        async move { added.then_some(()) }
    })
    .await;

    let busy = client
        .join(pb::JoinRequest {
            node_id: "other".into(),
            address: "127.0.0.1:2".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Code::Aborted, "{busy:?}");
    let r = reqwest::Client::new()
        .delete(c.node(0).url("/cluster/leave/ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "conflict");

    let err = first.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(!has_ghost(), "the stuck learner was removed again");
    let voters = c
        .node(0)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .voter_ids()
        .count();
    assert_eq!(voters, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_and_then_the_leader_leave() {
    let mut c = TestCluster::start(3).await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    let r = reqwest::Client::new()
        .delete(
            c.node(leader)
                .url(&format!("/cluster/leave/{}", c.node(follower).name)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["node_id"], c.node(follower).name.as_str());
    c.kill(follower).await;
    let (_, p) = get_json(&c.node(leader).url("/cluster/peers")).await;
    assert_eq!(p["count"], 2);

    let unknown = c
        .node(leader)
        .cluster()
        .await
        .leave(pb::LeaveRequest {
            node_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // The leader removes itself; the remaining node takes over and accepts writes. Each
    // step has a deadline, so a step that never finishes fails by name.
    let old = c.node(leader).name.clone();
    let mut cluster = c.node(leader).cluster().await;
    step(
        "the leader's leave of itself",
        cluster.leave(pb::LeaveRequest {
            node_id: old.clone(),
        }),
    )
    .await
    .unwrap();
    let rest = 3 - leader - follower;
    wait_until("the remaining node leads", || {
        let leads = c.leads(rest);
        async move { leads.then_some(()) }
    })
    .await;
    step("shutting the old leader down", c.kill(leader)).await;
    let mut kv = c.node(rest).kv().await;
    step(
        "a write on the remaining node",
        kv.put(put("after", "leave")),
    )
    .await
    .unwrap();
    let mut cluster = c.node(rest).cluster().await;
    let peers = step("peers", cluster.peers(pb::PeersRequest {}))
        .await
        .unwrap()
        .into_inner()
        .peers;
    assert_eq!(peers.len(), 1);
    assert!(peers.iter().all(|p| p.id != old));
}

/// Runs one step of a test, failing it by name if the step takes longer than 30 s.
async fn step<T>(name: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("{name} did not finish within 30 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_catches_up_through_a_snapshot() {
    let mut c = TestCluster::start_with(
        3,
        &[
            ("KONSUL_RAFT_SNAPSHOT_THRESHOLD", "4"),
            ("KONSUL_RAFT_TRAILING_LOGS", "0"),
        ],
    )
    .await;
    let leader = c.leader().await;
    let mut kv = c.node(leader).kv().await;
    let mut last = 0;
    for b in 0..10 {
        let items = (0..1000)
            .map(|i| pb::BatchPutItem {
                key: format!("key/{b:02}/{i:04}"),
                value: vec![b'x'; 16],
                flags: 0,
            })
            .collect();
        last = kv
            .batch_put(pb::BatchPutRequest {
                items,
                request_id: None,
            })
            .await
            .unwrap()
            .into_inner()
            .index;
    }
    c.wait_applied(last).await;
    let snap = c
        .node(leader)
        .cluster()
        .await
        .snapshot(pb::SnapshotRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(snap.snapshot_index >= last);
    // openraft purges in batches of 256 entries, more than this test writes: ask for it.
    let raft = c.node(leader).server().node().raft().clone();
    raft.trigger().purge_log(last).await.unwrap();
    wait_until("the leader purged its log past the batches", || {
        let purged = raft
            .metrics()
            .borrow_watched()
            .purged
            .map_or(0, |l| l.index);
        async move { (purged >= last).then_some(()) }
    })
    .await;

    let new = c.add_node().await;
    c.wait_applied(last).await;
    let node = c.node(new).server().node();
    assert!(
        node.raft().metrics().borrow_watched().snapshot.is_some(),
        "the new node installed a snapshot"
    );
    assert_eq!(node.view().read(|s| s.len()), 10_000);
    let status = c
        .node(leader)
        .cluster()
        .await
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status
            .peers
            .iter()
            .filter(|p| p.suffrage == pb::Suffrage::Voter as i32)
            .count(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_restarts_on_its_state_without_bootstrapping() {
    let mut c = TestCluster::start(3).await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    c.kill(follower).await;
    let mut kv = c.node(leader).kv().await;
    let last = kv
        .put(put("while", "down"))
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap()
        .modify_index;
    c.restart(follower).await;
    c.wait_ready(follower).await;
    c.wait_applied(last).await;
    let voters = c
        .node(follower)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .voter_ids()
        .count();
    assert_eq!(
        voters, 3,
        "the restarted node kept the cluster's membership"
    );
}

#[tokio::test]
async fn standalone_serves_status_but_refuses_membership_changes() {
    let node = TestNode::start().await;
    let (code, s) = get_json(&node.url("/cluster/status")).await;
    assert_eq!(code, 200);
    assert_eq!(s["state"], "Leader");
    assert_eq!(s["node_id"], "node1");
    let r = reqwest::Client::new()
        .post(node.url("/cluster/join"))
        .json(&serde_json::json!({"node_id": "n2", "address": "127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the caller's mistake, not the server's");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "clustering not enabled");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KONSUL_RAFT_ENABLED=true")
    );
    let r = reqwest::Client::new()
        .delete(node.url("/cluster/leave/node1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::Client::new()
        .post(node.url("/cluster/snapshot"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
