//! `konsul.v1.ClusterService` over the typed cluster API: protobuf in, the matching
//! [`ClusterApi`] method, protobuf (or the error's status) out. No logic of its own.

use konsul_proto::v1 as pb;
use konsul_proto::v1::cluster_service_server::ClusterService;
use tonic::{Request, Response, Status};

use crate::api::cluster::{ClusterApi, Join};
use crate::api::convert;
use crate::raft::cluster_status::{PeerStatus, Role};

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
    let last_contact_ms = p.last_contact_ms();
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
        last_contact_ms,
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let a = ClusterApi::status(self).await?;
        let s = a.value;
        let quorum_contact_ms = s.quorum_contact_ms();
        let leader = s.leader.unwrap_or_default();
        Ok(Response::new(pb::StatusResponse {
            header: Some(convert::header(a.header)),
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
            quorum_contact_ms,
        }))
    }

    async fn leader(
        &self,
        _: Request<pb::LeaderRequest>,
    ) -> Result<Response<pb::LeaderResponse>, Status> {
        let a = ClusterApi::leader(self)?;
        let l = a.value;
        Ok(Response::new(pb::LeaderResponse {
            header: Some(convert::header(a.header)),
            is_self: l.is_self,
            leader_id: l.member.name,
            leader_addr: l.member.raft_addr,
            leader_client_addr: l.member.client_addr,
        }))
    }

    async fn peers(
        &self,
        _: Request<pb::PeersRequest>,
    ) -> Result<Response<pb::PeersResponse>, Status> {
        let a = ClusterApi::peers(self).await?;
        Ok(Response::new(pb::PeersResponse {
            header: Some(convert::header(a.header)),
            peers: a.value.into_iter().map(peer).collect(),
        }))
    }

    async fn join(
        &self,
        r: Request<pb::JoinRequest>,
    ) -> Result<Response<pb::JoinResponse>, Status> {
        let req = r.into_inner();
        let join = Join {
            node_id: req.node_id,
            address: req.address,
            client_address: req.client_address,
            catch_up_timeout_ms: req.catch_up_timeout_ms,
        };
        let a = ClusterApi::join(self, join).await?;
        Ok(Response::new(pb::JoinResponse {
            header: Some(convert::header(a.header)),
            node_id: a.value.member.name,
            address: a.value.member.raft_addr,
            already_member: a.value.already_member,
        }))
    }

    async fn leave(
        &self,
        r: Request<pb::LeaveRequest>,
    ) -> Result<Response<pb::LeaveResponse>, Status> {
        let a = ClusterApi::leave(self, &r.into_inner().node_id).await?;
        Ok(Response::new(pb::LeaveResponse {
            header: Some(convert::header(a.header)),
            node_id: a.value.name,
        }))
    }

    async fn snapshot(
        &self,
        _: Request<pb::SnapshotRequest>,
    ) -> Result<Response<pb::SnapshotResponse>, Status> {
        let a = ClusterApi::snapshot(self).await?;
        Ok(Response::new(pb::SnapshotResponse {
            header: Some(convert::header(a.header)),
            snapshot_index: a.value,
        }))
    }
}
