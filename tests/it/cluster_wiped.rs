//! A member whose data dir is wiped and that restarts under its old name and address has
//! lost its vote and every entry it acknowledged. It must not take its old place: it never
//! votes or acknowledges anything, a join at the same address is refused, and once it has
//! left it joins again cleanly and catches up. A data dir of another node is refused at
//! start, and so is a join whose name is not the one the node at the address reports.
//! Every wait polls with a deadline; nothing is timed.

use crate::common;

use common::cluster::TestCluster;
use common::{start_with, test_config_with, wait_until};
use konsul::raft::node_id_for_name;
use konsul_proto::v1 as pb;
use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;
use tonic::Code;

fn put(key: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: key.into(),
        value: format!("value of {key}").into(),
        flags: 0,
        cas: None,
        request_id: None,
    }
}

/// Writes `keys` through the current leader and waits until the nodes `on` applied them.
async fn write(c: &TestCluster, keys: impl IntoIterator<Item = String>, on: &[usize]) {
    let leader = c.leader().await;
    let mut kv = c.node(leader).kv().await;
    let mut index = 0;
    for key in keys {
        let header = kv.put(put(&key)).await.unwrap().into_inner().header;
        index = header.map_or(0, |h| h.applied_index);
    }
    for &i in on {
        let node = c.node(i).server().node().clone();
        wait_until(&format!("{} applied {index}", c.node(i).name), || {
            let applied = node.view().applied_index();
            async move { (applied >= index).then_some(()) }
        })
        .await;
    }
}

/// Deletes everything in node `i`'s data dir (the node is stopped).
fn wipe(c: &TestCluster, i: usize) {
    for entry in std::fs::read_dir(c.node(i).dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

/// Asserts that node `i` has taken no part in Raft since it was wiped: no vote, no term,
/// no log, nothing applied, not ready.
fn assert_untouched(c: &TestCluster, i: usize) {
    let node = c.node(i).server().node();
    let m = node.raft().metrics().borrow_watched().clone();
    // openraft 0.10 starts a node with an uncommitted vote of term 0 for itself.
    assert!(
        m.vote.leader_id().term == 0 && !m.vote.is_committed(),
        "{} voted or followed: {}",
        c.node(i).name,
        m.vote
    );
    assert_eq!(m.current_term, 0);
    assert_eq!(m.last_log_index, None, "{} stored entries", c.node(i).name);
    assert_eq!(node.view().applied_index(), 0);
    assert!(!node.is_ready());
}

/// Who is who once a follower's data dir is wiped.
struct Wiped {
    leader: usize,
    survivor: usize,
    victim: usize,
    name: String,
    old_incarnation: u64,
    new_incarnation: u64,
}

/// One scenario in named steps, each relying on what the one before left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_never_votes_or_acks_and_must_leave_before_it_joins_again() {
    let mut c = TestCluster::start(3).await;
    write(&c, (0..10).map(|i| format!("before/{i}")), &[0, 1, 2]).await;
    let w = a_follower_restarts_with_a_wiped_data_dir(&mut c).await;
    the_intact_members_keep_the_cluster_writable(&c, &w).await;
    joining_it_again_is_refused(&c, &w).await;
    without_the_leader_no_vote_is_granted(&mut c, &w).await;
    the_intact_member_comes_back(&mut c, &w).await;
    leave_then_join_adds_it_afresh(&c, &w).await;
}

/// A follower is killed, its data dir wiped, and it restarts under its old name and address
/// as a new incarnation.
async fn a_follower_restarts_with_a_wiped_data_dir(c: &mut TestCluster) -> Wiped {
    let leader = c.leader().await;
    let (victim, survivor) = match leader {
        0 => (2, 1),
        1 => (2, 0),
        _ => (1, 0),
    };
    let name = c.node(victim).name.clone();
    let old_incarnation = c.node(victim).server().node().identity().incarnation;

    c.kill(victim).await;
    wipe(c, victim);
    c.restart(victim).await;
    let new_incarnation = c.node(victim).server().node().identity().incarnation;
    assert_ne!(
        new_incarnation, old_incarnation,
        "a wiped node is a new incarnation"
    );
    Wiped {
        leader,
        survivor,
        victim,
        name,
        old_incarnation,
        new_incarnation,
    }
}

/// The two intact members keep the cluster writable; the wiped one gets nothing.
async fn the_intact_members_keep_the_cluster_writable(c: &TestCluster, w: &Wiped) {
    let leader = w.leader;
    let survivor = w.survivor;
    write(
        c,
        (0..10).map(|i| format!("while-wiped/{i}")),
        &[leader, survivor],
    )
    .await;
}

/// Joining it again at the same address is refused: it is not the member it was.
async fn joining_it_again_is_refused(c: &TestCluster, w: &Wiped) {
    let leader = w.leader;
    let victim = w.victim;
    let name = &w.name;
    let old_incarnation = w.old_incarnation;
    let new_incarnation = w.new_incarnation;
    let err = c.join(c.node(victim).join_request()).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    let msg = err.message();
    assert!(
        msg.contains(&format!(
            "node {name} is a member with incarnation {old_incarnation} but the node at that \
             address now has incarnation {new_incarnation} (data dir wiped?)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("DELETE /cluster/leave/{name}")),
        "{msg}"
    );
    let r = reqwest::Client::new()
        .post(c.node(leader).url("/cluster/join"))
        .json(&serde_json::json!({
            "node_id": name,
            "address": c.node(victim).raft_addr().to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

/// Without the leader, the survivor campaigns again and again: the wiped node refuses
/// every vote (it would grant them from its empty log otherwise), so no leader arises.
async fn without_the_leader_no_vote_is_granted(c: &mut TestCluster, w: &Wiped) {
    let leader = w.leader;
    let survivor = w.survivor;
    let victim = w.victim;
    let term_before = c
        .node(survivor)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .current_term;
    c.kill(leader).await;
    let survivor_raft = c.node(survivor).server().node().raft().clone();
    wait_until("the survivor to campaign three times", || {
        let term = survivor_raft.metrics().borrow_watched().current_term;
        async move { (term >= term_before + 3).then_some(()) }
    })
    .await;
    assert_ne!(
        survivor_raft.metrics().borrow_watched().state,
        ServerState::Leader
    );
    assert_untouched(c, victim);
}

/// The intact member comes back: the cluster has a leader and every write again.
async fn the_intact_member_comes_back(c: &mut TestCluster, w: &Wiped) {
    let leader = w.leader;
    let survivor = w.survivor;
    let victim = w.victim;
    c.restart(leader).await;
    c.wait_ready(leader).await;
    c.wait_ready(survivor).await;
    assert_untouched(c, victim);
}

/// Leave, then join: the node is added afresh with its new incarnation and catches up.
/// The two intact nodes may still trade leadership once after the restart: a leave that
/// met no leader changed nothing and is sent again.
async fn leave_then_join_adds_it_afresh(c: &TestCluster, w: &Wiped) {
    let victim = w.victim;
    let name = &w.name;
    let new_incarnation = w.new_incarnation;
    let leader = wait_until(&format!("{name} removed"), || {
        let c = &c;
        let name = name.clone();
        async move {
            let leader = c.leader().await;
            let mut cluster = c.node(leader).cluster().await;
            match cluster.leave(pb::LeaveRequest { node_id: name }).await {
                Ok(_) => Some(leader),
                Err(e) if e.code() == Code::Unavailable => None,
                Err(e) => panic!("leave: {e:?}"),
            }
        }
    })
    .await;
    assert_ne!(leader, victim);
    let joined = c
        .join(c.node(victim).join_request())
        .await
        .unwrap()
        .into_inner();
    assert!(!joined.already_member);
    let recorded = c
        .node(leader)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .get_node(&node_id_for_name(name))
        .cloned()
        .expect("the node is a member again");
    assert_eq!(recorded.incarnation, new_incarnation);

    write(c, (0..5).map(|i| format!("after/{i}")), &[0, 1, 2]).await;
    c.wait_ready(victim).await;
    let expected = &c.contents(leader).await;
    assert_eq!(expected.len(), 25);
    assert_eq!(&c.contents(victim).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_of_another_node_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_with(test_config_with(
        dir.path(),
        &[("KONSUL_RAFT_NODE_ID", "alpha")],
    ))
    .await
    .unwrap();
    let identity = first.node().identity().clone();
    first.shutdown().await.unwrap();

    let refused = start_with(test_config_with(
        dir.path(),
        &[("KONSUL_RAFT_NODE_ID", "beta")],
    ))
    .await;
    let err = refused.err().expect("another node's data dir is refused");
    let msg = err.to_string();
    assert!(msg.contains("belongs to node 'alpha'"), "{msg}");
    assert!(msg.contains("configured as 'beta'"), "{msg}");

    // Its owner still starts on it, with the same incarnation.
    let again = start_with(test_config_with(
        dir.path(),
        &[("KONSUL_RAFT_NODE_ID", "alpha")],
    ))
    .await
    .unwrap();
    assert_eq!(again.node().identity(), &identity);
    again.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_naming_another_node_than_the_one_at_the_address_is_refused() {
    let c = TestCluster::start(1).await;
    let ghost = common::ghost::start("ghost").await;
    let err = c
        .join(pb::JoinRequest {
            node_id: "n2".into(),
            address: ghost.to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .contains(&format!("address {ghost} belongs to node ghost, not n2")),
        "{err:?}"
    );
    let members = c
        .node(0)
        .server()
        .node()
        .raft()
        .metrics()
        .borrow_watched()
        .membership_config
        .membership()
        .nodes()
        .count();
    assert_eq!(members, 1, "nothing was added");
}
