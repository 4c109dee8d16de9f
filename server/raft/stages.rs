//! Where a write's time goes on this node, stage by stage: a count, a total time and an item
//! count per stage, kept in relaxed atomics (a few nanoseconds per measured step), always on.
//!
//! ```text
//!  leader:   api ─► queue ─► propose ──────────────────────────────────────────► answer
//!                    │         └ openraft: append ─► log_write (∥ replicate) ─► commit ─► apply
//!                    batcher wait          encode   redb txn + fsync   one StreamAppend
//!                                                                      request, sent → answered
//!  follower: peer_decode ─► append ─► log_write ─► (answer the leader) ─► apply
//! ```
//!
//! | stage | where | one count is | items |
//! |---|---|---|---|
//! | `queue` | `batcher.rs` | a write waiting for its group to be proposed | writes |
//! | `propose` | `batcher.rs` | one `client_write`: append, replication, commit and apply | writes in the entry |
//! | `append` | `log_store.rs` | one `append` call: entries encoded and queued | entries |
//! | `log_write` | `log_store/writer.rs` | one redb transaction, fsync included | entries |
//! | `replicate` | `network/append_stream.rs` | one pipelined request, sent until answered | entries |
//! | `peer_decode` | `service.rs` | one incoming AppendEntries or StreamAppend request decoded | entries |
//! | `apply` | `state_machine.rs` | one committed entry applied to the store | commands |
//!
//! `GET /debug/stages` answers a snapshot (cumulative since the node started) as JSON;
//! `scripts/bench-cluster.sh` reads it on every node around each run and divides the
//! differences by the calls answered, which is the per-stage breakdown in
//! docs/benchmarks.md. Stages overlap (append and replicate run side by side inside
//! propose), so the times do not add up to the latency; each says how long one step takes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// One measured step of the write path (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// A write waiting in the batcher for its group.
    Queue,
    /// One `client_write`, from the call to openraft's answer.
    Propose,
    /// One log-store `append`: entries encoded and queued for the writer.
    Append,
    /// One log-store transaction, commit and fsync included.
    LogWrite,
    /// One pipelined replication request, from sending to the follower's answer.
    Replicate,
    /// One incoming replication request decoded on a follower.
    PeerDecode,
    /// One committed entry applied to the store.
    Apply,
}

impl Stage {
    /// Every stage, in the order of the write path.
    pub const ALL: [Stage; 7] = [
        Stage::Queue,
        Stage::Propose,
        Stage::Append,
        Stage::LogWrite,
        Stage::Replicate,
        Stage::PeerDecode,
        Stage::Apply,
    ];

    /// The stage's name in `/debug/stages`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Queue => "queue",
            Stage::Propose => "propose",
            Stage::Append => "append",
            Stage::LogWrite => "log_write",
            Stage::Replicate => "replicate",
            Stage::PeerDecode => "peer_decode",
            Stage::Apply => "apply",
        }
    }
}

/// The counters of one node. Shared through an `Arc` by the parts of the write path.
#[derive(Debug, Default)]
pub struct Stages {
    slots: [Slot; Stage::ALL.len()],
}

#[derive(Debug, Default)]
struct Slot {
    count: AtomicU64,
    items: AtomicU64,
    nanos: AtomicU64,
}

/// The totals of one stage, as `/debug/stages` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageTotals {
    /// The stage's name.
    pub stage: &'static str,
    /// Steps measured.
    pub count: u64,
    /// Items those steps handled (writes, entries or commands: see the module table).
    pub items: u64,
    /// Time spent in them, in microseconds.
    pub total_us: u64,
}

impl Stages {
    /// Fresh counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one step of `stage` that took `elapsed` and handled `items` items.
    pub fn record(&self, stage: Stage, elapsed: Duration, items: u64) {
        let slot = &self.slots[stage as usize];
        slot.count.fetch_add(1, Ordering::Relaxed);
        slot.items.fetch_add(items, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        slot.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The totals of every stage, in [`Stage::ALL`] order.
    pub fn snapshot(&self) -> Vec<StageTotals> {
        Stage::ALL
            .iter()
            .map(|&stage| {
                let slot = &self.slots[stage as usize];
                StageTotals {
                    stage: stage.name(),
                    count: slot.count.load(Ordering::Relaxed),
                    items: slot.items.load(Ordering::Relaxed),
                    total_us: slot.nanos.load(Ordering::Relaxed) / 1_000,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_adds_up_on_its_own() {
        let s = Stages::new();
        s.record(Stage::LogWrite, Duration::from_micros(900), 3);
        s.record(Stage::LogWrite, Duration::from_micros(100), 1);
        s.record(Stage::Apply, Duration::from_nanos(1_500), 64);
        let snap = s.snapshot();
        assert_eq!(snap.len(), Stage::ALL.len());
        let get = |name: &str| snap.iter().find(|t| t.stage == name).unwrap().clone();
        assert_eq!(
            get("log_write"),
            StageTotals {
                stage: "log_write",
                count: 2,
                items: 4,
                total_us: 1_000
            }
        );
        assert_eq!((get("apply").count, get("apply").items), (1, 64));
        assert_eq!(
            get("apply").total_us,
            1,
            "nanoseconds add up before rounding"
        );
        assert_eq!(get("queue").count, 0);
    }
}
