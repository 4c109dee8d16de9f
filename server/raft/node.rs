//! The running Raft node, as the API layer sees it.
//!
//! `api/` never touches openraft directly: it hands a [`Command`] to [`RaftNode::write`] and
//! gets back the log index and the state machine's [`Response`]; it asks
//! [`RaftNode::read_until`] to make a read as fresh as the client asked, then reads the
//! store through [`RaftNode::view`]. Everything openraft-specific about starting, bootstrapping,
//! leadership and shutdown stays in this file (including settling the node's [`Identity`]
//! before Raft starts); membership changes are in `membership.rs` and
//! the cluster's status in `cluster_status.rs`, both `impl RaftNode` blocks over the same
//! handle.

use crate::raft::KonsulRaft;
use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::Raft;
use openraft::RaftLogReader;
use openraft::error::ForwardToLeader;
use openraft::storage::RaftLogStorage;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Config;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::faults::FaultPoints;
use crate::raft::batcher::Batcher;
use crate::raft::identity::{self, Identity};
use crate::raft::log_store::{LogOptions, LogStore};
use crate::raft::network::{LastContact, PeerNetwork};
use crate::raft::quorum_contact::QuorumContact;
use crate::raft::stages::Stages;
use crate::raft::state_machine::{StateMachine, StoreView};
use crate::raft::{Member, NodeId, TypeConfig, node_id_for_name};
use crate::store::Response;

/// How long shutdown waits for the Raft log to be flushed and closed.
const LOG_CLOSE_WAIT: Duration = Duration::from_secs(5);

pub use super::reads::ReadConsistency;

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
    /// True when this node knows a leader (itself included).
    pub known_leader: bool,
    /// How long ago this node last heard from the leader: on the leader itself, how long ago
    /// a quorum last acknowledged it; on a node that never heard from one, the time since it
    /// started.
    pub last_contact: Duration,
}

/// The outcome of a replicated write.
#[derive(Debug, Clone)]
pub struct Written {
    /// Log index of the entry that carried the command.
    pub index: u64,
    /// What the state machine answered.
    pub response: Response,
}

/// The durations the read and write paths work with, from `raft.*` settings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How old a quorum's acknowledgement of the leader may be for a `leader` read to use
    /// it without a new heartbeat round (`raft.leader_lease_timeout`).
    pub lease: Duration,
    /// How long a leader may go without contact with a quorum before it refuses writes and
    /// gives up on the ones in flight, and how long a read waits for a quorum: openraft's
    /// `election_timeout_max` (after which another leader may have been elected), but at
    /// least [`MIN_QUORUM_TIMEOUT`].
    pub quorum_timeout: Duration,
    /// openraft's `election_timeout_max`: how long a follower refuses other candidates
    /// after it heard from its leader, and so how long a restarted node refuses votes.
    pub election_timeout_max: Duration,
    /// The deadline of a call that does not bring its own (`request_timeout`).
    pub request_timeout: Duration,
}

/// The shortest quorum timeout: on a loaded host the scheduler alone can delay a leader's
/// heartbeat answers by a few hundred milliseconds, which is not a lost quorum. Safety never
/// depends on this value, only how soon a cut-off leader gives up on its writes.
pub const MIN_QUORUM_TIMEOUT: Duration = Duration::from_secs(1);

/// One Konsul node's Raft instance with its storage, ready for the API to use.
#[derive(Clone)]
pub struct RaftNode {
    raft: KonsulRaft,
    view: StoreView,
    id: NodeId,
    me: Member,
    identity: Identity,
    /// A clone of the network openraft uses (clones share channels), for join's identity
    /// question to a new node.
    pub(crate) network: PeerNetwork,
    /// When this node, as leader, last heard from a quorum (`quorum_contact.rs`).
    pub(crate) quorum_contact: QuorumContact,
    /// The timing the read and write paths work with (`reads.rs`, `writes.rs`).
    pub(crate) timing: Timing,
    /// True when the log held a vote or an entry at start: the node restarted, and grants
    /// no vote for `election_timeout_max` (`service.rs`).
    pub(crate) restarted: bool,
    /// This node's failpoints (test builds only; inert otherwise).
    pub(crate) faults: FaultPoints,
    /// When the node started (monotonic).
    pub(crate) started: Instant,
    ready: watch::Receiver<bool>,
    /// Groups concurrent writes into shared entries.
    pub(crate) batcher: Batcher,
    /// Turns `true` once the Raft log file is closed after shutdown.
    log_closed: watch::Receiver<bool>,
    /// Cluster mode (`raft.enabled`): join and leave are refused without it.
    pub(crate) clustered: bool,
    /// Held for the whole of a membership change, so changes never overlap.
    pub(crate) changes: Arc<tokio::sync::Mutex<()>>,
    /// When each peer last answered an RPC, from the network.
    pub(crate) contact: LastContact,
    /// Time and counts per write-path stage (`stages.rs`), for `/debug/stages`.
    stages: Arc<Stages>,
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
        let faults = FaultPoints::new(&name);
        let stages = Arc::new(Stages::new());
        let log_options = LogOptions {
            segment_bytes: raft_cfg.log_segment_bytes,
            faults: faults.clone(),
            stages: stages.clone(),
            ..LogOptions::default()
        };
        let mut log_store = LogStore::open_with(&LogStore::dir_in(&dir), deps, log_options).await?;
        let log_closed = log_store.closed();
        let restarted = !log_is_empty(&mut log_store).await?;
        let identity = identity::keep_or_renew(recorded, &name, !restarted, &dir, deps).await?;
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
        .await?
        .with_stages(stages.clone());
        let view = state_machine.view();
        check_no_gap(&mut log_store, &view).await?;

        let id = node_id_for_name(&name);
        let me = Member {
            name,
            raft_addr,
            client_addr,
            incarnation: identity.incarnation,
        };
        let network = PeerNetwork::new(id, deps.dialer.clone())
            .with_faults(faults.clone())
            .with_stages(stages.clone());
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
        super::snapshot_timer::spawn(raft.clone(), raft_cfg.snapshot_interval);
        super::events::spawn(raft.clone(), id, contact.clone(), raft_cfg.election_timeout);
        let batcher = Batcher::spawn(
            raft.clone(),
            config.limits.max_queued_writes,
            stages.clone(),
        );
        let timing = Timing {
            lease: raft_cfg.leader_lease_timeout,
            quorum_timeout: raft_cfg
                .election_timeout
                .saturating_mul(2)
                .max(MIN_QUORUM_TIMEOUT),
            election_timeout_max: raft_cfg.election_timeout.saturating_mul(2),
            request_timeout: config.request_timeout,
        };
        Ok(Self {
            raft,
            view,
            id,
            me,
            identity,
            network,
            quorum_contact: QuorumContact::default(),
            timing,
            restarted,
            faults,
            started: Instant::now(),
            ready,
            batcher,
            log_closed,
            clustered: raft_cfg.enabled,
            changes: Arc::default(),
            contact,
            stages,
        })
    }

    /// This node's write-path counters (`stages.rs`).
    pub fn stages(&self) -> &Arc<Stages> {
        &self.stages
    }

    /// The deadline of a call that names none (`request_timeout`).
    pub fn request_timeout(&self) -> Duration {
        self.timing.request_timeout
    }

    /// Read access to the applied state.
    pub fn view(&self) -> &StoreView {
        &self.view
    }

    /// The header of a read that saw the store at `applied` (from `StoreView::read_at`): what
    /// the answer reflects, not what was applied by the time it was sent.
    pub fn header_at(&self, applied: u64) -> HeaderInfo {
        HeaderInfo {
            applied_index: applied,
            ..self.header()
        }
    }

    /// The facts every response header carries.
    pub fn header(&self) -> HeaderInfo {
        let (term, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow_watched();
            let leader = m.current_leader.map(|l| {
                let name = m
                    .membership_config
                    .membership()
                    .get_node(&l)
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                (l, name)
            });
            (m.current_term, leader)
        };
        let last_contact = match &leader {
            // On the leader: how long ago a quorum last answered it (about a heartbeat
            // interval while healthy; it grows on a leader that is cut off).
            Some((id, _)) if *id == self.id => {
                let now = Instant::now();
                self.quorum_contact(now)
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            }
            Some((id, _)) => self
                .contact
                .since(*id)
                .unwrap_or_else(|| self.started.elapsed()),
            None => self
                .contact
                .latest()
                .unwrap_or_else(|| self.started.elapsed()),
        };
        HeaderInfo {
            applied_index: self.view.applied_index(),
            term,
            known_leader: leader.is_some(),
            leader_name: leader.map(|(_, name)| name).unwrap_or_default(),
            served_by: self.me.name.clone(),
            last_contact,
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
    pub fn raft(&self) -> &KonsulRaft {
        &self.raft
    }

    /// Resolves once the Raft core has stopped (a panic, a storage failure, or a shutdown)
    /// with the cause. A node whose core stopped by itself serves nothing but errors, so
    /// `main` exits non-zero on it and a supervisor restarts the process. It asks the core
    /// twice a second rather than following every metrics change, which would cost the
    /// write path a wakeup per change.
    pub async fn raft_stopped(&self) -> String {
        let mut ticks = tokio::time::interval(Duration::from_millis(500));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(fatal) = self.raft.is_initialized().await {
                return fatal.to_string();
            }
        }
    }

    /// openraft's metrics as a tokio watch (openraft 0.10 hands out its own watch type, which
    /// has no `wait_for`): a task copies every change until the node stops or every
    /// receiver is gone.
    pub fn metrics_watch(&self) -> tokio::sync::watch::Receiver<openraft::RaftMetrics<TypeConfig>> {
        let mut metrics = self.raft.metrics();
        let (tx, rx) = tokio::sync::watch::channel(metrics.borrow_watched().clone());
        tokio::spawn(async move {
            while metrics.changed().await.is_ok() {
                if tx.send(metrics.borrow_watched().clone()).is_err() {
                    return;
                }
            }
        });
        rx
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

    pub(crate) fn not_leader(&self, f: ForwardToLeader<TypeConfig>) -> Error {
        not_leader_error(f)
    }
}

/// The error for a call that only the leader can serve, naming the leader when known.
pub(crate) fn not_leader_error(f: ForwardToLeader<TypeConfig>) -> Error {
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
    let storage = |e: std::io::Error| Error::Storage(e.to_string());
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
    raft: KonsulRaft,
    view: StoreView,
    committed_at_start: u64,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let mut metrics = raft.metrics();
    tokio::spawn(async move {
        loop {
            let ready = {
                let m = metrics.borrow_watched();
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
