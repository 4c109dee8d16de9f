//! Hostile peer messages are refused before openraft sees them. A Vote naming term 2^64-1,
//! once granted, made openraft overflow (and its core panic) at the node's next election,
//! leaving a process that answered every write "raft stopped". The codec now refuses terms
//! and indices above `MAX_TERM_OR_INDEX` with INVALID_ARGUMENT, so the node's vote never
//! moves and the cluster elects on. Nothing is timed; every wait polls with a deadline.

use crate::common;

use common::cluster::TestCluster;
use common::wait_until;
use konsul::raft::codec::MAX_TERM_OR_INDEX;
use konsul_proto::raft::v1 as rpb;
use konsul_proto::raft::v1::raft_service_client::RaftServiceClient;
use konsul_proto::v1 as pb;
use openraft::async_runtime::WatchReceiver;
use tonic::Code;

fn vote(term: u64) -> rpb::VoteRequest {
    let leader_id = rpb::LeaderId {
        term,
        node_id: 424242,
    };
    rpb::VoteRequest {
        vote: Some(rpb::Vote {
            leader_id: Some(leader_id),
            committed: false,
        }),
        last_log_id: Some(rpb::LogId {
            leader_id: Some(leader_id),
            index: u64::MAX,
        }),
        leadership_transfer: false,
    }
}

/// Node `i`'s openraft metrics now.
fn metrics(c: &TestCluster, i: usize) -> openraft::RaftMetrics<konsul::raft::TypeConfig> {
    c.node(i)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_whose_term_would_overflow_is_refused_and_the_cluster_elects_on() {
    let mut c = TestCluster::start(3).await;
    let old = c.leader().await;
    c.kill(old).await;
    let survivors: Vec<usize> = (0..3).filter(|&i| i != old).collect();

    // Sent to each survivor while its leader is gone, as a stranger would.
    for &i in &survivors {
        let url = format!("http://{}", c.node(i).raft_addr());
        let mut peer = RaftServiceClient::connect(url).await.unwrap();
        for term in [u64::MAX, MAX_TERM_OR_INDEX + 1] {
            let err = peer.vote(vote(term)).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "term {term}: {err:?}");
            assert!(err.message().contains("LeaderId.term"), "{err:?}");
        }
        let m = metrics(&c, i);
        assert!(m.current_term < 1_000, "the vote moved: {m:?}");
    }

    // The survivors elect a leader among themselves and take writes; no Raft core stopped.
    let new = wait_until("a leader among the survivors", || {
        let found = survivors.iter().copied().find(|&i| c.leads(i));
        async move { found }
    })
    .await;
    let mut kv = c.node(new).kv().await;
    kv.put(pb::PutRequest {
        key: "after-the-hostile-vote".into(),
        value: b"v".to_vec(),
        ..Default::default()
    })
    .await
    .expect("the cluster still takes writes");
    for &i in &survivors {
        let m = metrics(&c, i);
        assert!(
            m.running_state.is_ok(),
            "{}: {:?}",
            c.node(i).name,
            m.running_state
        );
    }
}
