//! Membership changes on the leader: join (learner → caught up → voter) and leave.
//!
//! ```text
//!  api/cluster Join ──► RaftNode::join ──try_lock──► add_learner ──wait caught up──► voter
//!  api/cluster Leave ─► RaftNode::leave ─try_lock──► change_membership(remove)
//!                                          └─ the leader itself: handover.rs first
//! ```
//!
//! Before adding a node, the leader asks the node at the given Raft address who it is (the
//! `Identity` peer RPC) instead of trusting the operator: the name must match, and the
//! member record gets the node's incarnation, which every later peer call names. A member
//! that comes back with another incarnation (its data dir was wiped) is refused until it has
//! been removed: it lost the vote and the entries it acknowledged, so it must join afresh.
//!
//! Changes are serialised by one mutex taken with `try_lock`: a second change while one is
//! in flight is refused at once with [`Error::Conflict`] instead of queueing behind it. The
//! work of a change runs in its own task that owns the lock, so a client that hangs up
//! mid-join cannot leave the cluster half changed: a learner that does not catch up within
//! its deadline is removed again before the lock is released.

use crate::raft::TypeConfig;
use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, ForwardReason, RaftError};
use openraft::{ChangeMembers, Membership, ServerState};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::raft::handover;
use crate::raft::node::RaftNode;
use crate::raft::{Member, NodeId, node_id_for_name};

/// How long a join waits for the new learner to catch up when the caller names no deadline.
/// Long enough for a snapshot of a large store to travel; a stuck learner is removed after it.
pub const DEFAULT_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// How many entries a learner may trail the leader's log and still count as caught up:
/// under a steady write load it would otherwise never be exactly level.
pub const CATCH_UP_MAX_LAG: u64 = 1000;

/// How long a change refused because the leader is too new (just elected) is retried.
const RETRY_REFUSED_FOR: Duration = Duration::from_secs(2);

/// What openraft's membership calls return.
type ChangeResult<T> = std::result::Result<T, RaftError<TypeConfig, ClientWriteError<TypeConfig>>>;

/// How long join waits for the new node to say who it is. A running node answers at once;
/// this only bounds a dead or unroutable address.
pub const IDENTITY_TIMEOUT: Duration = Duration::from_secs(5);

/// A node to add to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSpec {
    /// The node's name (its KONSUL_RAFT_NODE_ID).
    pub name: String,
    /// Its Raft peer address, host:port.
    pub raft_addr: String,
    /// Its client address, host:port; may be empty if unknown.
    pub client_addr: String,
    /// How long to wait for it to catch up before giving up and removing it again.
    pub catch_up_timeout: Duration,
}

/// What a successful join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The member record now in the membership.
    pub member: Member,
    /// True when the node was already a voter at that address and nothing changed.
    pub already_member: bool,
}

impl RaftNode {
    /// Adds a node as a voter: first as a learner, then, once it has caught up, promoted.
    /// Joining again with the same name, address and incarnation is a no-op; the same name at
    /// another address or with another incarnation (a wiped data dir), an address that
    /// answers with another name, or a name whose id collides with another member's, is
    /// refused.
    pub async fn join(&self, spec: JoinSpec) -> Result<Joined> {
        self.check_clustered()?;
        self.check_leader()?;
        let lock = self.changes.clone().try_lock_owned().map_err(|_| busy())?;
        let node = self.clone();
        // A task of its own, holding the lock, so a cancelled call still finishes or undoes.
        tokio::spawn(async move {
            let result = node.join_locked(spec).await;
            drop(lock);
            result
        })
        .await
        .map_err(|e| Error::Internal(format!("join task: {e}")))?
    }

    /// Removes the member named `name`, voter or learner. Removing the leader itself works:
    /// it hands leadership to another voter first and asks that new leader to remove it
    /// (`handover.rs` says why).
    pub async fn leave(&self, name: &str) -> Result<Member> {
        self.check_clustered()?;
        self.check_leader()?;
        let lock = self.changes.clone().try_lock_owned().map_err(|_| busy())?;
        let node = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let result = node.leave_locked(&name).await;
            drop(lock);
            result
        })
        .await
        .map_err(|e| Error::Internal(format!("leave task: {e}")))?
    }

    async fn join_locked(&self, spec: JoinSpec) -> Result<Joined> {
        let id = node_id_for_name(&spec.name);
        let membership = self.current_membership();
        let mut resume = false;
        let mut already_voter = false;
        if let Some(existing) = membership.get_node(&id) {
            if existing.name != spec.name {
                return Err(Error::AlreadyExists(format!(
                    "node id {id} of '{}' collides with member '{}'; choose another name",
                    spec.name, existing.name
                )));
            }
            if existing.raft_addr != spec.raft_addr {
                return Err(Error::AlreadyExists(format!(
                    "node '{}' is already a member at {}; remove it first \
                     (DELETE /cluster/leave/{}) before joining it at {}",
                    spec.name, existing.raft_addr, spec.name, spec.raft_addr
                )));
            }
            // A voter already (a no-op), or a learner left by an earlier join that did not
            // finish (catch up and promote): either way, once the node proves it is the same
            // incarnation.
            already_voter = membership.voter_ids().any(|v| v == id);
            resume = !already_voter;
        }
        if let Some((_, other)) = membership
            .nodes()
            .find(|(nid, n)| **nid != id && n.raft_addr == spec.raft_addr)
        {
            return Err(Error::AlreadyExists(format!(
                "address {} belongs to member '{}'; remove it first",
                spec.raft_addr, other.name
            )));
        }

        let incarnation = self.ask_identity(&spec).await?;
        if let Some(existing) = membership.get_node(&id)
            && existing.incarnation != 0
            && incarnation != 0
            && existing.incarnation != incarnation
        {
            return Err(Error::AlreadyExists(format!(
                "node {} is a member with incarnation {} but the node at that address now has \
                 incarnation {incarnation} (data dir wiped?): remove it first \
                 (DELETE /cluster/leave/{}), then join again",
                spec.name, existing.incarnation, spec.name
            )));
        }
        if already_voter {
            return Ok(Joined {
                member: membership.get_node(&id).cloned().unwrap_or_default(),
                already_member: true,
            });
        }

        let member = Member {
            name: spec.name.clone(),
            raft_addr: spec.raft_addr.clone(),
            client_addr: spec.client_addr.clone(),
            incarnation,
        };
        // The index of the entry that made the node a learner: this node's metrics may not
        // show that entry yet when add_learner returns, and until they do, the learner's
        // absence from them means nothing.
        let (member, added_at) = if resume {
            let added_at = membership_log_index(&self.raft().metrics().borrow_watched());
            (
                membership.get_node(&id).cloned().unwrap_or(member),
                added_at,
            )
        } else {
            tracing::info!(node = %member, "join: adding as a learner");
            let added = self
                .retry_refused(|| self.raft().add_learner(id, member.clone(), false))
                .await?;
            (member, added.log_id.index)
        };

        if let Err(e) = self
            .wait_caught_up(id, added_at, spec.catch_up_timeout)
            .await
        {
            tracing::warn!(node = %member, "join: {e}; removing the learner again");
            let undo = self
                .change(ChangeMembers::RemoveNodes(BTreeSet::from([id])))
                .await;
            if let Err(u) = undo {
                tracing::error!(node = %member, "join: could not remove the learner: {u}");
            }
            return Err(e);
        }

        tracing::info!(node = %member, "join: caught up, promoting to voter");
        self.change(ChangeMembers::AddVoterIds(BTreeSet::from([id])))
            .await?;
        Ok(Joined {
            member,
            already_member: false,
        })
    }

    async fn leave_locked(&self, name: &str) -> Result<Member> {
        let id = node_id_for_name(name);
        let membership = self.current_membership();
        let member = membership
            .get_node(&id)
            .filter(|m| m.name == name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("node '{name}' is not a member")))?;
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(Error::InvalidArgument(format!(
                    "node '{name}' is the only voter; a cluster cannot remove its last voter"
                )));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        if id == self.id() && matches!(change, ChangeMembers::RemoveVoters(_)) {
            let leader = self.hand_over().await?;
            tracing::info!(node = %member, leader = %leader, "leave: asking the new leader to remove this node");
            handover::ask_leader_to_remove(&leader, name).await?;
            return Ok(member);
        }
        tracing::info!(node = %member, "leave: removing from the cluster");
        self.change(change).await?;
        Ok(member)
    }

    /// One `change_membership`, retried while refused for a reason that passes by itself.
    async fn change(&self, change: ChangeMembers<NodeId, Member>) -> Result<()> {
        self.retry_refused(|| self.raft().change_membership(change.clone(), false))
            .await
            .map(drop)
    }

    /// Runs a membership call, retrying for up to [`RETRY_REFUSED_FOR`] while openraft 0.10
    /// refuses it because this leader is too new: its lease has not been acknowledged by a
    /// quorum yet, or it has not committed an entry of its term. A refused call appended
    /// nothing, so retrying it is safe.
    async fn retry_refused<F, Fut, T>(&self, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = ChangeResult<T>>,
    {
        let give_up = Instant::now() + RETRY_REFUSED_FOR;
        loop {
            let e = match call().await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let transient = match &e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                    f.reason == ForwardReason::LeaseExpired
                }
                RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::UncommittedLeaderLog(_),
                )) => true,
                _ => false,
            };
            if !transient || Instant::now() >= give_up {
                return Err(self.change_error(e));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks the node at the join's address who it is and returns its incarnation (0 for a
    /// node too old to say). Refuses when another node answers there.
    async fn ask_identity(&self, spec: &JoinSpec) -> Result<u64> {
        match self
            .network
            .identity(&spec.raft_addr, IDENTITY_TIMEOUT)
            .await?
        {
            Some(found) if found.name != spec.name => Err(Error::InvalidArgument(format!(
                "address {} belongs to node {}, not {}: check node_id and address",
                spec.raft_addr, found.name, spec.name
            ))),
            Some(found) => Ok(found.incarnation),
            None => {
                tracing::warn!(
                    node = spec.name,
                    addr = spec.raft_addr,
                    "join: the node does not answer the Identity RPC (an older version); \
                     adding it without an incarnation, so a later wipe of its data dir \
                     cannot be detected"
                );
                Ok(0)
            }
        }
    }

    /// Waits until the leader has replicated to learner `id` everything up to the
    /// membership entry that added it (at log index `added_at`) and the learner is within
    /// [`CATCH_UP_MAX_LAG`]. The learner counts as removed only once the metrics show a
    /// configuration at least as new as `added_at` without it: metrics are published after
    /// add_learner answers, so an older configuration is merely not yet updated.
    async fn wait_caught_up(&self, id: NodeId, added_at: u64, timeout: Duration) -> Result<()> {
        let mut metrics = self.raft().metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(done) = catch_up_progress(&metrics.borrow_watched(), id, added_at) {
                return done;
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Unavailable("raft stopped".into())),
                Err(_) => {
                    return Err(Error::Timeout(format!(
                        "the new node did not catch up within {timeout:?}; check that its \
                         Raft address is reachable from the leader"
                    )));
                }
            }
        }
    }

    fn check_clustered(&self) -> Result<()> {
        if self.clustered {
            Ok(())
        } else {
            Err(Error::ClusteringDisabled)
        }
    }

    /// Fails fast with the leader's address when this node is not the leader.
    fn check_leader(&self) -> Result<()> {
        let m = self.raft().metrics().borrow_watched().clone();
        if m.state == ServerState::Leader {
            return Ok(());
        }
        let leader = m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned());
        Err(match leader {
            Some(node) if m.current_leader != Some(self.id()) => Error::NotLeader {
                leader_name: node.name,
                leader_client_addr: node.client_addr,
                leader_raft_addr: node.raft_addr,
            },
            _ => Error::NoLeader,
        })
    }

    fn current_membership(&self) -> Membership<NodeId, Member> {
        self.raft()
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .clone()
    }

    fn change_error(&self, e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> Error {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f))
                if f.reason == ForwardReason::LeaseExpired =>
            {
                Error::NoQuorum(
                    "this leader has had no recent acknowledgement from a quorum; nothing was \
                     changed"
                        .into(),
                )
            }
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => self.not_leader(f),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => match c {
                ChangeMembershipError::InProgress(p) => {
                    Error::Conflict(format!("a membership change is still being committed: {p}"))
                }
                ChangeMembershipError::EmptyMembership(e) => Error::InvalidArgument(e.to_string()),
                ChangeMembershipError::LearnerNotFound(l) => Error::NotFound(l.to_string()),
                ChangeMembershipError::UncommittedLeaderLog(u) => Error::Conflict(format!(
                    "the leader has not committed an entry of its term yet; retry: {u}"
                )),
                ChangeMembershipError::UnsupportedMembershipTransition(t) => {
                    Error::InvalidArgument(t.to_string())
                }
                ChangeMembershipError::NodeMetadataChanged(n) => {
                    Error::InvalidArgument(n.to_string())
                }
            },
            // Konsul's membership calls set no precondition and never discard entries on
            // purpose; if openraft says so anyway, the change did not happen here.
            RaftError::APIError(e @ ClientWriteError::LogEntryDiscarded(_))
            | RaftError::APIError(e @ ClientWriteError::PreconditionFailed(_)) => {
                Error::Unavailable(e.to_string())
            }
            RaftError::Fatal(f) => Error::Unavailable(format!("raft stopped: {f}")),
        }
    }
}

/// The answer to a change attempted while another is in flight.
fn busy() -> Error {
    Error::Conflict(
        "another membership change is in progress on this leader; retry when it has finished"
            .into(),
    )
}

/// The log index of the configuration the metrics show (0 for the initial, unlogged one).
fn membership_log_index(m: &openraft::RaftMetrics<TypeConfig>) -> u64 {
    m.membership_config.log_id().as_ref().map_or(0, |l| l.index)
}

/// Where learner `id`, added by the configuration at log index `added_at`, stands in the
/// leader's metrics `m`: `None` while it is still catching up (or while the metrics do not
/// show its configuration yet), `Some(Ok)` once caught up, `Some(Err)` when waiting is over.
fn catch_up_progress(
    m: &openraft::RaftMetrics<TypeConfig>,
    id: NodeId,
    added_at: u64,
) -> Option<Result<()>> {
    let Some(replication) = &m.replication else {
        return Some(Err(Error::Unavailable(
            "this node lost leadership while the new node was catching up".into(),
        )));
    };
    let config_at = membership_log_index(m);
    let present = m.membership_config.membership().get_node(&id).is_some();
    if !present {
        return (config_at >= added_at).then(|| {
            Err(Error::Conflict(
                "the new node was removed while it was catching up".into(),
            ))
        });
    }
    let needed = config_at.max(added_at);
    let last = m.last_log_index.unwrap_or(0);
    match replication.get(&id) {
        Some(Some(matched))
            if matched.index >= needed
                && last.saturating_sub(matched.index) <= CATCH_UP_MAX_LAG =>
        {
            Some(Ok(()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
