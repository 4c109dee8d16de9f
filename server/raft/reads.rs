//! How fresh a read is: the read barrier the API runs before it reads the applied store.
//!
//! ```text
//!  api read ──► RaftNode::read_until(consistency, min_index, deadline)
//!                 min_index: wait until applied ≥ N (any node), then
//!                 stale:  nothing more (local state)
//!                 leader: lease valid now (lease.rs) and this term's first entry applied
//!                         (and, on a leader restored on restart, its whole startup log)?
//!                         yes → local state; no → the strong path
//!                 strong: openraft's ReadIndex (ensure_linearizable: a heartbeat round,
//!                         then wait until applied ≥ the read index), then the restored
//!                         leader's startup log
//!               ──► StoreView (the applied store)
//! ```
//!
//! Why the extra floor: openraft 0.9 takes the read index as max(first entry of the
//! leader's term, the commit index it knows). A leader that restarts within the election
//! timeout resumes its term with the first entry of that term from before the restart and
//! the commit index it last saved lazily (a restart hint, `log_store.rs`), so both can be
//! older than writes it had acknowledged before it crashed. Everything it acknowledged is in
//! its log, so the last index the log held at start bounds them; a read in that same term
//! waits until that index is applied. openraft 0.10 calls this `enable_leader_restore`.

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use openraft::error::{LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;
use tokio::time::Instant;

use super::node::RaftNode;
use crate::error::{Error, Result};
use crate::faults;

/// Heartbeat rounds a linearizable read tries before it reports a lost quorum.
const QUORUM_READ_ATTEMPTS: u32 = 3;

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
        match consistency {
            ReadConsistency::Stale => Ok(()),
            ReadConsistency::Leader if self.lease_read_ok() => Ok(()),
            ReadConsistency::Leader | ReadConsistency::Strong => self.quorum_read(deadline).await,
        }
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

    /// True when this node may answer a `leader` read from its own state right now: it
    /// leads, a quorum acknowledged it within the lease (measured now, `lease.rs`), it has
    /// applied an entry of its own term (so everything committed before the term began), and
    /// it has applied its startup log when it resumed the term it had before a restart.
    fn lease_read_ok(&self) -> bool {
        let now = Instant::now();
        let Some((vote, configs)) = self.leadership() else {
            return false;
        };
        let Some(acked) = self.lease.quorum_acked(self.id(), vote, &configs, now) else {
            return false;
        };
        if now >= acked + self.timing.lease {
            return false;
        }
        let applied = self.view().applied_log_id();
        let own_term_applied = applied.is_some_and(|l| l.leader_id == *vote.leader_id());
        own_term_applied && self.restored_applied(vote.leader_id().term)
    }

    /// False while this node leads `term`, the term its vote had at start, and has not yet
    /// applied the whole log it started with (see the module docs).
    fn restored_applied(&self, term: u64) -> bool {
        term != self.restored.term || self.view().applied_index() >= self.restored.last_index
    }

    /// A linearizable read: openraft's ReadIndex round, then the restored-leader floor.
    async fn quorum_read(&self, deadline: Instant) -> Result<()> {
        let timed_out = || {
            Error::Timeout(format!(
                "the leader could not confirm a linearizable read within {:?}",
                self.timing.request_timeout
            ))
        };
        // The term the read starts in: if it is the term this node resumed at start, the
        // round below confirms leadership in that term and the restart floor applies, even
        // if the node steps down before the check after it.
        let term = self.raft().metrics().borrow_watched().current_term;
        // openraft confirms leadership with one heartbeat round whose per-peer timeout is
        // the (short) heartbeat interval; on a loaded host one slow round is not a lost
        // quorum, so a bounded number of rounds is tried before giving up.
        let mut attempt = 1;
        loop {
            let round = tokio::time::timeout_at(
                deadline,
                self.raft().ensure_linearizable(ReadPolicy::ReadIndex),
            );
            match round.await.map_err(|_| timed_out())? {
                Ok(_) => break,
                Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                    return Err(self.not_leader(f));
                }
                Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(q))) => {
                    if attempt >= QUORUM_READ_ATTEMPTS {
                        return Err(Error::NoQuorum(format!(
                            "the leader cannot reach a quorum after {attempt} rounds: {q}"
                        )));
                    }
                    attempt += 1;
                }
                Err(RaftError::Fatal(e)) => {
                    return Err(Error::Unavailable(format!("raft stopped: {e}")));
                }
            }
        }
        if self.restored_applied(term) {
            return Ok(());
        }
        let floor = self.restored.last_index;
        let budget = deadline.saturating_duration_since(Instant::now());
        let restored = self.restored;
        let waited = self
            .raft()
            .wait(Some(budget.max(Duration::from_millis(1))))
            .metrics(
                move |m| {
                    m.current_term != restored.term
                        || m.last_applied.is_some_and(|l| l.index >= floor)
                },
                "the log this leader restarted with is applied",
            )
            .await;
        match waited {
            Ok(m) if m.current_term == restored.term => Ok(()),
            Ok(_) => Err(Error::Unavailable(
                "leadership changed during a linearizable read; retry".into(),
            )),
            Err(openraft::metrics::WaitError::Timeout(..)) => Err(timed_out()),
            Err(e) => Err(Error::Unavailable(e.to_string())),
        }
    }
}
