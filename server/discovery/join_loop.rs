//! The auto-join loop: a node started with `raft.join` and without `raft.bootstrap` keeps
//! discovering members and asking them to add it, until it is a member or shuts down.
//!
//! ```text
//!  Server::start ── JoinLoop::for_node ──► run_until_member (a server task)
//!     round: Discovery::members() ─► JoinCall::attempt(addr) for each ─► added? done
//!            else Backoff::next_delay() ─► sleep ─► next round
//!     ends early when: this node becomes a voter (Raft metrics) | the server stops
//! ```
//!
//! Discovery failures never stop startup: the node serves (stale reads, health) while it
//! waits, and every attempt leaves one log line, so an operator sees why a node is not joining.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::RaftMetrics;

use crate::raft::TypeConfig;
use tokio::sync::watch;

use super::backoff::Backoff;
use super::dns::DnsResolver;
use super::exec::DEFAULT_EXEC_TIMEOUT;
use super::join_call::JoinCall;
use super::resolve::Discovery;
use crate::config::Config;
use crate::config::JoinEntry;
use crate::deps::{Deps, Entropy};
use crate::error::Result;
use crate::raft::node::RaftNode;
use crate::raft::{Member, NodeId};

/// Timing of the loop. The defaults suit production; tests shorten them.
#[derive(Clone, Debug)]
pub struct JoinSettings {
    /// First pause between rounds.
    pub initial_backoff: Duration,
    /// Longest pause between rounds.
    pub max_backoff: Duration,
    /// How long to wait for a TCP connection to a member.
    pub connect_timeout: Duration,
    /// Deadline of one Join call. Long, because the leader answers only once the new node
    /// has caught up (a snapshot may have to be sent first); the leader is asked to give up
    /// on the catch-up a little earlier (`catch_up_timeout_ms`, 60 s by default).
    pub call_timeout: Duration,
    /// How long an `exec:` command may run.
    pub exec_timeout: Duration,
}

impl Default for JoinSettings {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            call_timeout: Duration::from_secs(70),
            exec_timeout: DEFAULT_EXEC_TIMEOUT,
        }
    }
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// A member (the leader) accepted the Join call.
    Joined {
        /// Client address of the member that accepted.
        via: String,
        /// True when the leader already had this node at this address.
        already_member: bool,
        /// Rounds it took, starting at 1.
        rounds: u32,
    },
    /// The node saw itself in the membership (for example, it had joined before a restart, or
    /// a Join answer was lost).
    Member,
    /// The server shut down first.
    Stopped,
}

/// The loop's configuration; [`JoinLoop::run`] consumes it.
pub struct JoinLoop {
    discovery: Discovery,
    call: JoinCall,
    rng: Arc<dyn Entropy>,
    settings: JoinSettings,
}

impl JoinLoop {
    /// A loop that joins `me` through `entries`, resolving names with `resolver` and drawing
    /// backoff jitter from `rng`.
    pub fn new(
        entries: Vec<JoinEntry>,
        me: Member,
        resolver: DnsResolver,
        rng: Arc<dyn Entropy>,
        settings: JoinSettings,
    ) -> Self {
        let discovery = Discovery::new(
            entries,
            resolver,
            settings.exec_timeout,
            me.client_addr.clone(),
        );
        let call = JoinCall::new(me, settings.connect_timeout, settings.call_timeout);
        Self {
            discovery,
            call,
            rng,
            settings,
        }
    }

    /// The loop [`crate::Server::start`] runs for `node`, or `None` when the node should not
    /// join anyone: standalone, bootstrapping, or no `raft.join` entries.
    pub fn for_node(config: &Config, deps: &Deps, node: &RaftNode) -> Option<JoinLoop> {
        let raft = &config.raft;
        if !raft.enabled || raft.bootstrap || raft.join.is_empty() {
            return None;
        }
        // validate() has accepted both settings already; a failure here would be a bug, and
        // the entry or server is skipped with a warning rather than taking the node down.
        let entries = raft
            .join
            .iter()
            .filter_map(|e| match JoinEntry::parse(e) {
                Ok(entry) => Some(entry),
                Err(message) => {
                    tracing::warn!("raft.join: {message}");
                    None
                }
            })
            .collect();
        let nameserver = match raft.discovery_dns_server.as_str() {
            "" => None,
            server => match server.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    tracing::warn!(
                        "raft.discovery_dns_server {server:?} is not ip:port; using the system resolver"
                    );
                    None
                }
            },
        };
        Some(JoinLoop::new(
            entries,
            node.member().clone(),
            DnsResolver::new(nameserver),
            deps.rng.clone(),
            JoinSettings::default(),
        ))
    }

    /// Runs the loop for a server: until `node` is a voter or `stop` turns true. Never fails:
    /// discovery problems are logged, not returned.
    pub fn run_until_member(
        self,
        node: RaftNode,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let id = node.id();
        let metrics = node.metrics_watch();
        async move {
            let outcome = self.run(metrics, move |m| is_voter(m, id), stop).await;
            tracing::info!("join: finished: {outcome:?}");
            Ok(())
        }
    }

    /// Repeats discovery rounds until a Join call succeeds, `is_member(membership)` holds, or
    /// `stop` turns true (or either sender is dropped). Checking membership through a watch
    /// lets the loop end as soon as the node is added, even mid-call; tests drive it with a
    /// plain `watch::Sender<bool>`.
    pub async fn run<T, F>(
        self,
        mut membership: watch::Receiver<T>,
        is_member: F,
        mut stop: watch::Receiver<bool>,
    ) -> JoinOutcome
    where
        T: Send + Sync,
        F: Fn(&T) -> bool + Send,
    {
        let done = async {
            tokio::select! {
                m = membership.wait_for(|t| is_member(t)) => {
                    if m.is_ok() { JoinOutcome::Member } else { JoinOutcome::Stopped }
                }
                _ = stop.wait_for(|s| *s) => JoinOutcome::Stopped,
            }
        };
        tokio::select! {
            biased;
            outcome = done => outcome,
            outcome = self.rounds() => outcome,
        }
    }

    /// The rounds themselves, without the exits `run` adds.
    async fn rounds(&self) -> JoinOutcome {
        let mut backoff = Backoff::new(
            self.settings.initial_backoff,
            self.settings.max_backoff,
            self.rng.clone(),
        );
        let mut round: u32 = 0;
        loop {
            round = round.saturating_add(1);
            let members = self.discovery.members().await;
            if members.is_empty() {
                tracing::warn!(round, "join: round {round}: no members discovered");
            }
            for addr in &members {
                if let Ok((via, already_member)) = self.call.attempt(addr).await {
                    return JoinOutcome::Joined {
                        via,
                        already_member,
                        rounds: round,
                    };
                }
            }
            let delay = backoff.next_delay();
            tracing::info!(round, "join: not a member yet; next round in {delay:?}");
            tokio::time::sleep(delay).await;
        }
    }
}

/// Whether the membership in `metrics` has `id` as a voter: Join answers once the node votes,
/// so a learner (still catching up) keeps the loop going.
pub fn is_voter(metrics: &RaftMetrics<TypeConfig>, id: NodeId) -> bool {
    metrics
        .membership_config
        .membership()
        .voter_ids()
        .any(|v| v == id)
}
