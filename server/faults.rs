//! Test-only fault injection: named failpoints at the seams of the data flow, and (with the
//! `failpoints` feature) the `/debug/faults` endpoint that sets them, the node's clock
//! offset and its peer routes on a running process.
//!
//! ```text
//!  log writer ── "log.fsync" ───────────► a slow disk on one node
//!  log writer ── "log.fail" ────────────► a dying disk: the Raft core stops
//!  raft node  ── "write.reply" ─────────► a leader that is slow to answer a committed write
//!  raft node  ── "read.local" ──────────► the broken read path the fault suite must catch
//!  network    ── "peer.replicate" ──────► AppendEntries that carry log positions arrive late
//! ```
//!
//! Failpoints come from the `fail` crate (TiKV's). Without the `failpoints` feature every
//! check here is an inline `None` and nothing is compiled in, so release builds carry none
//! of it. With it, a point fires when configured as `return(<ms>)` (or `return` for 0 ms),
//! either by its plain name (every node in the process) or as `<name>@<node>` (one node of
//! an in-process test cluster: the registry is global to the process). Configure them with
//! `fail::cfg`, the `FAILPOINTS` environment variable (`name=return(200);...`) or, on a
//! running process, `PUT /debug/faults`.

use std::sync::Arc;
use std::time::Duration;

/// The failpoints of one node; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct FaultPoints {
    /// The node name that node-specific point names end with.
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    node: Arc<str>,
}

/// The log writer sleeps this long before each commit (a slow fsync).
pub const LOG_FSYNC: &str = "log.fsync";
/// The log writer's next commit fails as a dying disk's would (nothing is written): the
/// log takes no more writes and the Raft core stops with a storage error.
pub const LOG_FAIL: &str = "log.fail";
/// The leader waits this long after a write is applied before it answers.
pub const WRITE_REPLY: &str = "write.reply";
/// Leader and strong reads skip every freshness check and serve local state: a deliberately
/// broken read path, so the fault suite can show it would catch one.
pub const READ_LOCAL: &str = "read.local";
/// AppendEntries that name a log position (replication, not the bare heartbeat of a
/// linearizable read) are held back this long before they are sent.
pub const PEER_REPLICATE: &str = "peer.replicate";

impl FaultPoints {
    /// The failpoints of node `node`.
    pub fn new(node: &str) -> Self {
        Self {
            node: Arc::from(node),
        }
    }

    /// How long `point` asks to be delayed, if it is configured for this node.
    pub fn delay(&self, point: &str) -> Option<Duration> {
        #[cfg(feature = "failpoints")]
        {
            let eval = |name: &str| {
                fail::eval(name, |arg| {
                    arg.and_then(|a| a.trim().parse::<u64>().ok())
                        .map_or(Duration::ZERO, Duration::from_millis)
                })
            };
            eval(&format!("{point}@{}", self.node)).or_else(|| eval(point))
        }
        #[cfg(not(feature = "failpoints"))]
        {
            let _ = point;
            None
        }
    }

    /// True when `point` is configured for this node.
    pub fn fires(&self, point: &str) -> bool {
        self.delay(point).is_some()
    }

    /// Waits as long as `point` asks (async code).
    pub async fn pause(&self, point: &str) {
        if let Some(d) = self.delay(point) {
            tokio::time::sleep(d).await;
        }
    }

    /// Blocks the calling thread as long as `point` asks: only for code that already runs
    /// on the blocking executor (the log writer's commit).
    pub fn pause_blocking(&self, point: &str) {
        if let Some(d) = self.delay(point) {
            std::thread::sleep(d);
        }
    }
}

#[cfg(feature = "failpoints")]
pub use control::{FaultControl, FaultRequest};

#[cfg(feature = "failpoints")]
mod control {
    //! The runtime control of a process's faults, behind `PUT /debug/faults`.

    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::{Deserialize, Serialize};

    use crate::deps::{OffsetClock, Routes};

    /// What `PUT /debug/faults` may change; every field is optional.
    #[derive(Debug, Default, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct FaultRequest {
        /// Failpoint name → `fail` actions (`return(200)`, `off`); `off` removes it.
        #[serde(default)]
        pub failpoints: BTreeMap<String, String>,
        /// The wall clock's offset from the system clock, in ms (may be negative).
        #[serde(default)]
        pub clock_offset_ms: Option<i64>,
        /// Address → address this node dials instead (peer and forwarding connections);
        /// an empty value removes the route.
        #[serde(default)]
        pub routes: BTreeMap<String, String>,
    }

    /// The handles `PUT /debug/faults` turns.
    #[derive(Clone)]
    pub struct FaultControl {
        /// The node's wall clock.
        pub clock: Arc<OffsetClock>,
        /// The node's dial routes.
        pub routes: Routes,
    }

    impl FaultControl {
        /// Applies `req`; the first bad failpoint action is an error naming it.
        pub fn apply(&self, req: &FaultRequest) -> Result<(), String> {
            for (name, actions) in &req.failpoints {
                if actions == "off" {
                    fail::remove(name);
                } else {
                    fail::cfg(name.clone(), actions)
                        .map_err(|e| format!("failpoints.{name}: {e}"))?;
                }
            }
            if let Some(ms) = req.clock_offset_ms {
                self.clock.set_offset_ms(ms);
            }
            for (from, to) in &req.routes {
                self.routes
                    .set(from, (!to.is_empty()).then_some(to.as_str()));
            }
            Ok(())
        }
    }
}
