//! The fault suite's nemesis: one fault at a time on a [`ProcessCluster`], held for a
//! while and then lifted, chosen by a seeded generator so a failing run can be replayed.
//!
//! ```text
//!  IsolateLeader  the leader cut off from both followers (silent drop, or resets):
//!                 a minority of one that clients can still reach
//!  KillLeader     SIGKILL, then a restart soon after (often within the election timeout,
//!                 so it may resume its own term)
//!  PauseFollower  SIGSTOP, then SIGCONT
//!  SlowLeaderDisk the leader's log writer sleeps before every commit (failpoint log.fsync)
//!  SkewClock      one node's wall clock minutes ahead or behind
//! ```

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

use super::history::Recorder;
use crate::common::link_proxy::Fault as LinkFault;
use crate::common::process_cluster::ProcessCluster;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut the leader off from its followers.
    IsolateLeader,
    /// SIGKILL the leader and restart it.
    KillLeader,
    /// SIGSTOP a follower, then SIGCONT it.
    PauseFollower,
    /// Slow the leader's fsync down.
    SlowLeaderDisk,
    /// Move one node's wall clock by minutes.
    SkewClock,
}

/// Every kind, in the order a schedule cycles through them.
pub const ALL: [Fault; 5] = [
    Fault::IsolateLeader,
    Fault::KillLeader,
    Fault::PauseFollower,
    Fault::SlowLeaderDisk,
    Fault::SkewClock,
];

/// Injects `fault`, holds it for a while, lifts it, and returns a line for the log.
pub async fn inject(
    c: &mut ProcessCluster,
    fault: Fault,
    rng: &mut StdRng,
    recorder: &Recorder,
) -> String {
    let hold = Duration::from_millis(rng.random_range(800..2500));
    match fault {
        Fault::IsolateLeader => {
            let leader = c.leader().await;
            let how = if rng.random_bool(0.5) {
                LinkFault::Drop
            } else {
                LinkFault::Cut
            };
            c.mesh().isolate(leader, how);
            tokio::time::sleep(hold).await;
            c.heal();
            format!("isolated n{} ({how:?}) for {hold:?}", leader + 1)
        }
        Fault::KillLeader => {
            let leader = c.leader().await;
            recorder.killed(leader);
            c.sigkill(leader).await;
            let down = Duration::from_millis(rng.random_range(0..800));
            tokio::time::sleep(down).await;
            c.restart(leader).await;
            format!("killed n{} and restarted it after {down:?}", leader + 1)
        }
        Fault::PauseFollower => {
            let leader = c.leader().await;
            let followers: Vec<usize> = c.live().into_iter().filter(|&i| i != leader).collect();
            let f = followers[rng.random_range(0..followers.len())];
            c.pause(f);
            tokio::time::sleep(hold).await;
            c.resume(f);
            format!("paused n{} for {hold:?}", f + 1)
        }
        Fault::SlowLeaderDisk => {
            let leader = c.leader().await;
            let ms = rng.random_range(50..300);
            let slow = format!("return({ms})");
            c.node(leader)
                .faults(serde_json::json!({"failpoints": {"log.fsync": slow}}))
                .await;
            tokio::time::sleep(hold).await;
            if c.node(leader).is_running() {
                c.node(leader)
                    .faults(serde_json::json!({"failpoints": {"log.fsync": "off"}}))
                    .await;
            }
            format!("slowed n{}'s fsync by {ms} ms for {hold:?}", leader + 1)
        }
        Fault::SkewClock => {
            let node = rng.random_range(0..c.nodes.len());
            let minutes: i64 = rng.random_range(1..=5) * if rng.random_bool(0.5) { 1 } else { -1 };
            let offset = minutes * 60_000;
            c.node(node)
                .faults(serde_json::json!({"clock_offset_ms": offset}))
                .await;
            tokio::time::sleep(hold).await;
            c.node(node)
                .faults(serde_json::json!({"clock_offset_ms": 0}))
                .await;
            format!("skewed n{}'s clock by {minutes} min for {hold:?}", node + 1)
        }
    }
}

/// Undoes anything a fault may have left (a paused or dead node, a failpoint, an offset,
/// a cut link), so a round ends on a healthy cluster.
pub async fn heal(c: &mut ProcessCluster) {
    c.heal();
    for i in 0..c.nodes.len() {
        if c.node(i).is_paused() {
            c.resume(i);
        }
        if !c.node(i).is_running() {
            c.restart(i).await;
        }
        c.node(i)
            .faults(serde_json::json!({
                "failpoints": {"log.fsync": "off"},
                "clock_offset_ms": 0
            }))
            .await;
    }
}
