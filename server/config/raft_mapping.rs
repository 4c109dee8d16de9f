//! [`RaftConfig`](super::RaftConfig) → `openraft::Config`: the one place where the Go
//! server's hashicorp/raft-style names become openraft's settings. `raft/` builds its
//! `openraft::Raft` from [`Config::to_openraft`] and reads the settings openraft has no field
//! for (lease, snapshot interval and retention, data dir) from the `RaftConfig` directly.
//!
//! | Konsul (hashicorp style)  | openraft 0.10                                  |
//! |---------------------------|------------------------------------------------|
//! | `election_timeout` (T)    | `election_timeout_min` = T, `_max` = 2T        |
//! | `heartbeat_timeout` (H)   | `heartbeat_interval` = H / 5                   |
//! | `max_append_entries`      | `max_payload_entries`                          |
//! | `snapshot_threshold`      | `snapshot_policy` = `LogsSinceLast(threshold)` |
//! | `trailing_logs`           | `max_in_snapshot_log_to_keep`                  |
//! | (fixed)                   | `purge_batch_size` = [`PURGE_BATCH_SIZE`]      |
//! | (fixed)                   | `install_snapshot_timeout` = [`INSTALL_SNAPSHOT_TIMEOUT`] |
//! | (fixed)                   | `cluster_name` = [`CLUSTER_NAME`]              |
//! | (fixed)                   | `enable_leader_restore` = `false`              |
//!
//! Why these: hashicorp/raft randomizes a follower's timeout between one and two times the
//! configured value, and so does this mapping. Its leader sends heartbeats at a tenth of the
//! heartbeat timeout; a fifth keeps the default 1s at 200ms, well under the 1s minimum
//! election timeout (openraft requires `heartbeat_interval < election_timeout_min`, which
//! `heartbeat_timeout ≤ election_timeout` guarantees). openraft has no lease setting: its
//! lease is `election_timeout_max` (2T), the time a follower refuses to vote after hearing
//! from its leader. Konsul's `leader_lease_timeout` is the age limit the read path gives
//! openraft's lease read (`raft/reads.rs`), kept at most H ≤ T so the leader stops trusting
//! its lease long before another leader can be elected, with a margin for clocks that run at
//! slightly different rates.
//!
//! `enable_leader_restore` is off: with it, a restarted leader whose vote is still committed
//! takes up leadership again from its own log and trusts the commit index it finds there.
//! Konsul saves the commit index as a restart hint only (durable with the log's next
//! transaction, see `raft/log_store.rs`), so a leader restarting from it could serve a state
//! machine that lacks writes it had acknowledged. Off, a restarted node learns the commit
//! index from an election or from the current leader, as openraft 0.9 always did.

use std::time::Duration;

use openraft::SnapshotPolicy;

use super::Config;
use crate::{Error, Result};

/// openraft's name for the cluster; shown in its tracing spans.
pub(crate) const CLUSTER_NAME: &str = "konsul";

/// Log entries purged per batch once they are in a snapshot and beyond `trailing_logs`.
/// openraft's default of 1 would mean one log-store transaction per applied entry.
pub(crate) const PURGE_BATCH_SIZE: u64 = 256;

/// Time allowed to send and install one snapshot chunk. openraft's default (200ms) is too
/// short for a multi-megabyte chunk written to disk on a busy follower.
pub(crate) const INSTALL_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);

impl Config {
    /// The openraft settings for this node, checked by openraft's own `validate`. See the
    /// module docs for the mapping. Run [`Config::validate`] first for errors that name the
    /// Konsul setting at fault; this one only reports openraft's view.
    pub fn to_openraft(&self) -> Result<openraft::Config> {
        let r = &self.raft;
        let config = openraft::Config {
            cluster_name: CLUSTER_NAME.to_string(),
            election_timeout_min: millis(r.election_timeout),
            election_timeout_max: millis(r.election_timeout).saturating_mul(2),
            heartbeat_interval: millis(r.heartbeat_timeout) / 5,
            install_snapshot_timeout: millis(INSTALL_SNAPSHOT_TIMEOUT),
            max_payload_entries: r.max_append_entries,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(r.snapshot_threshold),
            max_in_snapshot_log_to_keep: r.trailing_logs,
            purge_batch_size: PURGE_BATCH_SIZE,
            enable_leader_restore: Some(false),
            ..openraft::Config::default()
        };
        config
            .validate()
            .map_err(|e| Error::Config(format!("raft settings rejected by openraft: {e}")))
    }
}

/// Whole milliseconds, openraft's unit, saturating instead of wrapping.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
