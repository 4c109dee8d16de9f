//! Leader-only background work: tasks that must run on exactly one node, the leader, because
//! what they do is propose replicated commands on the cluster's behalf.
//!
//! ```text
//!  server.rs ── spawns ──► leader::run(node, deps, settings, stop)
//!                              │ follows this node's Raft metrics (openraft's watch channel)
//!                              ▼
//!          leader of term T? ── yes ─► spawn_term_tasks(Term { node, term: T, stop: T's signal })
//!                              │           ├─ expiry::run   (CatalogGrace, then sweeps of the
//!                              │           │                 heartbeat table → CatalogExpireServices)
//!                              │           └─ checks::run   (HTTP/TCP/gRPC probes → CheckResults)
//!                              │                 │ propose through RaftNode::write ─► raft/ ─► store/
//!                              ▼
//!          no longer leader of T (follower, candidate, new term), Raft stopped, or server
//!          shutdown ─► signal T's tasks to stop, wait for them (bounded), abort stragglers
//! ```
//!
//! Each leadership term gets fresh tasks with their own stop signal, so nothing a task
//! learned in one term (such as "the grace entry committed") leaks into the next. Every task
//! must end promptly once [`Term::stopped`] resolves: wrap each wait in
//! [`Term::until_stopped`] or race it against [`Term::stopped`].
//!
//! Adding a leader-only task is one line in [`spawn_term_tasks`].

pub mod checks;
pub mod expiry;
pub mod heartbeats;
pub mod probe;

use openraft::async_runtime::WatchReceiver;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::deps::{Clock, Deps, Entropy};
use crate::error::Result;
use crate::raft::node::RaftNode;
use heartbeats::Heartbeats;

/// How long a term's tasks get to finish after their stop signal before they are aborted.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The settings leader-only tasks read, taken from the [`Config`] once at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderSettings {
    /// How often the expiry task looks for services past their deadline
    /// (`catalog.cleanup_interval`).
    pub cleanup_interval: Duration,
}

impl LeaderSettings {
    /// The leader-task settings of `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            cleanup_interval: config.catalog.cleanup_interval,
        }
    }
}

/// What one leader-only task gets for one leadership term: the node to propose through, the
/// node's clock and randomness, the settings, the term number, and the term's stop signal.
/// Cheap to clone; every clone sees the same stop signal.
#[derive(Clone)]
pub struct Term {
    /// The node that leads this term.
    pub node: RaftNode,
    /// The wall clock whose time the tasks stamp into commands (the `deps::Clock` seam).
    pub clock: Arc<dyn Clock>,
    /// The node's randomness, for backoff jitter.
    pub rng: Arc<dyn Entropy>,
    /// Settings from the configuration.
    pub settings: LeaderSettings,
    /// The Raft term this node leads.
    pub term: u64,
    /// The service heartbeats this node has answered (cleared when the term starts).
    pub heartbeats: Arc<Heartbeats>,
    stop: watch::Receiver<bool>,
}

impl Term {
    /// Resolves once the term's tasks must stop: leadership lost, Raft stopped or the server
    /// shutting down.
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // An error means the sender is gone, which also means stop.
        let _ = stop.wait_for(|s| *s).await;
    }

    /// Runs `fut` until it finishes (`Some`) or the term ends first (`None`, `fut` dropped).
    pub async fn until_stopped<F: Future>(&self, fut: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            () = self.stopped() => None,
            out = fut => Some(out),
        }
    }

    /// True while this node still leads this term, as far as its Raft metrics say.
    pub fn still_leader(&self) -> bool {
        let m = self.node.raft().metrics().borrow_watched().clone();
        leading_term(&m) == Some(self.term)
    }

    /// The clock's time in ms since the Unix epoch, as commands carry it.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

/// Starts the leader-only tasks of one term on `tasks`. This is the one place a leader-only
/// task is plugged in: add a line such as `tasks.spawn(checks::run(term.clone()));`.
fn spawn_term_tasks(term: &Term, tasks: &mut JoinSet<()>) {
    tasks.spawn(expiry::run(term.clone()));
    tasks.spawn(checks::run(term.clone()));
}

/// The term this node leads according to `m`, if it leads one.
fn leading_term(m: &openraft::RaftMetrics<crate::raft::TypeConfig>) -> Option<u64> {
    (m.running_state.is_ok() && m.state == ServerState::Leader && m.current_leader == Some(m.id))
        .then_some(m.current_term)
}

/// The tasks of the term currently led, with the sender of their stop signal.
struct Running {
    term: u64,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Signals the tasks to stop and waits for them, aborting any still running after
    /// [`STOP_WAIT`].
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(STOP_WAIT, async {
            while let Some(done) = self.tasks.join_next().await {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(term = self.term, "leader task panicked: {e}");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                term = self.term,
                "leader tasks still running {STOP_WAIT:?} after their stop signal; aborting them"
            );
            self.tasks.abort_all();
        }
    }
}

/// Follows `node`'s Raft metrics until `stop` turns true (or its sender is dropped) or Raft
/// stops, running the leader-only tasks of each term this node leads and stopping them as
/// soon as it no longer does. `heartbeats` is emptied whenever leadership starts or ends:
/// each term counts only the heartbeats it answered itself, after its own grace entry. A server task: `RunningServer::shutdown` waits for it before
/// shutting Raft down, so no leader task proposes into a stopping node.
pub async fn run(
    node: RaftNode,
    deps: Deps,
    settings: LeaderSettings,
    heartbeats: Arc<Heartbeats>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    expiry::describe_metrics();
    let mut metrics = node.raft().metrics();
    let mut current: Option<Running> = None;
    loop {
        let leading = leading_term(&metrics.borrow_watched());
        if current.as_ref().map(|r| r.term) != leading {
            if let Some(old) = current.take() {
                tracing::debug!(term = old.term, "no longer leader: stopping leader tasks");
                old.stop().await;
                heartbeats.clear();
            }
            if let Some(term) = leading {
                heartbeats.clear();
                tracing::debug!(term, "leader of term {term}: starting leader tasks");
                let (stop_tx, stop_rx) = watch::channel(false);
                let mut tasks = JoinSet::new();
                spawn_term_tasks(
                    &Term {
                        node: node.clone(),
                        clock: deps.clock.clone(),
                        rng: deps.rng.clone(),
                        settings,
                        term,
                        heartbeats: heartbeats.clone(),
                        stop: stop_rx,
                    },
                    &mut tasks,
                );
                current = Some(Running {
                    term,
                    stop: stop_tx,
                    tasks,
                });
            }
        }
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    break; // Raft stopped
                }
            }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if let Some(old) = current.take() {
        old.stop().await;
    }
    Ok(())
}
