//! The node's health: the typed API behind the REST `/health` routes ([`HealthApi`]), and
//! readiness for gRPC health checking (tonic-health's serving status follows
//! `RaftNode::readiness`, leader known and the log applied, for the whole server ("") and
//! for each public service).

use std::time::Duration;

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::raft::node::{HeaderInfo, RaftNode};
use crate::raft::stages::StageTotals;

/// What `/health` reports about the node.
#[derive(Debug, Clone)]
pub struct HealthSummary {
    /// Ready to serve: a leader known and the log applied.
    pub ready: bool,
    /// Keys in the applied store.
    pub total_keys: usize,
    /// This node's name, leader, term and applied index.
    pub header: HeaderInfo,
}

/// The health calls over one Raft node. They answer on every node at once and never wait:
/// health probes must not hang on a cluster that has lost its leader.
#[derive(Clone)]
pub struct HealthApi {
    node: RaftNode,
}

impl HealthApi {
    /// The health API of `node`.
    pub fn new(node: RaftNode) -> Self {
        Self { node }
    }

    /// The node's summary, as it is now.
    pub fn summary(&self) -> HealthSummary {
        HealthSummary {
            ready: self.node.is_ready(),
            total_keys: self.node.view().read(|s| s.len()),
            header: self.node.header(),
        }
    }

    /// Whether the node is ready: a leader known and the log applied.
    pub fn ready(&self) -> bool {
        self.node.is_ready()
    }

    /// The node's header facts now (what a 404 of a read says it reflected).
    pub fn header(&self) -> HeaderInfo {
        self.node.header()
    }

    /// The node's name and its write-path counters (`GET /debug/stages`).
    pub fn write_stages(&self) -> (String, Vec<StageTotals>) {
        (
            self.node.member().name.clone(),
            self.node.stages().snapshot(),
        )
    }
}

/// Services whose health status follows readiness, besides the whole server ("").
pub const SERVICES: &[&str] = &[
    "konsul.v1.KVService",
    "konsul.v1.CatalogService",
    "konsul.v1.ClusterService",
];

/// How long a starting node waits for a leader before it says so in the log. It keeps
/// waiting (and keeps reporting NOT_SERVING) after that: joining may take longer.
pub const LEADER_WAIT: Duration = Duration::from_secs(30);

/// Keeps `reporter` in step with the node's readiness until the node stops, and warns once
/// if no leader is known [`LEADER_WAIT`] after start.
pub fn follow_readiness(node: &RaftNode, reporter: HealthReporter) {
    let mut first_ready = node.readiness();
    let name = node.member().name.clone();
    tokio::spawn(async move {
        let ready = tokio::time::timeout(LEADER_WAIT, first_ready.wait_for(|r| *r)).await;
        match ready {
            Ok(Ok(_)) => tracing::info!(node = %name, "ready: leader known and log applied"),
            Ok(Err(_)) => {}
            Err(_) => tracing::warn!(
                node = %name,
                "no leader after {LEADER_WAIT:?}; still NOT_SERVING. A cluster member needs a \
                 bootstrapped node (KONSUL_RAFT_BOOTSTRAP=true) or a join (KONSUL_RAFT_JOIN or \
                 POST /cluster/join on the leader)"
            ),
        }
    });
    let mut ready = node.readiness();
    tokio::spawn(async move {
        loop {
            let status = if *ready.borrow_and_update() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            for s in SERVICES {
                reporter.set_service_status(*s, status).await;
            }
            if ready.changed().await.is_err() {
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                return;
            }
        }
    });
}
