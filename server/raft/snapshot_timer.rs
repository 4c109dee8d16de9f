//! The snapshot timer (`raft.snapshot_interval`): every interval, a snapshot if anything was
//! applied since the last one. openraft's own policy only counts entries
//! (`raft.snapshot_threshold`), so without the timer a quiet node keeps replaying its whole
//! log tail at every restart.
//!
//! ```text
//!  RaftNode::open ──spawn──► every interval: metrics (applied, snapshot) ──due?──► trigger().snapshot()
//! ```
//!
//! Each node snapshots on its own (snapshots are local, as with the threshold). The task ends
//! when the node's Raft stops.

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::KonsulRaft;

/// Starts the timer for `raft`, ticking every `every`.
pub(super) fn spawn(raft: KonsulRaft, every: Duration) {
    tokio::spawn(async move {
        let metrics = raft.metrics();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        // After a pause (a busy node, a suspended process) one late snapshot is enough.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Fails once the Raft core has stopped (the node shut down or hit a fatal error).
            if raft.is_initialized().await.is_err() {
                return;
            }
            let (applied, snapshot, running) = {
                let m = metrics.borrow_watched();
                (
                    m.last_applied.map(|l| l.index),
                    m.snapshot.map(|l| l.index),
                    m.running_state.is_ok(),
                )
            };
            if !running {
                return;
            }
            if due(applied, snapshot) {
                tracing::debug!(?applied, ?snapshot, "snapshot timer: taking a snapshot");
                if raft.trigger().snapshot().await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Whether a snapshot is due: something was applied that the newest snapshot does not cover.
fn due(applied: Option<u64>, snapshot: Option<u64>) -> bool {
    match (applied, snapshot) {
        (Some(a), Some(s)) => a > s,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn a_snapshot_is_due_only_when_something_was_applied_after_the_last_one() {
        assert!(!due(None, None), "nothing applied yet");
        assert!(due(Some(1), None), "applied, never snapshotted");
        assert!(
            !due(Some(5), Some(5)),
            "nothing new since the last snapshot"
        );
        assert!(due(Some(6), Some(5)));
        assert!(
            !due(Some(5), Some(7)),
            "a snapshot installed from the leader runs ahead"
        );
    }
}
