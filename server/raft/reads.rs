//! How fresh a read is: the read barrier the API runs before it reads the applied store.
//!
//! ```text
//!  api read ──► RaftNode::read_until(consistency, min_index, deadline)
//!                 min_index: wait until applied ≥ N (any node), then
//!                 stale:  nothing more (local state)
//!                 leader: openraft's lease read: a quorum acknowledged an AppendEntries sent
//!                         within `raft.leader_lease_timeout`? else a heartbeat round
//!                 strong: openraft's ReadIndex: a heartbeat round sent after the read began
//!                 both:   the read index = max(this term's first entry, commit index),
//!                         then wait until it is applied (openraft's Linearizer)
//!               ──► StoreView (the applied store)
//! ```
//!
//! Everything here is openraft 0.10's: `get_read_linearizer` decides, inside the Raft core
//! and so in order with vote grants and step-downs, whether a quorum acknowledged this
//! leader recently enough; the linearizer then waits until the state machine has applied
//! the read index. The two levels differ only in how old that acknowledgement may be:
//! `leader` accepts one sent up to `raft.leader_lease_timeout` ago (validation keeps it at
//! most half of openraft's own lease, `election_timeout_max`, leaving the rest as margin for
//! clocks that run at different rates), `strong` only one sent after the read began. A
//! leader waits for such an acknowledgement (broadcasting a heartbeat at once) for up to the
//! quorum timeout, then reports a lost quorum. Because leader restore is off
//! (`config/raft_mapping.rs`), a leader that restarts leads in a new term, whose first entry
//! bounds every write acknowledged before, so no other floor is needed. A restarted node
//! also grants no vote for `election_timeout_max` (`service.rs`), so a lease that counted on
//! its earlier acknowledgement runs out first.

use std::time::Duration;

use openraft::LinearizerOption;
use openraft::error::{LinearizableReadError, RaftError};
use tokio::time::Instant;

use super::node::RaftNode;
use crate::error::{Error, Result};
use crate::faults;

/// How fresh a read must be; mirrors `konsul.v1.Consistency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadConsistency {
    /// Local state of whichever node answers.
    Stale,
    /// The leader answers while its lease holds, else it confirms leadership first.
    #[default]
    Leader,
    /// The leader confirms leadership with a quorum round first (linearizable).
    Strong,
}

impl RaftNode {
    /// Makes a following read as fresh as `consistency` asks, after waiting until this
    /// node has applied `min_index` (0: no wait). Fails with [`Error::Timeout`] when
    /// `deadline` passes first; nothing is ever written.
    pub async fn read_until(
        &self,
        consistency: ReadConsistency,
        min_index: u64,
        deadline: Instant,
    ) -> Result<()> {
        if min_index > 0 {
            self.wait_applied(min_index, deadline).await?;
        }
        if consistency != ReadConsistency::Stale && self.faults.fires(faults::READ_LOCAL) {
            return Ok(());
        }
        let max_ack_age = match consistency {
            ReadConsistency::Stale => return Ok(()),
            ReadConsistency::Leader => self.timing.lease,
            ReadConsistency::Strong => Duration::ZERO,
        };
        self.linearize(max_ack_age, deadline).await
    }

    /// Waits until this node has applied `index`, or fails with [`Error::Timeout`] at
    /// `deadline`.
    pub async fn wait_applied(&self, index: u64, deadline: Instant) -> Result<()> {
        if self.view().applied_index() >= index {
            return Ok(());
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        let waited = self
            .raft()
            .wait(Some(budget))
            .applied_index_at_least(Some(index), "min_index")
            .await;
        match waited {
            Ok(_) => Ok(()),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(Error::Timeout(format!(
                "index {index} was not applied on {} within {budget:?} (applied: {})",
                self.member().name,
                self.view().applied_index()
            ))),
            Err(e) => Err(Error::Unavailable(e.to_string())),
        }
    }

    /// openraft's linearizable read: this node must lead with a quorum acknowledgement of an
    /// AppendEntries sent at most `max_ack_age` before the read (zero: after it), waiting up
    /// to the quorum timeout for one; then its state machine must apply the read index.
    async fn linearize(&self, max_ack_age: Duration, deadline: Instant) -> Result<()> {
        let budget = deadline.saturating_duration_since(Instant::now());
        let option = LinearizerOption::new(Some(max_ack_age), true)
            .with_wait_timeout(budget.min(self.timing.quorum_timeout));
        // openraft bounds its own wait, but from when its core gets to the request: a busy
        // core must not carry the read past its deadline.
        let asked = tokio::time::timeout_at(deadline, self.raft().get_read_linearizer(option));
        let linearizer = match asked.await.map_err(|_| self.read_timed_out())? {
            Ok(l) => l,
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                return Err(self.not_leader(f));
            }
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(q))) => {
                if Instant::now() >= deadline {
                    return Err(self.read_timed_out());
                }
                return Err(Error::NoQuorum(format!(
                    "the leader has no acknowledgement from a quorum within {:?}: {q}",
                    self.timing.quorum_timeout
                )));
            }
            Err(RaftError::Fatal(e)) => {
                return Err(Error::Unavailable(format!("raft stopped: {e}")));
            }
        };
        let budget = deadline.saturating_duration_since(Instant::now());
        match linearizer.try_await_ready(self.raft(), Some(budget)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(self.read_timed_out()),
            Err(e) => Err(Error::Unavailable(format!("raft stopped: {e}"))),
        }
    }

    fn read_timed_out(&self) -> Error {
        Error::Timeout(format!(
            "the leader could not confirm a linearizable read within {:?}",
            self.timing.request_timeout
        ))
    }
}
