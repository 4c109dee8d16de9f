//! Readiness for gRPC health checking: tonic-health's serving status follows
//! `RaftNode::readiness` (leader known and the log applied), for the whole server ("") and
//! for each public service.

use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::raft::node::RaftNode;

/// Services whose health status follows readiness, besides the whole server ("").
pub const SERVICES: &[&str] = &["konsul.v1.KVService"];

/// Keeps `reporter` in step with the node's readiness until the node stops.
pub fn follow_readiness(node: &RaftNode, reporter: HealthReporter) {
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
