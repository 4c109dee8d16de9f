//! REST routes for the cluster (`/cluster/...`), as views over the typed
//! `api::cluster::ClusterApi`.
//!
//! The JSON keeps the Go server's field names (`node_id`, `state`, `leader_addr` as the Raft
//! address, peers with `"state":"Voter|Nonvoter"`, a `stats` map of strings) and adds ours:
//! `leader_client_addr`, `term`, and per peer `client_address`, `match_index`, `lag` and
//! `last_contact_ms`. Status, leader, peers and snapshot answer on every node; join and
//! leave on a follower answer 307 to the leader through the one error mapping.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::cluster::Join;
use crate::raft::cluster_status::{PeerStatus, Role};

use crate::gateway::Gateway;
use crate::gateway::body::JsonBody;
use crate::gateway::context::Ctx;
use crate::gateway::error::{HttpError, fail};

/// One member, as /cluster/status and /cluster/peers show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeerJson {
    /// Node name.
    pub id: String,
    /// Raft peer address.
    pub address: String,
    /// "Voter" or "Nonvoter".
    pub state: &'static str,
    /// Client (gRPC and REST) address.
    pub client_address: String,
    /// True for the current leader.
    pub is_leader: bool,
    /// Highest index replicated to it (leader's view; 0 elsewhere).
    pub match_index: u64,
    /// Entries it trails the leader's log by (leader's view; 0 elsewhere).
    pub lag: u64,
    /// Milliseconds since this node last heard from it; -1 when unknown.
    pub last_contact_ms: i64,
}

/// Answer of GET /cluster/status.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusJson {
    /// This node's name.
    pub node_id: String,
    /// "Leader", "Follower", "Candidate", "Learner" or "Shutdown".
    pub state: &'static str,
    /// The leader's name; empty when none is known.
    pub leader_id: String,
    /// The leader's Raft address.
    pub leader_addr: String,
    /// The leader's client address.
    pub leader_client_addr: String,
    /// Current term.
    pub term: u64,
    /// Every member.
    pub peers: Vec<PeerJson>,
    /// Last index in this node's log.
    pub last_index: u64,
    /// Highest index applied here.
    pub applied_index: u64,
    /// Highest index known committed.
    pub commit_index: u64,
    /// On the leader: true when it has lost contact with its quorum (writes are refused).
    pub quorum_lost: bool,
    /// On the leader: milliseconds since a quorum last acknowledged it; 0 elsewhere.
    pub quorum_contact_ms: u64,
    /// The Go server's raft stats, as strings.
    pub stats: BTreeMap<&'static str, String>,
}

/// Answer of GET /cluster/leader.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderJson {
    /// The leader's name.
    pub leader_id: String,
    /// The leader's Raft address.
    pub leader_addr: String,
    /// The leader's client address.
    pub leader_client_addr: String,
    /// True when the node that answered leads.
    pub is_self: bool,
}

/// Answer of GET /cluster/peers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeersJson {
    /// Every member.
    pub peers: Vec<PeerJson>,
    /// How many.
    pub count: usize,
}

/// Body of POST /cluster/join.
#[derive(Debug, Deserialize, ToSchema)]
pub struct JoinBody {
    /// The new node's name (its KONSUL_RAFT_NODE_ID).
    #[serde(default)]
    pub node_id: String,
    /// Its Raft address, host:port.
    #[serde(default)]
    pub address: String,
    /// Its client address, host:port, used in redirects to it.
    #[serde(default)]
    pub client_address: String,
    /// How long to wait for it to catch up, in milliseconds; 0 or absent: 60 s.
    #[serde(default)]
    pub catch_up_timeout_ms: u32,
}

/// Answer of POST /cluster/join.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinJson {
    /// Always "ok".
    pub status: &'static str,
    /// What happened.
    pub message: &'static str,
    /// The node's name.
    pub node_id: String,
    /// Its Raft address.
    pub address: String,
    /// True when it was already a voter there and nothing changed.
    pub already_member: bool,
}

/// Answer of DELETE /cluster/leave/{id}.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaveJson {
    /// Always "ok".
    pub status: &'static str,
    /// Always "Node removed successfully".
    pub message: &'static str,
    /// The removed node's name.
    pub node_id: String,
}

/// Answer of POST /cluster/snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotJson {
    /// Always "ok".
    pub status: &'static str,
    /// Always "Snapshot created successfully".
    pub message: &'static str,
    /// Last log index the snapshot covers.
    pub snapshot_index: u64,
}

fn state_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "Leader",
        Role::Follower => "Follower",
        Role::Candidate => "Candidate",
        Role::Learner => "Learner",
        Role::Shutdown => "Shutdown",
    }
}

fn peer_json(p: PeerStatus) -> PeerJson {
    let last_contact_ms = p.last_contact_ms();
    PeerJson {
        id: p.member.name,
        address: p.member.raft_addr,
        state: if p.voter { "Voter" } else { "Nonvoter" },
        client_address: p.member.client_addr,
        is_leader: p.is_leader,
        match_index: p.match_index.unwrap_or(0),
        lag: p.lag.unwrap_or(0),
        last_contact_ms,
    }
}

/// This node's view of the cluster.
#[utoipa::path(get, path = "/cluster/status", tag = "cluster",
    responses((status = 200, description = "Role, term, leader, indices and members", body = StatusJson)))]
pub async fn status(State(g): State<Gateway>, ctx: Ctx) -> Result<Json<StatusJson>, HttpError> {
    let s = g.cluster.status().await.map_err(|e| fail(&ctx, e))?.value;
    let voters = s.peers.iter().filter(|p| p.voter).count();
    let leader = s.leader.clone().unwrap_or_default();
    let quorum_contact_ms = s.quorum_contact_ms();
    let stats = BTreeMap::from([
        ("term", s.term.to_string()),
        ("last_log_index", s.last_index.to_string()),
        ("commit_index", s.commit_index.to_string()),
        ("applied_index", s.applied_index.to_string()),
        (
            "fsm_pending",
            s.commit_index.saturating_sub(s.applied_index).to_string(),
        ),
        (
            "last_snapshot_index",
            s.last_snapshot_index.unwrap_or(0).to_string(),
        ),
        ("num_peers", voters.saturating_sub(1).to_string()),
        ("protocol_version", "3".to_owned()),
        ("snapshot_version_max", "1".to_owned()),
    ]);
    Ok(Json(StatusJson {
        node_id: s.me.name,
        state: state_name(s.role),
        leader_id: leader.name,
        leader_addr: leader.raft_addr,
        leader_client_addr: leader.client_addr,
        term: s.term,
        peers: s.peers.into_iter().map(peer_json).collect(),
        last_index: s.last_index,
        applied_index: s.applied_index,
        commit_index: s.commit_index,
        quorum_lost: s.quorum_lost,
        quorum_contact_ms,
        stats,
    }))
}

/// The current leader.
#[utoipa::path(get, path = "/cluster/leader", tag = "cluster",
    responses(
        (status = 200, description = "The leader", body = LeaderJson),
        (status = 503, description = "No leader", body = crate::gateway::error::ShortError),
    ))]
pub async fn leader(State(g): State<Gateway>, ctx: Ctx) -> Result<Json<LeaderJson>, HttpError> {
    let l = g.cluster.leader().map_err(|e| fail(&ctx, e))?.value;
    Ok(Json(LeaderJson {
        leader_id: l.member.name,
        leader_addr: l.member.raft_addr,
        leader_client_addr: l.member.client_addr,
        is_self: l.is_self,
    }))
}

/// Every member of the cluster.
#[utoipa::path(get, path = "/cluster/peers", tag = "cluster",
    responses((status = 200, description = "The members", body = PeersJson)))]
pub async fn peers(State(g): State<Gateway>, ctx: Ctx) -> Result<Json<PeersJson>, HttpError> {
    let p = g.cluster.peers().await.map_err(|e| fail(&ctx, e))?.value;
    let peers: Vec<PeerJson> = p.into_iter().map(peer_json).collect();
    Ok(Json(PeersJson {
        count: peers.len(),
        peers,
    }))
}

/// Adds a node: as a learner, then, once caught up, as a voter. Leader only.
#[utoipa::path(post, path = "/cluster/join", tag = "cluster",
    request_body = JoinBody,
    responses(
        (status = 200, description = "The node is a voter", body = JoinJson),
        (status = 307, description = "Not the leader", body = crate::gateway::error::ShortError),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "Id taken at another address, or another change in progress"),
        (status = 503, description = "Clustering not enabled, or no leader", body = crate::gateway::error::ShortError),
        (status = 504, description = "The node did not catch up in time and was removed again", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn join(
    State(g): State<Gateway>,
    ctx: Ctx,
    JsonBody(body): JsonBody<JoinBody>,
) -> Result<Json<JoinJson>, HttpError> {
    let join = Join {
        node_id: body.node_id,
        address: body.address,
        client_address: body.client_address,
        catch_up_timeout_ms: body.catch_up_timeout_ms,
    };
    let r = g.cluster.join(join).await.map_err(|e| fail(&ctx, e))?.value;
    Ok(Json(JoinJson {
        status: "ok",
        message: if r.already_member {
            "Node is already a member"
        } else {
            "Node joined successfully"
        },
        node_id: r.member.name,
        address: r.member.raft_addr,
        already_member: r.already_member,
    }))
}

/// Removes a node, a follower or the leader itself. Leader only.
#[utoipa::path(delete, path = "/cluster/leave/{id}", tag = "cluster",
    params(("id" = String, Path, description = "The node's name")),
    responses(
        (status = 200, description = "Removed", body = LeaveJson),
        (status = 307, description = "Not the leader", body = crate::gateway::error::ShortError),
        (status = 404, description = "Not a member", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "Another change in progress", body = crate::gateway::error::ShortError),
        (status = 503, description = "Clustering not enabled, or no leader", body = crate::gateway::error::ShortError),
    ))]
pub async fn leave(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<LeaveJson>, HttpError> {
    let member = g.cluster.leave(&id).await.map_err(|e| fail(&ctx, e))?.value;
    Ok(Json(LeaveJson {
        status: "ok",
        message: "Node removed successfully",
        node_id: member.name,
    }))
}

/// Builds a snapshot on this node now.
#[utoipa::path(post, path = "/cluster/snapshot", tag = "cluster",
    responses(
        (status = 200, description = "Snapshot written", body = SnapshotJson),
        (status = 504, description = "The snapshot did not finish in time", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn snapshot(State(g): State<Gateway>, ctx: Ctx) -> Result<Json<SnapshotJson>, HttpError> {
    let snapshot_index = g.cluster.snapshot().await.map_err(|e| fail(&ctx, e))?.value;
    Ok(Json(SnapshotJson {
        status: "ok",
        message: "Snapshot created successfully",
        snapshot_index,
    }))
}
