//! REST health routes: `/health` (a summary), `/health/live` (the process answers) and
//! `/health/ready` (200 only while the node is ready: leader known and log applied; 503
//! otherwise, so load balancers and orchestrators stop sending traffic), as views over
//! `api::health::HealthApi`.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::gateway::Gateway;
use crate::gateway::format::{go_duration, rfc3339};

/// Answer of GET /health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthAnswer {
    /// "healthy".
    pub status: &'static str,
    /// Server version.
    pub version: String,
    /// Time since the gateway started, e.g. "1h2m3s".
    pub uptime: String,
    /// Now, RFC 3339.
    pub timestamp: String,
    /// Whether the node is ready to serve (leader known, log applied).
    pub ready: bool,
    /// Key/value store summary.
    pub kv_store: KvSummary,
    /// Raft summary.
    pub raft: RaftSummary,
}

/// Key/value store summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct KvSummary {
    /// Number of keys.
    pub total_keys: usize,
}

/// Raft summary as seen by this node.
#[derive(Debug, Serialize, ToSchema)]
pub struct RaftSummary {
    /// This node's name.
    pub node_id: String,
    /// The leader's name, empty when unknown.
    pub leader_id: String,
    /// Current term.
    pub term: u64,
    /// Index applied to the state machine.
    pub applied_index: u64,
}

/// Answer of /health/live and /health/ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusAnswer {
    /// "alive", "ready" or "not ready".
    pub status: &'static str,
    /// Now, RFC 3339.
    pub timestamp: String,
}

/// Summary of the node's health; always 200 while the process answers.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Summary", body = HealthAnswer)))]
pub async fn health(State(g): State<Gateway>) -> Json<HealthAnswer> {
    let summary = g.health.summary();
    let h = summary.header;
    Json(HealthAnswer {
        status: "healthy",
        version: g.version.to_string(),
        uptime: go_duration(g.started.elapsed()),
        timestamp: rfc3339(g.deps.clock.now()),
        ready: summary.ready,
        kv_store: KvSummary {
            total_keys: summary.total_keys,
        },
        raft: RaftSummary {
            node_id: h.served_by,
            leader_id: h.leader_name,
            term: h.term,
            applied_index: h.applied_index,
        },
    })
}

/// Liveness: 200 while the process answers.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = StatusAnswer)))]
pub async fn live(State(g): State<Gateway>) -> Json<StatusAnswer> {
    Json(StatusAnswer {
        status: "alive",
        timestamp: rfc3339(g.deps.clock.now()),
    })
}

/// Readiness: 200 when a leader is known and the log is applied, else 503.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Ready", body = StatusAnswer),
        (status = 503, description = "Not ready", body = StatusAnswer),
    ))]
pub async fn ready(State(g): State<Gateway>) -> (StatusCode, Json<StatusAnswer>) {
    let timestamp = rfc3339(g.deps.clock.now());
    if g.health.ready() {
        (
            StatusCode::OK,
            Json(StatusAnswer {
                status: "ready",
                timestamp,
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(StatusAnswer {
                status: "not ready",
                timestamp,
            }),
        )
    }
}
