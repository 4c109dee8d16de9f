//! The cluster as one node sees it, in plain Rust types for `api/cluster`: role, term,
//! leader, log indices, and every member with the leader's replication progress and last
//! contact. Also the on-demand snapshot. Read-only apart from that snapshot, and served by
//! every node in every mode.
//!
//! ```text
//!  api/cluster Status/Leader/Peers ──► RaftNode::cluster_status ──► openraft metrics
//!                                                                   + network LastContact
//!  api/cluster Snapshot ──► RaftNode::snapshot ──► trigger().snapshot(), wait for metrics
//! ```

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use openraft::ServerState;

use crate::error::{Error, Result};
use crate::raft::node::RaftNode;
use crate::raft::{Member, NodeId};

/// How long [`RaftNode::snapshot`] waits for the snapshot to be written.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// A node's Raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Leads the cluster.
    Leader,
    /// Follows a leader and votes.
    Follower,
    /// Campaigning.
    Candidate,
    /// Receives the log without voting (a joining node, or one not joined yet).
    Learner,
    /// Stopped.
    Shutdown,
}

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// openraft's numeric id.
    pub id: NodeId,
    /// Name and addresses.
    pub member: Member,
    /// True for a voter, false for a learner.
    pub voter: bool,
    /// True for the current leader.
    pub is_leader: bool,
    /// Highest index replicated to it (known on the leader only).
    pub match_index: Option<u64>,
    /// How far it trails the leader's last log index (known on the leader only).
    pub lag: Option<u64>,
    /// Time since this node last completed an RPC with it; zero for this node itself.
    pub last_contact: Option<Duration>,
}

/// This node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node.
    pub me: Member,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<Member>,
    /// Last index in its log.
    pub last_index: u64,
    /// Highest index it knows to be committed.
    pub commit_index: u64,
    /// Highest index applied to its state machine.
    pub applied_index: u64,
    /// Last index its newest snapshot covers.
    pub last_snapshot_index: Option<u64>,
    /// Last index removed from its log (covered by a snapshot).
    pub purged_index: Option<u64>,
    /// Every member, voters first, then by name.
    pub peers: Vec<PeerStatus>,
    /// On the leader: how long ago a quorum was last in contact with it (`quorum_contact.rs`).
    pub quorum_contact: Option<Duration>,
    /// On the leader: true when that is longer than the quorum timeout, so writes are
    /// refused (`writes.rs`).
    pub quorum_lost: bool,
}

impl PeerStatus {
    /// Milliseconds since this node last heard from the peer; -1 when it never has (the
    /// wire and JSON form of [`PeerStatus::last_contact`]).
    pub fn last_contact_ms(&self) -> i64 {
        self.last_contact
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

impl ClusterStatus {
    /// On the leader, milliseconds since a quorum last acknowledged it; 0 elsewhere.
    pub fn quorum_contact_ms(&self) -> u64 {
        self.quorum_contact
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl RaftNode {
    /// The cluster as this node sees it now.
    pub async fn cluster_status(&self) -> Result<ClusterStatus> {
        let commit_index = self
            .raft()
            .with_raft_state(|s| s.local_committed().map_or(0, |l| l.index))
            .await
            .map_err(|e| Error::Unavailable(format!("raft stopped: {e}")))?;
        let m = self.raft().metrics().borrow_watched().clone();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        let membership = m.membership_config.membership();
        let last_index = m.last_log_index.unwrap_or(0);
        let mut peers: Vec<PeerStatus> = membership
            .nodes()
            .map(|(id, member)| {
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned())
                    .map(|l| l.map_or(0, |l| l.index));
                let me = *id == self.id();
                let match_index = if me && role == Role::Leader {
                    Some(last_index)
                } else {
                    matched
                };
                PeerStatus {
                    id: *id,
                    member: member.clone(),
                    voter: membership.voter_ids().any(|v| v == *id),
                    is_leader: m.current_leader == Some(*id),
                    match_index,
                    lag: match_index.map(|i| last_index.saturating_sub(i)),
                    last_contact: if me {
                        Some(Duration::ZERO)
                    } else {
                        self.contact.since(*id)
                    },
                }
            })
            .collect();
        peers.sort_by(|a, b| (!a.voter, &a.member.name).cmp(&(!b.voter, &b.member.name)));
        let now = tokio::time::Instant::now();
        let quorum_contact = self
            .quorum_contact(now)
            .map(|t| now.saturating_duration_since(t));
        Ok(ClusterStatus {
            quorum_lost: self.quorum_loss(now).is_some(),
            quorum_contact,
            me: self.member().clone(),
            role,
            term: m.current_term,
            leader: self.leader(),
            last_index,
            commit_index,
            applied_index: self.view().applied_index(),
            last_snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            peers,
        })
    }

    /// The leader this node knows of, if any.
    pub fn leader(&self) -> Option<Member> {
        let m = self.raft().metrics().borrow_watched().clone();
        m.current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned())
    }

    /// Builds a snapshot of this node's state machine now and waits (at most
    /// [`SNAPSHOT_TIMEOUT`]) until it covers everything applied when the call began. Returns
    /// the last index the snapshot covers. Works on any node: snapshots are local.
    pub async fn snapshot(&self) -> Result<u64> {
        let applied = match self.view().applied_log_id() {
            Some(l) => l.index,
            None => return Err(Error::InvalidArgument("nothing to snapshot yet".into())),
        };
        self.raft()
            .trigger()
            .snapshot()
            .await
            .map_err(|e| Error::Unavailable(format!("raft stopped: {e}")))?;
        let m = self
            .raft()
            .wait(Some(SNAPSHOT_TIMEOUT))
            .metrics(
                |m| m.snapshot.is_some_and(|s| s.index >= applied),
                "snapshot covering the applied index",
            )
            .await
            .map_err(|e| match e {
                openraft::metrics::WaitError::Timeout(..) => Error::Timeout(format!(
                    "the snapshot did not cover index {applied} within {SNAPSHOT_TIMEOUT:?}"
                )),
                other => Error::Unavailable(other.to_string()),
            })?;
        Ok(m.snapshot.map_or(applied, |s| s.index))
    }
}
