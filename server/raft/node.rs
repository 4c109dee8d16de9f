//! The running Raft node, as the API layer sees it.
//!
//! `api/` never touches openraft directly: it hands a [`Command`] to [`RaftNode::write`] and
//! gets back the log index and the state machine's [`Response`]; it asks
//! [`RaftNode::read_barrier`] to make a read as fresh as the client asked, then reads the
//! store through [`RaftNode::view`]. Everything openraft-specific about starting, bootstrapping,
//! leadership and shutdown stays in this file (including settling the node's [`Identity`]
//! before Raft starts); membership changes are in `membership.rs` and
//! the cluster's status in `cluster_status.rs`, both `impl RaftNode` blocks over the same
//! handle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ForwardToLeader, RaftError};
use openraft::storage::RaftLogStorage;
use openraft::{Raft, ServerState};
use tokio::sync::watch;

use crate::config::Config;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::raft::batcher::Batcher;
use crate::raft::identity::{self, Identity};
use crate::raft::log_store::LogStore;
use crate::raft::network::{LastContact, PeerNetwork, TcpDialer};
use crate::raft::state_machine::{StateMachine, StoreView};
use crate::raft::{Member, NodeId, TypeConfig, node_id_for_name};
use crate::store::{Command, Response};

/// Heartbeat rounds a linearizable read tries before it reports a lost quorum.
const QUORUM_READ_ATTEMPTS: u32 = 3;

/// How long shutdown waits for the Raft log to be flushed and closed.
const LOG_CLOSE_WAIT: Duration = Duration::from_secs(5);

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

/// What the API layer reports back in every response header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Log index applied to this node's state machine.
    pub applied_index: u64,
    /// This node's current term.
    pub term: u64,
    /// The leader's name, empty when unknown.
    pub leader_name: String,
    /// This node's name.
    pub served_by: String,
}

/// The outcome of a replicated write.
#[derive(Debug, Clone)]
pub struct Written {
    /// Log index of the entry that carried the command.
    pub index: u64,
    /// What the state machine answered.
    pub response: Response,
}

/// One Konsul node's Raft instance with its storage, ready for the API to use.
#[derive(Clone)]
pub struct RaftNode {
    raft: Raft<TypeConfig>,
    view: StoreView,
    id: NodeId,
    me: Member,
    identity: Identity,
    /// A clone of the network openraft uses (clones share channels), for join's identity
    /// question to a new node.
    pub(crate) network: PeerNetwork,
    lease: Duration,
    ready: watch::Receiver<bool>,
    /// Groups concurrent writes into shared entries.
    batcher: Batcher,
    /// Turns `true` once the Raft log file is closed after shutdown.
    log_closed: watch::Receiver<bool>,
    /// Cluster mode (`raft.enabled`): join and leave are refused without it.
    pub(crate) clustered: bool,
    /// Held for the whole of a membership change, so changes never overlap.
    pub(crate) changes: Arc<tokio::sync::Mutex<()>>,
    /// When each peer last answered an RPC, from the network.
    pub(crate) contact: LastContact,
}

impl RaftNode {
    /// Opens the log and state machine under the configured Raft data dir, starts openraft,
    /// and bootstraps a one-node cluster when this node runs standalone (or is told to
    /// bootstrap) and has no state yet. A node that already has state never bootstraps again.
    ///
    /// Refuses to start on a data dir recorded as another node's; a node without Raft state
    /// (new or wiped) draws a new incarnation first (see [`identity`]).
    pub async fn start(
        config: &Config,
        deps: &Deps,
        client_addr: String,
        raft_addr: String,
    ) -> Result<Self> {
        let raft_cfg = &config.raft;
        let dir = config.raft_data_dir();
        deps.blocking
            .run({
                let dir = dir.clone();
                move || std::fs::create_dir_all(dir.join("snapshots"))
            })
            .await
            .map_err(|e| Error::Storage(format!("creating {}: {e}", dir.display())))?;

        let name = config.node_id().to_owned();
        let recorded = identity::load_checked(&dir, &name, deps).await?;
        let mut log_store = LogStore::open(&dir.join("raft-log.redb"), deps).await?;
        let log_closed = log_store.closed();
        let identity = identity::keep_or_renew(
            recorded,
            &name,
            log_is_empty(&mut log_store).await?,
            &dir,
            deps,
        )
        .await?;
        let committed_at_start = log_store
            .read_committed()
            .await
            .map_err(|e| Error::Storage(e.to_string()))?
            .map(|l| l.index)
            .unwrap_or(0);
        let state_machine = StateMachine::open(
            &dir.join("snapshots"),
            deps,
            raft_cfg.snapshot_retention as usize,
        )
        .await?;
        let view = state_machine.view();
        check_no_gap(&mut log_store, &view).await?;

        let id = node_id_for_name(&name);
        let me = Member {
            name,
            raft_addr,
            client_addr,
            incarnation: identity.incarnation,
        };
        let network = PeerNetwork::new(id, Arc::new(TcpDialer::default()));
        let contact = network.last_contact();
        let raft = Raft::new(
            id,
            Arc::new(config.to_openraft()?),
            network.clone(),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| Error::Internal(format!("starting raft: {e}")))?;

        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| Error::Internal(format!("raft: {e}")))?;
        let bootstrap = !raft_cfg.enabled || raft_cfg.bootstrap;
        if bootstrap && !initialized {
            tracing::info!(node = %me, "bootstrapping a new one-node cluster");
            raft.initialize(BTreeMap::from([(id, me.clone())]))
                .await
                .map_err(|e| Error::Internal(format!("bootstrapping raft: {e}")))?;
        } else if !initialized {
            tracing::info!(node = %me, "no cluster state yet: waiting to be joined");
        }

        let ready = spawn_readiness(raft.clone(), view.clone(), committed_at_start);
        let batcher = Batcher::spawn(raft.clone());
        Ok(Self {
            raft,
            view,
            id,
            me,
            identity,
            network,
            lease: raft_cfg.leader_lease_timeout,
            ready,
            batcher,
            log_closed,
            clustered: raft_cfg.enabled,
            changes: Arc::default(),
            contact,
        })
    }

    /// Proposes `command` through the Raft log and waits until it is committed on a quorum
    /// and applied here. Only the leader accepts writes.
    ///
    /// Concurrent writes are grouped into one entry (see `raft::batcher`), so they share
    /// one fsync and one replication round.
    pub async fn write(&self, command: Command) -> Result<Written> {
        self.batcher.write(command).await
    }

    /// Makes a following read of [`Self::view`] as fresh as `consistency` asks.
    pub async fn read_barrier(&self, consistency: ReadConsistency) -> Result<()> {
        match consistency {
            ReadConsistency::Stale => Ok(()),
            ReadConsistency::Leader if self.lease_valid() => Ok(()),
            ReadConsistency::Leader | ReadConsistency::Strong => {
                // openraft confirms leadership with one heartbeat round whose per-peer timeout
                // is the (short) heartbeat interval; on a loaded host one slow round is not a
                // lost quorum, so a bounded number of rounds is tried before giving up.
                let mut attempt = 1;
                loop {
                    match self.raft.ensure_linearizable().await {
                        Ok(_) => return Ok(()),
                        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                            return Err(self.not_leader(f));
                        }
                        Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q))) => {
                            if attempt >= QUORUM_READ_ATTEMPTS {
                                return Err(Error::Unavailable(format!(
                                    "leader cannot reach a quorum after {attempt} rounds: {q}"
                                )));
                            }
                            attempt += 1;
                        }
                        Err(RaftError::Fatal(e)) => {
                            return Err(Error::Unavailable(format!("raft stopped: {e}")));
                        }
                    }
                }
            }
        }
    }

    /// True while this node is leader and a quorum acknowledged it within the lease.
    fn lease_valid(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        m.state == ServerState::Leader
            && m.millis_since_quorum_ack
                .is_some_and(|ms| u128::from(ms) < self.lease.as_millis())
    }

    /// Read access to the applied state.
    pub fn view(&self) -> &StoreView {
        &self.view
    }

    /// The facts every response header carries.
    pub fn header(&self) -> HeaderInfo {
        let m = self.raft.metrics().borrow().clone();
        let leader_name = m
            .current_leader
            .and_then(|l| m.membership_config.membership().get_node(&l).cloned())
            .map(|n| n.name)
            .unwrap_or_default();
        HeaderInfo {
            applied_index: self.view.applied_index(),
            term: m.current_term,
            leader_name,
            served_by: self.me.name.clone(),
        }
    }

    /// True once a leader is known and everything committed before start is applied; false
    /// again whenever the leader is lost. Drives tonic-health and /health/ready.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// A receiver that changes whenever readiness changes.
    pub fn readiness(&self) -> watch::Receiver<bool> {
        self.ready.clone()
    }

    /// This node's openraft id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's member record (name, addresses, incarnation).
    pub fn member(&self) -> &Member {
        &self.me
    }

    /// This node's name and data-dir incarnation, which the peer service checks callers
    /// against.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The underlying openraft handle, for the peer service and cluster administration.
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// Stops Raft: no more appends or elections; then waits (bounded) until the log's writer
    /// has flushed what was queued and closed the file, so the data dir can be reopened.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
        let mut closed = self.log_closed.clone();
        let waited = tokio::time::timeout(LOG_CLOSE_WAIT, closed.wait_for(|c| *c)).await;
        if waited.is_err() {
            tracing::warn!("the raft log was still open {LOG_CLOSE_WAIT:?} after shutdown");
        }
    }

    pub(crate) fn not_leader(&self, f: ForwardToLeader<NodeId, Member>) -> Error {
        not_leader_error(f)
    }
}

/// The error for a call that only the leader can serve, naming the leader when known.
pub(crate) fn not_leader_error(f: ForwardToLeader<NodeId, Member>) -> Error {
    match (f.leader_id, f.leader_node) {
        (Some(_), Some(node)) => Error::NotLeader {
            leader_name: node.name,
            leader_client_addr: node.client_addr,
            leader_raft_addr: node.raft_addr,
        },
        _ => Error::NoLeader,
    }
}

/// True when the log holds no vote and no entry, purged or not: the node has never taken
/// part in a cluster, or lost everything it promised (a wiped or deleted log).
async fn log_is_empty(log_store: &mut LogStore) -> Result<bool> {
    let storage = |e: openraft::StorageError<NodeId>| Error::Storage(e.to_string());
    let vote = log_store.read_vote().await.map_err(storage)?;
    let state = log_store.get_log_state().await.map_err(storage)?;
    Ok(vote.is_none() && state.last_log_id.is_none())
}

/// Refuses to start when the log was purged past what the state machine holds: that happens
/// only if the newest snapshot was lost or corrupt and an older one was restored, and
/// replaying would then skip the purged entries and silently lose acknowledged writes.
async fn check_no_gap(log_store: &mut LogStore, view: &StoreView) -> Result<()> {
    let state = log_store
        .get_log_state()
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
    let purged = state.last_purged_log_id.map(|l| l.index);
    let applied = view.applied_log_id().map(|l| l.index);
    if purged > applied {
        return Err(Error::Storage(format!(
            "the Raft log is purged up to index {} but the newest usable snapshot only covers {}; \
             entries in between are gone. Restore the missing snapshot into the snapshots \
             directory, or rejoin this node to its cluster with an empty data dir",
            purged.unwrap_or(0),
            applied.map_or("nothing".to_owned(), |a| a.to_string()),
        )));
    }
    Ok(())
}

/// Follows Raft metrics and publishes readiness: leader known and the state machine caught up
/// with everything that was committed when the node started.
fn spawn_readiness(
    raft: Raft<TypeConfig>,
    view: StoreView,
    committed_at_start: u64,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let mut metrics = raft.metrics();
    tokio::spawn(async move {
        loop {
            let ready = {
                let m = metrics.borrow_and_update();
                m.running_state.is_ok()
                    && m.current_leader.is_some()
                    && view.applied_index() >= committed_at_start
            };
            tx.send_if_modified(|r| std::mem::replace(r, ready) != ready);
            if metrics.changed().await.is_err() {
                tx.send_replace(false);
                return;
            }
        }
    });
    rx
}
