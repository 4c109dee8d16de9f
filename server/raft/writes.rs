//! The write path's promises: a write either is known to have changed nothing, or is known
//! to have been applied, or ends "outcome unknown"; and it never hangs.
//!
//! ```text
//!  api write ──► RaftNode::write_until(command, deadline)
//!     1. admission: a leader that has not heard from a quorum for `quorum_timeout` refuses
//!        (NoQuorum, nothing written); a full queue refuses (WriteQueueFull)
//!     2. batcher ──► openraft client_write ──► committed and applied here ──► Written
//!     3. meanwhile: the deadline passes, or the leader loses its quorum for longer than
//!        `quorum_timeout` ──► OutcomeUnknown (the entry may still commit later)
//! ```
//!
//! "Not leader" means nothing reached the log. It comes from the check before a write is
//! submitted (this node's metrics say it does not lead), or from openraft 0.10's own
//! refusal before it appends (`ForwardToLeader`; see `batcher.rs`). Once an entry is in the
//! log, losing it here (`LogEntryDiscarded`: truncated, or purged under a snapshot) is
//! "outcome unknown": a truncated entry may still be committed elsewhere (inside a snapshot
//! the next leader installs here, or by a node that kept it and leads later).

use openraft::ServerState;
use openraft::async_runtime::WatchReceiver;
use tokio::time::Instant;

use super::node::{RaftNode, Written};
use crate::error::{Error, Result};
use crate::faults;
use crate::store::Command;

impl RaftNode {
    /// Proposes `command` with the node's default deadline (`request_timeout`): what the
    /// leader's own tasks (expiry, health checks) use.
    pub async fn write(&self, command: Command) -> Result<Written> {
        self.write_until(command, Instant::now() + self.timing.request_timeout)
            .await
    }

    /// Proposes `command` through the Raft log and waits until it is committed on a quorum
    /// and applied here, or until `deadline`. Only the leader accepts writes.
    ///
    /// Concurrent writes are grouped into one entry (see `raft::batcher`), so they share
    /// one fsync and one replication round.
    pub async fn write_until(&self, command: Command, deadline: Instant) -> Result<Written> {
        self.leading()?;
        self.admit_write()?;
        let answer = self.batcher.submit(command)?;
        let outcome = tokio::select! {
            answer = answer => answer,
            () = tokio::time::sleep_until(deadline) => Err(Error::OutcomeUnknown {
                message: format!(
                    "the write was not committed within its deadline on {}; it may still be \
                     applied",
                    self.member().name
                ),
                timed_out: true,
            }),
            lost = self.quorum_lost() => Err(Error::outcome_unknown(format!(
                "{lost}; the write may still be applied if the leader regains its quorum"
            ))),
        };
        let written = outcome?;
        self.faults.pause(faults::WRITE_REPLY).await;
        Ok(written)
    }

    /// `NotLeader` (naming the leader this node knows) or `NoLeader` unless this node's
    /// metrics say it leads: the only place a write is told "not leader", before anything is
    /// submitted.
    fn leading(&self) -> Result<()> {
        let m = self.raft().metrics();
        let m = m.borrow_watched();
        if m.state == ServerState::Leader {
            return Ok(());
        }
        let leader = m
            .current_leader
            .filter(|l| *l != self.id())
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned());
        Err(match leader {
            Some(node) => Error::NotLeader {
                leader_name: node.name,
                leader_client_addr: node.client_addr,
                leader_raft_addr: node.raft_addr,
            },
            None => Error::NoLeader,
        })
    }

    /// Refuses a write on a leader that has been out of touch with a quorum for longer than
    /// `quorum_timeout`: another leader may exist by now, and the entry could only wait.
    fn admit_write(&self) -> Result<()> {
        if let Some(lost) = self.quorum_loss(Instant::now()) {
            return Err(Error::NoQuorum(lost));
        }
        Ok(())
    }

    /// Resolves once this node is a leader that has gone `quorum_timeout` without contact
    /// with a quorum, with a description; never while it follows (a follower's pending
    /// write ends with its deadline, a commit, or a truncation).
    async fn quorum_lost(&self) -> String {
        loop {
            let now = Instant::now();
            if let Some(lost) = self.quorum_loss(now) {
                return lost;
            }
            let next = self
                .quorum_contact(now)
                .map_or(now + self.timing.quorum_timeout, |t| {
                    t + self.timing.quorum_timeout
                });
            // Re-check at the earliest moment the quorum could count as lost, and at least
            // every quorum_timeout while this node follows.
            tokio::time::sleep_until(next.max(now + std::time::Duration::from_millis(10))).await;
        }
    }

    /// When this node leads, the last time a quorum was in contact with it
    /// (`quorum_contact.rs`).
    pub(crate) fn quorum_contact(&self, now: Instant) -> Option<Instant> {
        let m = self.raft().metrics();
        let m = m.borrow_watched();
        self.quorum_contact.at(&m, self.id(), now)
    }

    /// `Some(why)` when this node leads and has not heard from a quorum for longer than
    /// `quorum_timeout`.
    pub(crate) fn quorum_loss(&self, now: Instant) -> Option<String> {
        let contact = self.quorum_contact(now)?;
        let silent = now.saturating_duration_since(contact);
        (silent > self.timing.quorum_timeout).then(|| {
            format!(
                "leader {} has not heard from a quorum for {silent:?} (limit {:?})",
                self.member().name,
                self.timing.quorum_timeout
            )
        })
    }
}
