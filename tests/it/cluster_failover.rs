//! Leader failover with real processes: a 3-node cluster of `konsul` binaries acknowledges
//! writes, its leader is killed with SIGKILL (no shutdown path runs), and then
//! - the two survivors elect a new leader among themselves;
//! - every acknowledged write is readable: strongly from the new leader, and stale from the
//!   other survivor once it has applied as far as the leader;
//! - writes continue on the two-node majority;
//! - the killed node, restarted on its old ports and data dir, rejoins without a new Join
//!   (its log says it is a member) and catches up with everything, including the writes it
//!   missed while it was dead.
//!
//! Nothing is timed; every wait polls with a deadline.

use crate::common;

use std::ops::Range;

use common::process_cluster::ProcessCluster;
use common::wait_until;
use futures::stream::{self, StreamExt};
use konsul_client::{Client, Consistency, ListOptions, NodeState, Suffrage};

const BEFORE: usize = 300;
const AFTER: usize = 100;
/// Calls in flight at once: enough to keep the test short, few enough for 2 cores.
const IN_FLIGHT: usize = 8;

fn key(i: usize) -> String {
    format!("failover/{i:05}")
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

/// A client bound to node `i` alone (with the SDK's usual retries).
async fn only(c: &ProcessCluster, i: usize) -> Client {
    Client::connect([c.node(i).client_addr.to_string()])
        .await
        .unwrap()
}

/// Writes keys `range` through `client`, a few at a time; each write must be acknowledged.
/// Returns the highest index written.
async fn write(client: &Client, range: Range<usize>) -> u64 {
    stream::iter(range)
        .map(|i| async move {
            client
                .put(key(i), value(i))
                .await
                .unwrap_or_else(|e| panic!("write of {} not acknowledged: {e}", key(i)))
                .modify_index
        })
        .buffer_unordered(IN_FLIGHT)
        .fold(0, |last, index| async move { last.max(index) })
        .await
}

/// Reads keys `0..n` from `client` at `consistency`; every one must be there, unchanged.
async fn read_all(client: &Client, n: usize, consistency: Consistency, who: &str) {
    stream::iter(0..n)
        .map(|i| async move {
            let kv = client
                .get_with(key(i), consistency)
                .await
                .unwrap_or_else(|e| panic!("{who}: read of {} failed: {e}", key(i)))
                .unwrap_or_else(|| panic!("{who}: acknowledged key {} lost", key(i)));
            assert_eq!(kv.value, value(i), "{who}: value of {}", key(i));
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
}

// Runtime: about 5-10 s in a debug build (three process starts and joins, 400 fsynced
// writes, one election, one restart); no step waits for a fixed time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_leader_sigkill_and_the_node_catches_up_on_restart() {
    let mut c = ProcessCluster::start(3).await;
    let client = c.client().await;
    write(&client, 0..BEFORE).await;

    let old = c.leader().await;
    let old_name = c.node(old).name.clone();
    c.sigkill(old).await;

    // A new leader among the survivors.
    let new = c.leader().await;
    assert_ne!(new, old, "the killed node cannot lead");
    let status = c.node(new).status().await.expect("new leader answers");
    assert_eq!(status.state, NodeState::Leader);
    assert_ne!(status.leader_id, old_name);

    // Every acknowledged write, strongly from the new leader...
    read_all(
        &only(&c, new).await,
        BEFORE,
        Consistency::Strong,
        "new leader",
    )
    .await;
    // ...and from the other survivor's own state once it has applied as far as the leader.
    let other = c.live().into_iter().find(|&i| i != new).unwrap();
    let leader_applied = c.node(new).status().await.unwrap().applied_index;
    c.wait_applied(other, leader_applied).await;
    read_all(
        &only(&c, other).await,
        BEFORE,
        Consistency::Stale,
        "survivor",
    )
    .await;

    // Writes continue on the two-node majority.
    let last = write(&c.client().await, BEFORE..BEFORE + AFTER).await;

    // The killed node comes back on its old ports and data dir: no Join, it is a member.
    c.restart(old).await;
    let restarted = only(&c, old).await;
    let total = BEFORE + AFTER;
    wait_until(&format!("{old_name} has all {total} keys"), || async {
        let listing = restarted
            .list_with(
                "failover/",
                ListOptions {
                    keys_only: true,
                    consistency: Consistency::Stale,
                    limit: 0,
                    min_index: 0,
                },
            )
            .await
            .ok()?;
        (listing.kvs.len() == total).then_some(())
    })
    .await;
    c.wait_applied(old, last).await;
    read_all(&restarted, total, Consistency::Stale, "restarted node").await;

    // It is a voter again and knows the leader.
    let s = c.node(old).status().await.expect("restarted node answers");
    assert!(
        matches!(s.state, NodeState::Follower | NodeState::Leader),
        "{s:?}"
    );
    assert!(!s.leader_id.is_empty(), "{s:?}");
    let me = s.peers.iter().find(|p| p.id == old_name).expect("member");
    assert_eq!(me.suffrage, Suffrage::Voter);
    assert_eq!(s.peers.len(), 3);
}
