//! The cluster calls of [`Client`]: thin wrappers over `ClusterService` and the domain types
//! they return. Membership changes go to the leader; status, leader and peers describe the
//! view of whichever node answers; a snapshot is built on the node that receives the call.

use konsul_proto::v1 as pb;
use konsul_proto::v1::cluster_service_client::ClusterServiceClient;
use tonic::transport::Channel;

use crate::client::{Client, MAX_RESPONSE_BYTES};
use crate::error::Result;
use crate::header::ResponseHeader;
use crate::routing::Route;

fn cluster(channel: Channel) -> ClusterServiceClient<Channel> {
    ClusterServiceClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
}

/// A node's Raft role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Not reported (an older server, or a value this SDK does not know).
    #[default]
    Unknown,
    /// Follows a leader.
    Follower,
    /// Campaigning to become leader.
    Candidate,
    /// The leader.
    Leader,
    /// Receives the log but does not vote.
    Learner,
    /// Stopped.
    Shutdown,
}

impl From<i32> for NodeState {
    fn from(raw: i32) -> Self {
        match pb::NodeState::try_from(raw).unwrap_or(pb::NodeState::Unspecified) {
            pb::NodeState::Unspecified => NodeState::Unknown,
            pb::NodeState::Follower => NodeState::Follower,
            pb::NodeState::Candidate => NodeState::Candidate,
            pb::NodeState::Leader => NodeState::Leader,
            pb::NodeState::Learner => NodeState::Learner,
            pb::NodeState::Shutdown => NodeState::Shutdown,
        }
    }
}

/// Whether a member votes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Suffrage {
    /// Not reported.
    #[default]
    Unknown,
    /// Votes and counts towards the quorum.
    Voter,
    /// Receives the log but does not vote (a joining node catching up).
    Learner,
}

impl From<i32> for Suffrage {
    fn from(raw: i32) -> Self {
        match pb::Suffrage::try_from(raw).unwrap_or(pb::Suffrage::Unspecified) {
            pb::Suffrage::Unspecified => Suffrage::Unknown,
            pb::Suffrage::Voter => Suffrage::Voter,
            pb::Suffrage::Learner => Suffrage::Learner,
        }
    }
}

/// One member of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// Node name.
    pub id: String,
    /// Raft peer address, `host:port`.
    pub address: String,
    /// Client (gRPC and REST) address, `host:port`.
    pub client_address: String,
    /// Voter or learner.
    pub suffrage: Suffrage,
    /// True for the current leader.
    pub is_leader: bool,
    /// Highest log index known replicated to this peer (leader's view; 0 elsewhere).
    pub match_index: u64,
    /// Entries this peer is behind the leader's last index (leader's view).
    pub lag: u64,
    /// Milliseconds since the leader last heard from this peer; `None` when unknown.
    pub last_contact_ms: Option<u64>,
}

impl From<pb::Peer> for Peer {
    fn from(p: pb::Peer) -> Self {
        Self {
            id: p.id,
            address: p.address,
            client_address: p.client_address,
            suffrage: p.suffrage.into(),
            is_leader: p.is_leader,
            match_index: p.match_index,
            lag: p.lag,
            last_contact_ms: u64::try_from(p.last_contact_ms).ok(),
        }
    }
}

/// One node's view of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node's name.
    pub node_id: String,
    /// This node's role.
    pub state: NodeState,
    /// Current term.
    pub term: u64,
    /// Leader's name; empty when none is known.
    pub leader_id: String,
    /// Leader's Raft address.
    pub leader_addr: String,
    /// Leader's client address.
    pub leader_client_addr: String,
    /// Index of the last entry in this node's log.
    pub last_index: u64,
    /// Highest index known committed.
    pub commit_index: u64,
    /// Highest index applied to the state machine.
    pub applied_index: u64,
    /// Last index covered by this node's newest snapshot.
    pub last_snapshot_index: u64,
    /// Every member, with replication progress when this node leads.
    pub peers: Vec<Peer>,
    /// On the leader: true when it has lost contact with its quorum and refuses writes.
    pub quorum_lost: bool,
    /// On the leader: how long ago a quorum last acknowledged it (zero elsewhere).
    pub quorum_contact: std::time::Duration,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::StatusResponse> for ClusterStatus {
    fn from(r: pb::StatusResponse) -> Self {
        Self {
            node_id: r.node_id,
            state: r.state.into(),
            term: r.term,
            leader_id: r.leader_id,
            leader_addr: r.leader_addr,
            leader_client_addr: r.leader_client_addr,
            last_index: r.last_index,
            commit_index: r.commit_index,
            applied_index: r.applied_index,
            last_snapshot_index: r.last_snapshot_index,
            peers: r.peers.into_iter().map(Into::into).collect(),
            quorum_lost: r.quorum_lost,
            quorum_contact: std::time::Duration::from_millis(r.quorum_contact_ms),
            header: r.header.into(),
        }
    }
}

/// Who leads, as seen by the node that answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Leader's name.
    pub leader_id: String,
    /// Leader's Raft address.
    pub leader_addr: String,
    /// Leader's client address.
    pub leader_client_addr: String,
    /// True when the node that answered is the leader.
    pub is_self: bool,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::LeaderResponse> for LeaderInfo {
    fn from(r: pb::LeaderResponse) -> Self {
        Self {
            leader_id: r.leader_id,
            leader_addr: r.leader_addr,
            leader_client_addr: r.leader_client_addr,
            is_self: r.is_self,
            header: r.header.into(),
        }
    }
}

/// The node a join added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Joined {
    /// The node's name.
    pub node_id: String,
    /// The node's Raft address.
    pub address: String,
    /// True when it already was a member at that address (nothing changed).
    pub already_member: bool,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::JoinResponse> for Joined {
    fn from(r: pb::JoinResponse) -> Self {
        Self {
            node_id: r.node_id,
            address: r.address,
            already_member: r.already_member,
            header: r.header.into(),
        }
    }
}

/// The snapshot a node built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Last log index the snapshot covers.
    pub snapshot_index: u64,
    /// Who answered (the node that built it).
    pub header: ResponseHeader,
}

impl Client {
    /// The view of the cluster of the first reachable endpoint.
    pub async fn status(&self) -> Result<ClusterStatus> {
        let r = self
            .router
            .call(Route::ANY_READ, pb::StatusRequest {}, |ch, r| async move {
                cluster(ch).status(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// The current leader, as the first reachable endpoint knows it. Retries while an
    /// election is under way; [`crate::Error::NoLeader`] when none is elected in time.
    pub async fn leader(&self) -> Result<LeaderInfo> {
        let r = self
            .router
            .call(Route::ANY_READ, pb::LeaderRequest {}, |ch, r| async move {
                cluster(ch).leader(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Every member of the cluster.
    pub async fn peers(&self) -> Result<Vec<Peer>> {
        let r = self
            .router
            .call(Route::ANY_READ, pb::PeersRequest {}, |ch, r| async move {
                cluster(ch).peers(r).await
            })
            .await?;
        Ok(r.peers.into_iter().map(Into::into).collect())
    }

    /// Adds node `node_id` (Raft address `raft_addr`, client address `client_addr`, which may
    /// be empty) as a learner and, once caught up, a voter. Answers when it votes.
    pub async fn join(
        &self,
        node_id: impl Into<String>,
        raft_addr: impl Into<String>,
        client_addr: impl Into<String>,
    ) -> Result<Joined> {
        let req = pb::JoinRequest {
            node_id: node_id.into(),
            address: raft_addr.into(),
            client_address: client_addr.into(),
            // 0: the server's default catch-up deadline.
            catch_up_timeout_ms: 0,
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                cluster(ch).join(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Removes node `node_id` from the cluster (a follower, or the leader itself).
    pub async fn leave(&self, node_id: impl Into<String>) -> Result<ResponseHeader> {
        let req = pb::LeaveRequest {
            node_id: node_id.into(),
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                cluster(ch).leave(r).await
            })
            .await?;
        Ok(r.header.into())
    }

    /// Builds a snapshot now on the first reachable endpoint.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let r = self
            .router
            .call(
                Route::ANY_WRITE,
                pb::SnapshotRequest {},
                |ch, r| async move { cluster(ch).snapshot(r).await },
            )
            .await?;
        Ok(Snapshot {
            snapshot_index: r.snapshot_index,
            header: r.header.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_read_as_unknown() {
        assert_eq!(NodeState::from(99), NodeState::Unknown);
        assert_eq!(
            NodeState::from(pb::NodeState::Leader as i32),
            NodeState::Leader
        );
        assert_eq!(Suffrage::from(-1), Suffrage::Unknown);
    }

    #[test]
    fn negative_last_contact_means_unknown() {
        let p = Peer::from(pb::Peer {
            last_contact_ms: -1,
            ..Default::default()
        });
        assert_eq!(p.last_contact_ms, None);
    }
}
