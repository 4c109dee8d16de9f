//! Regression tests for the four non-linearizable answers issue 8 found under faults, each
//! reproduced on purpose (a failpoint or a partition makes the race certain) rather than by
//! timing luck:
//! 1. a leader restarted within the election timeout resumed its term and served a strong
//!    read without a write it had acknowledged before the crash;
//! 2. a follower that had forwarded a write answered "not leader" after the leader died,
//!    although the write was committed by the next leader;
//! 3. a leader cut off from its quorum kept serving `leader` reads from an expired lease;
//! 4. a write to a leader whose followers were dead hung for the client's whole timeout.
//!
//! Process-mode tests need the binary built with `--features failpoints` (the test command
//! does that). Nothing is timed; every wait polls with a deadline.

use crate::common;

use std::time::Duration;

use common::cluster::TestCluster;
use common::process_cluster::ProcessCluster;
use common::{reason_of, wait_until};
use konsul_client::{Client, Consistency, GetOptions};
use konsul_proto::errors as reason;
use konsul_proto::v1 as pb;
use tonic::Code;

fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A client bound to node `i` alone, making one attempt per call.
fn only(c: &ProcessCluster, i: usize, timeout: Duration) -> Client {
    Client::builder([c.node(i).client_addr.to_string()])
        .max_attempts(1)
        .request_timeout(timeout)
        .build()
        .unwrap()
}

/// Observation 1. n1 leads and acknowledges `k = second` (its commit index is saved lazily,
/// so on disk it still says the write before); it is SIGKILLed and restarted at once. With
/// openraft 0.9 it resumed leadership of the same term and trusted that stale commit index;
/// Konsul now turns openraft 0.10's `enable_leader_restore` off, so whoever leads next does so
/// in a newer term, elected. n1's replication is held back by a failpoint until the reads
/// below have been sent, so if n1 wins, its commit index cannot catch up by itself first.
/// Strong and leader reads on the next leader must see `second`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_restarted_at_once_reads_every_write_it_acknowledged() {
    // The followers wait a little before campaigning, so n1 is back before they do.
    let patient: &[(&str, &str)] = &[("KONSUL_RAFT_ELECTION_TIMEOUT", "2s")];
    let mut c = ProcessCluster::start_faulty(
        3,
        &[("KONSUL_REQUEST_TIMEOUT", "60s")],
        &[&[], patient, patient],
    )
    .await;
    assert_eq!(c.leader().await, 0, "n1 bootstrapped and leads");
    let term_before = c.node(0).status().await.expect("n1 answers").term;
    let client = c.client().await;
    client.put("k", "first").await.unwrap();
    let acked = client.put("k", "second").await.unwrap();

    c.sigkill(0).await;
    c.restart_with(0, &[("FAILPOINTS", "peer.replicate=return(5000)")])
        .await;
    let leader = c.leader().await;
    let term = c.node(leader).status().await.map_or(0, |s| s.term);
    assert!(
        term > term_before,
        "n{} leads in term {term}, not after the restart's term {term_before}: a leader \
         restored itself",
        leader + 1
    );
    // The reads go out while n1's replication is still held back; the failpoint is lifted a
    // moment later so a correct leader can commit its log and answer them.
    let on_leader = only(&c, leader, Duration::from_secs(30));
    let reads = tokio::spawn(async move {
        let mut answers = Vec::new();
        for consistency in [Consistency::Strong, Consistency::Leader] {
            let options = GetOptions {
                consistency,
                min_index: 0,
            };
            answers.push((consistency, on_leader.get_with_options("k", options).await));
        }
        answers
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.node(0)
        .faults(serde_json::json!({"failpoints": {"peer.replicate": "off"}}))
        .await;
    for (consistency, got) in reads.await.unwrap() {
        let got = got.unwrap();
        let kv = got.kv.expect("the key exists");
        assert_eq!(
            kv.value, b"second",
            "a {consistency:?} read on the next leader missed the write acknowledged at \
             index {}",
            acked.modify_index
        );
        assert_eq!(kv.modify_index, acked.modify_index);
        assert!(got.header.applied_index >= acked.modify_index);
    }
}

/// Observation 2. Every node forwards. The leader applies a forwarded PUT and then, held by
/// a failpoint, does not answer; it is SIGKILLed while the follower waits. The follower
/// must say the outcome is unknown (never "not leader", which would tell the client to
/// write again), over REST and gRPC alike, and the write is there under the next leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_write_whose_leader_dies_is_outcome_unknown_not_not_leader() {
    let mut c = ProcessCluster::start_faulty(
        3,
        &[
            ("KONSUL_FORWARD_TO_LEADER", "true"),
            ("KONSUL_REQUEST_TIMEOUT", "30s"),
        ],
        &[],
    )
    .await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    c.node(leader)
        .faults(serde_json::json!({"failpoints": {"write.reply": "return(60000)"}}))
        .await;

    // One write over REST and one over gRPC, both sent to the follower.
    let rest_url = c.node(follower).url("/kv/forwarded-rest");
    let rest = tokio::spawn(async move {
        reqwest::Client::new()
            .put(rest_url)
            .json(&serde_json::json!({"value": "rest"}))
            .send()
            .await
            .unwrap()
    });
    let grpc_addr = format!("http://{}", c.node(follower).client_addr);
    let grpc = tokio::spawn(async move {
        let mut kv = pb::kv_service_client::KvServiceClient::connect(grpc_addr)
            .await
            .unwrap();
        kv.put(put("forwarded-grpc", "grpc")).await
    });

    // Both are applied on the follower (committed) while the leader sits on its answers.
    let stale = only(&c, follower, Duration::from_secs(5));
    wait_until("both forwarded writes applied on the follower", || {
        let stale = stale.clone();
        async move {
            let a = stale
                .get_with("forwarded-rest", Consistency::Stale)
                .await
                .ok()??;
            let b = stale
                .get_with("forwarded-grpc", Consistency::Stale)
                .await
                .ok()??;
            (a.value == b"rest" && b.value == b"grpc").then_some(())
        }
    })
    .await;
    c.sigkill(leader).await;

    let answer = rest.await.unwrap();
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "outcome unknown", "{body}");
    let err = grpc.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason_of(&err), reason::OUTCOME_UNKNOWN, "{err:?}");
    assert!(err.metadata().get(reason::LEADER_ADDR_KEY).is_none());

    // The next leader has both writes (once there is one: a strong read before the
    // election ends is NoLeader, or a transport error when a follower that has not yet
    // noticed the death redirects to the dead leader; on a loaded machine either can
    // outlast the SDK's retries).
    let client = c.client().await;
    for (key, value) in [("forwarded-rest", "rest"), ("forwarded-grpc", "grpc")] {
        let kv = wait_until("a new leader to serve a strong read", || {
            let client = client.clone();
            async move {
                match client.get_with(key, Consistency::Strong).await {
                    Err(
                        konsul_client::Error::NoLeader | konsul_client::Error::Transport { .. },
                    ) => None,
                    other => Some(other.unwrap()),
                }
            }
        })
        .await
        .unwrap_or_else(|| panic!("{key} was lost"));
        assert_eq!(kv.value, value.as_bytes());
    }
}

/// Observation 3. The leader is cut off from both followers (a silent blackhole). The
/// majority elects a new leader, which acknowledges a delete. The old leader must not
/// answer a `leader` read from its expired lease, nor a strong read; it reports the lost
/// quorum and refuses writes (never hanging on them). After healing the cluster converges
/// with no operator action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_its_quorum_serves_no_stale_reads_and_no_writes() {
    let c = TestCluster::start_faulty(3, &[]).await;
    let old = c.leader().await;
    let mut kv = c.node(old).kv().await;
    kv.put(put("k", "before")).await.unwrap();
    c.wait_applied(kv_index(&c, old).await).await;

    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    c.partition(&[&[old], &others]);
    let new = wait_until("a new leader among the majority", || {
        let found = (0..3).filter(|&i| i != old).find(|&i| c.leads(i));
        async move { found }
    })
    .await;
    let mut majority = c.node(new).kv().await;
    let deleted = majority
        .delete(pb::DeleteRequest {
            key: "k".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.deleted);

    for consistency in [pb::Consistency::Leader, pb::Consistency::Strong] {
        let read = kv
            .get(pb::GetRequest {
                key: "k".into(),
                consistency: consistency as i32,
                ..Default::default()
            })
            .await;
        match read {
            Ok(r) => panic!(
                "the cut-off leader served a {consistency:?} read: {:?}",
                r.into_inner().kv
            ),
            Err(e) => assert_eq!(e.code(), Code::Unavailable, "{consistency:?}: {e:?}"),
        }
    }
    // It notices it has lost its quorum, and refuses writes without putting them in its log.
    let node = c.node(old).server().node().clone();
    wait_until("the old leader to report its lost quorum", || {
        let node = node.clone();
        async move { node.cluster_status().await.ok()?.quorum_lost.then_some(()) }
    })
    .await;
    let mut patient = c.node(old).kv().await;
    let mut request = tonic::Request::new(put("k", "while-cut-off"));
    request.set_timeout(Duration::from_secs(30));
    let err = patient.put(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason_of(&err), reason::NO_QUORUM, "{err:?}");

    // Heal: one leader again, every node with the same contents, and the delete stands.
    c.heal();
    wait_until("every node agreeing on the contents", || async {
        let first = c.contents(0).await;
        let same = c.contents(1).await == first && c.contents(2).await == first;
        (same && !first.iter().any(|(k, _)| k == "k")).then_some(())
    })
    .await;
    let leaders = wait_until("exactly one leader", || async {
        let leaders = (0..3).filter(|&i| c.leads(i)).count();
        (leaders == 1).then_some(leaders)
    })
    .await;
    assert_eq!(leaders, 1);
}

/// The last index applied on node `i`.
async fn kv_index(c: &TestCluster, i: usize) -> u64 {
    c.node(i).server().node().view().applied_index()
}

/// Observation 4. Both followers are stopped. A write to the leader fails with UNAVAILABLE
/// (its outcome unknown: the entry is in the leader's log) instead of hanging for the
/// client's 30 s deadline; once the leader has noticed, the next write is refused up front
/// with NO_QUORUM. When the followers come back, writes succeed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_leader_whose_followers_are_dead_fails_instead_of_hanging() {
    let mut c = TestCluster::start(3).await;
    let leader = c.leader().await;
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    for &f in &followers {
        c.kill(f).await;
    }
    let mut kv = c.node(leader).kv().await;
    let mut request = tonic::Request::new(put("k", "alone"));
    request.set_timeout(Duration::from_secs(30));
    let err = kv.put(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "did not fail fast: {err:?}");
    let why = reason_of(&err);
    assert!(
        why == reason::OUTCOME_UNKNOWN || why == reason::NO_QUORUM,
        "{err:?}"
    );
    let mut request = tonic::Request::new(put("k2", "refused"));
    request.set_timeout(Duration::from_secs(30));
    let err = kv.put(request).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason_of(&err), reason::NO_QUORUM, "{err:?}");

    for &f in &followers {
        c.restart(f).await;
    }
    wait_until("writes accepted again", || async {
        let leader = c.leader().await;
        let mut kv = c.node(leader).kv().await;
        kv.put(put("k3", "back")).await.ok().map(|_| ())
    })
    .await;
    for i in 0..3 {
        c.wait_ready(i).await;
    }
    let leader = c.leader().await;
    let contents = c.contents(leader).await;
    assert!(contents.iter().any(|(k, _)| k == "k3"));
    assert!(
        !contents.iter().any(|(k, _)| k == "k2"),
        "a refused write was applied"
    );
}
