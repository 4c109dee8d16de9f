//! `GET /debug/stages`: this node's write-path counters (`raft/stages.rs`) as JSON, for
//! profiling: `scripts/bench-cluster.sh` reads them on every node around each run. Local to
//! the node that answers (never forwarded) and cumulative since it started.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::gateway::Gateway;

/// The counters of one node.
#[derive(Debug, Serialize, ToSchema)]
pub struct StagesJson {
    /// The answering node's name.
    pub node: String,
    /// One entry per stage, in the order of the write path.
    pub stages: Vec<StageJson>,
}

/// The totals of one stage since the node started.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageJson {
    /// queue, propose, append, log_write, replicate, peer_decode or apply.
    pub stage: String,
    /// Steps measured.
    pub count: u64,
    /// Items those steps handled: writes (queue, propose), entries (append, log_write,
    /// replicate, peer_decode) or commands (apply).
    pub items: u64,
    /// Time spent in them, in microseconds.
    pub total_us: u64,
}

/// This node's write-path counters.
#[utoipa::path(get, path = "/debug/stages", tag = "meta",
    responses((status = 200, description = "Time and counts per write-path stage on this node", body = StagesJson)))]
pub async fn stages(State(g): State<Gateway>) -> Json<StagesJson> {
    let (node, stages) = g.health.write_stages();
    let stages = stages
        .into_iter()
        .map(|t| StageJson {
            stage: t.stage.to_owned(),
            count: t.count,
            items: t.items,
            total_us: t.total_us,
        })
        .collect();
    Json(StagesJson { node, stages })
}
