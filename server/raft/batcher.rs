//! Write grouping: many client writes, one Raft entry, one fsync.
//!
//! openraft appends one entry per `client_write`, and every entry costs its share of a log
//! write, an fsync and a replication message on every follower. `RaftNode::write`
//! therefore hands commands to this batcher. It keeps at most [`IN_FLIGHT`] proposals open;
//! whatever arrives while they are under way is grouped into the next proposal as one
//! `Command::Multi` entry, applied in order at one log index with one response per command.
//!
//! The queue in front of the batcher is bounded (`limits.max_queued_writes`): a leader that cannot keep
//! up refuses further writes at once (`Error::WriteQueueFull`, nothing written) instead of
//! letting them wait without end. A queued write whose caller has given up (its deadline
//! passed and it was told "outcome unknown") is dropped before it is proposed.
//!
//! Two commands that touch the same key never share an entry, so a key changes at most
//! once per log index and `modify_index` keeps identifying exactly one version of a key (CAS
//! stays exact). A group is also capped in count and bytes so an entry stays far below the
//! peer message limit.

use crate::raft::KonsulRaft;
use std::collections::HashSet;
use std::sync::Arc;

use std::time::Duration;

use openraft::error::{ClientWriteError, ForwardReason, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use super::node::{Written, not_leader_error};
use super::stages::{Stage, Stages};
use crate::error::{Error, Result};
use crate::store::{Command, Response};

/// Proposals under way at once. openraft 0.10 pipelines them (the leader's append runs
/// alongside replication, several AppendEntries in flight per follower) and the log writer
/// groups whatever is queued into one fsync, so more groups in flight keep the pipe full
/// instead of splitting fsyncs. 8 against 2: 3-node put at 64 clients went from 8,834 to
/// 10,425 ops/s in one run (docs/benchmarks.md, 2026-12-04).
pub const IN_FLIGHT: usize = 8;
/// Most commands in one group.
pub const MAX_COMMANDS: usize = 1024;
/// Rough byte budget of one group (a single larger command still goes, alone).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A command waiting for its group.
struct Pending {
    command: Command,
    reply: oneshot::Sender<Result<Written>>,
    /// When it was queued (the `queue` stage ends when its group is proposed).
    queued: Instant,
}

/// Handle to the batcher task of one node; cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Pending>,
    capacity: usize,
}

impl Batcher {
    /// Starts the batcher for `raft` with room for `capacity` waiting writes (at least 1),
    /// counting the `queue` and `propose` stages in `stages`. It stops when the last handle
    /// is dropped.
    pub fn spawn(raft: KonsulRaft, capacity: usize, stages: Arc<Stages>) -> Self {
        let capacity = capacity.max(1);
        let (queue, rx) = mpsc::channel(capacity);
        tokio::spawn(run(raft, rx, stages));
        Self { queue, capacity }
    }

    /// Queues `command` for the next group and returns the future of its own outcome.
    /// Refused at once, with nothing written, when the queue is full or the node stops.
    pub fn submit(&self, command: Command) -> Result<impl Future<Output = Result<Written>>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Pending {
                command,
                reply,
                queued: Instant::now(),
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::WriteQueueFull(format!(
                    "{} writes are already waiting for the Raft log (limits.max_queued_writes); \
                     retry later",
                    self.capacity
                )),
                mpsc::error::TrySendError::Closed(_) => {
                    Error::Unavailable("the node is shutting down".into())
                }
            })?;
        Ok(async move {
            answer.await.map_err(|_| {
                Error::outcome_unknown("the node stopped while the write was being proposed")
            })?
        })
    }
}

async fn run(raft: KonsulRaft, mut rx: mpsc::Receiver<Pending>, stages: Arc<Stages>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut carry: Option<Pending> = None;
    loop {
        // Wait for a free slot first: whatever queues up meanwhile joins the next group.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(p) => p,
            None => match next_wanted(&mut rx).await {
                Some(p) => p,
                None => return,
            },
        };
        let mut keys: HashSet<String> = first
            .command
            .keys()
            .into_iter()
            .map(|k| k.into_owned())
            .collect();
        let mut bytes = first.command.approx_size();
        let mut group = vec![first];
        while group.len() < MAX_COMMANDS {
            let Ok(next) = rx.try_recv() else { break };
            if next.reply.is_closed() {
                continue;
            }
            if !fits(&keys, bytes, &next.command) {
                carry = Some(next);
                break;
            }
            keys.extend(next.command.keys().into_iter().map(|k| k.into_owned()));
            bytes += next.command.approx_size();
            group.push(next);
        }
        let now = Instant::now();
        for p in &group {
            stages.record(Stage::Queue, now - p.queued, 1);
        }
        let raft = raft.clone();
        let stages = stages.clone();
        tokio::spawn(async move {
            let writes = group.len() as u64;
            propose(&raft, group).await;
            stages.record(Stage::Propose, now.elapsed(), writes);
            drop(permit);
        });
    }
}

/// The next queued write whose caller still waits for it; `None` once every handle is gone.
async fn next_wanted(rx: &mut mpsc::Receiver<Pending>) -> Option<Pending> {
    loop {
        let p = rx.recv().await?;
        if !p.reply.is_closed() {
            return Some(p);
        }
    }
}

/// Whether `command` may join a group that already touches `keys` and holds `bytes`: it
/// must touch none of those keys and keep the group within [`MAX_BYTES`].
fn fits(keys: &HashSet<String>, bytes: usize, command: &Command) -> bool {
    !command.keys().iter().any(|k| keys.contains(&**k))
        && bytes + command.approx_size() <= MAX_BYTES
}

/// Proposes one group and answers every command in it.
async fn propose(raft: &KonsulRaft, mut group: Vec<Pending>) {
    if group.len() == 1 {
        let p = group.pop().expect("one command");
        let _ = p.reply.send(client_write(raft, p.command).await);
        return;
    }
    let (commands, replies): (Vec<Command>, Vec<_>) =
        group.into_iter().map(|p| (p.command, p.reply)).unzip();
    let expected = replies.len();
    match client_write(raft, Command::Multi { commands }).await {
        Ok(Written {
            index,
            response: Response::Multi(responses),
        }) if responses.len() == expected => {
            for (reply, response) in replies.into_iter().zip(responses) {
                let _ = reply.send(Ok(Written { index, response }));
            }
        }
        Ok(other) => {
            let e = Error::Internal(format!(
                "state machine answered {:?} to a group of {expected} commands",
                other.response
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// How long a leader whose lease has lapsed (openraft 0.10 refuses writes until a quorum has
/// acknowledged it recently, e.g. right after its election) keeps retrying a refused write
/// before it answers NoQuorum. Nothing was written by a refused attempt.
const LEASE_RETRY_FOR: Duration = Duration::from_secs(1);

/// One `client_write`, with openraft's errors turned into ours.
///
/// openraft 0.10 tells the two "forward" cases apart: `ForwardToLeader` rejects the write
/// before its entry is appended (nothing written: a clean refusal), `LogEntryDiscarded` says
/// the entry was appended and later truncated here, where it may still commit elsewhere
/// (outcome unknown).
async fn client_write(raft: &KonsulRaft, command: Command) -> Result<Written> {
    let give_up = Instant::now() + LEASE_RETRY_FOR;
    let mut pause = Duration::from_millis(5);
    loop {
        let refused = match raft.client_write(command.clone()).await {
            Ok(resp) => {
                return Ok(Written {
                    index: resp.log_id.index,
                    response: resp.data,
                });
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f,
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f))) => {
                let leader = match not_leader_error(f) {
                    Error::NotLeader {
                        leader_client_addr, ..
                    } => format!(" (the leader now is at {leader_client_addr})"),
                    _ => String::new(),
                };
                return Err(Error::outcome_unknown(format!(
                    "this node stopped leading while the write was in its log; the next leader \
                     may still commit it{leader}"
                )));
            }
            Err(RaftError::APIError(e)) => return Err(Error::Internal(e.to_string())),
            // The core stopped; the entry may already be in the log and commit elsewhere.
            Err(RaftError::Fatal(e)) => {
                return Err(Error::outcome_unknown(format!("raft stopped: {e}")));
            }
        };
        if refused.reason != ForwardReason::LeaseExpired {
            return Err(not_leader_error(refused));
        }
        if Instant::now() >= give_up {
            return Err(Error::NoQuorum(format!(
                "this leader has had no recent acknowledgement from a quorum for {LEASE_RETRY_FOR:?}; \
                 nothing was written"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, size: usize) -> Command {
        Command::KvSet {
            key: key.into(),
            value: vec![0; size],
            flags: 0,
        }
    }

    #[test]
    fn a_command_on_a_key_already_in_the_group_waits_for_the_next_one() {
        let keys: HashSet<String> = ["a".to_owned(), "b".to_owned()].into();
        assert!(fits(&keys, 0, &set("c", 1)));
        assert!(!fits(&keys, 0, &set("a", 1)));
        let batch = Command::KvBatchDelete {
            keys: vec!["x".into(), "b".into()],
        };
        assert!(!fits(&keys, 0, &batch), "any shared key keeps it out");
    }

    #[test]
    fn groups_stay_within_the_byte_budget() {
        let keys = HashSet::new();
        assert!(fits(&keys, 0, &set("big", MAX_BYTES / 2)));
        assert!(!fits(&keys, MAX_BYTES / 2 + 64, &set("big", MAX_BYTES / 2)));
    }
}
