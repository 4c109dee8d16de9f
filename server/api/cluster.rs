//! ClusterService: the cluster's status and membership, gRPC first.
//!
//! Status, Leader, Peers and Snapshot read `RaftNode::cluster_status` or snapshot locally and
//! answer on any node, standalone or clustered. Join and Leave go to `raft::membership` on
//! the leader; on a follower they fail with the leader's address (UNAVAILABLE plus metadata,
//! a 307 over REST) through the one error mapping of `api::status`. The REST gateway calls
//! these same methods.

use std::time::Duration;

use konsul_proto::v1 as pb;
use konsul_proto::v1::cluster_service_server::ClusterService;
use tonic::{Request, Response as GrpcResponse, Status};

use crate::api::convert;
use crate::error::{Error, Result};
use crate::raft::cluster_status::{PeerStatus, Role};
use crate::raft::membership::{DEFAULT_CATCH_UP_TIMEOUT, JoinSpec};
use crate::raft::node::RaftNode;

/// Longest node name accepted by Join (the same limit the configuration enforces).
pub const MAX_NODE_NAME_BYTES: usize = 64;

/// The cluster service over one Raft node.
#[derive(Clone)]
pub struct ClusterApi {
    node: RaftNode,
}

impl ClusterApi {
    /// A cluster service for `node`.
    pub fn new(node: RaftNode) -> Self {
        Self { node }
    }

    fn header(&self) -> Option<pb::ResponseHeader> {
        Some(convert::header(self.node.header()))
    }
}

fn role(r: Role) -> pb::NodeState {
    match r {
        Role::Leader => pb::NodeState::Leader,
        Role::Follower => pb::NodeState::Follower,
        Role::Candidate => pb::NodeState::Candidate,
        Role::Learner => pb::NodeState::Learner,
        Role::Shutdown => pb::NodeState::Shutdown,
    }
}

fn peer(p: PeerStatus) -> pb::Peer {
    pb::Peer {
        id: p.member.name,
        address: p.member.raft_addr,
        client_address: p.member.client_addr,
        suffrage: if p.voter {
            pb::Suffrage::Voter
        } else {
            pb::Suffrage::Learner
        } as i32,
        is_leader: p.is_leader,
        match_index: p.match_index.unwrap_or(0),
        lag: p.lag.unwrap_or(0),
        last_contact_ms: p
            .last_contact
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    }
}

/// Checks a node name as the configuration does: letters, digits, `.`, `_`, `-`.
fn node_name(field: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if name.len() > MAX_NODE_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes, the limit is {MAX_NODE_NAME_BYTES}",
                name.len()
            ),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::invalid(
            field,
            format!("'{name}' may contain only letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(())
}

/// Checks a `host:port` address with a non-zero port.
fn host_port(field: &str, addr: &str, required: bool) -> Result<()> {
    if addr.is_empty() {
        return if required {
            Err(Error::invalid(field, "is required"))
        } else {
            Ok(())
        };
    }
    let ok = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("'{addr}' is not host:port (e.g. 10.0.0.5:7000)"),
        ))
    }
}

impl ClusterApi {
    async fn status_inner(&self) -> Result<pb::StatusResponse> {
        let s = self.node.cluster_status().await?;
        let leader = s.leader.unwrap_or_default();
        Ok(pb::StatusResponse {
            header: self.header(),
            node_id: s.me.name,
            state: role(s.role) as i32,
            term: s.term,
            leader_id: leader.name,
            leader_addr: leader.raft_addr,
            leader_client_addr: leader.client_addr,
            last_index: s.last_index,
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            last_snapshot_index: s.last_snapshot_index.unwrap_or(0),
            peers: s.peers.into_iter().map(peer).collect(),
            quorum_lost: s.quorum_lost,
            quorum_contact_ms: s
                .quorum_contact
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        })
    }

    fn leader_inner(&self) -> Result<pb::LeaderResponse> {
        let leader = self.node.leader().ok_or(Error::NoLeader)?;
        Ok(pb::LeaderResponse {
            header: self.header(),
            is_self: leader.name == self.node.member().name,
            leader_id: leader.name,
            leader_addr: leader.raft_addr,
            leader_client_addr: leader.client_addr,
        })
    }

    async fn peers_inner(&self) -> Result<pb::PeersResponse> {
        let s = self.node.cluster_status().await?;
        Ok(pb::PeersResponse {
            header: self.header(),
            peers: s.peers.into_iter().map(peer).collect(),
        })
    }

    async fn join_inner(&self, req: pb::JoinRequest) -> Result<pb::JoinResponse> {
        node_name("node_id", &req.node_id)?;
        host_port("address", &req.address, true)?;
        host_port("client_address", &req.client_address, false)?;
        let catch_up_timeout = match req.catch_up_timeout_ms {
            0 => DEFAULT_CATCH_UP_TIMEOUT,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let joined = self
            .node
            .join(JoinSpec {
                name: req.node_id,
                raft_addr: req.address,
                client_addr: req.client_address,
                catch_up_timeout,
            })
            .await?;
        Ok(pb::JoinResponse {
            header: self.header(),
            node_id: joined.member.name,
            address: joined.member.raft_addr,
            already_member: joined.already_member,
        })
    }

    async fn leave_inner(&self, req: pb::LeaveRequest) -> Result<pb::LeaveResponse> {
        if req.node_id.is_empty() {
            return Err(Error::invalid("node_id", "is required"));
        }
        let member = self.node.leave(&req.node_id).await?;
        Ok(pb::LeaveResponse {
            header: self.header(),
            node_id: member.name,
        })
    }

    async fn snapshot_inner(&self) -> Result<pb::SnapshotResponse> {
        let snapshot_index = self.node.snapshot().await?;
        Ok(pb::SnapshotResponse {
            header: self.header(),
            snapshot_index,
        })
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<GrpcResponse<pb::StatusResponse>, Status> {
        Ok(GrpcResponse::new(self.status_inner().await?))
    }

    async fn leader(
        &self,
        _request: Request<pb::LeaderRequest>,
    ) -> Result<GrpcResponse<pb::LeaderResponse>, Status> {
        Ok(GrpcResponse::new(self.leader_inner()?))
    }

    async fn peers(
        &self,
        _request: Request<pb::PeersRequest>,
    ) -> Result<GrpcResponse<pb::PeersResponse>, Status> {
        Ok(GrpcResponse::new(self.peers_inner().await?))
    }

    async fn join(
        &self,
        request: Request<pb::JoinRequest>,
    ) -> Result<GrpcResponse<pb::JoinResponse>, Status> {
        Ok(GrpcResponse::new(
            self.join_inner(request.into_inner()).await?,
        ))
    }

    async fn leave(
        &self,
        request: Request<pb::LeaveRequest>,
    ) -> Result<GrpcResponse<pb::LeaveResponse>, Status> {
        Ok(GrpcResponse::new(
            self.leave_inner(request.into_inner()).await?,
        ))
    }

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<GrpcResponse<pb::SnapshotResponse>, Status> {
        Ok(GrpcResponse::new(self.snapshot_inner().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_input_names_the_field() {
        assert_eq!(
            node_name("node_id", "").unwrap_err().to_string(),
            "node_id: is required"
        );
        assert!(node_name("node_id", "node-2.a_b").is_ok());
        assert!(node_name("node_id", "bad name").is_err());
        assert_eq!(
            host_port("address", "", true).unwrap_err().to_string(),
            "address: is required"
        );
        assert!(host_port("address", "10.0.0.1:7000", true).is_ok());
        assert!(host_port("address", "[::1]:7000", true).is_ok());
        assert!(host_port("address", "10.0.0.1", true).is_err());
        assert!(host_port("address", "h:0", true).is_err());
        assert!(host_port("client_address", "", false).is_ok());
    }
}
