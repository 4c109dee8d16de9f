//! Last contact: when this node last heard from each peer. The network records completed
//! calls it made, the peer service records what the leader sent it, and the node reads it
//! for response headers (how stale a follower's read may be) and the cluster status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::NodeId;

/// When this node last completed an RPC with each peer (monotonic tokio time): calls it
/// made (the network), and, on a follower, AppendEntries and snapshots it accepted from the
/// leader (the peer service). Shared by both and the node; cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct LastContact(Arc<Mutex<HashMap<NodeId, tokio::time::Instant>>>);

impl LastContact {
    /// Notes that a call to `peer` just succeeded.
    pub fn record(&self, peer: NodeId) {
        let now = tokio::time::Instant::now();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, now);
    }

    /// How long ago this node last completed a call with any peer; `None` if never.
    pub fn latest(&self) -> Option<Duration> {
        let table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        table.values().max().map(|at| at.elapsed())
    }

    /// How long ago a call to `peer` last succeeded; `None` if none ever did.
    pub fn since(&self, peer: NodeId) -> Option<Duration> {
        let at = *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)?;
        Some(at.elapsed())
    }
}
