//! Service expiry, as the leader drives it: the only code that proposes `CatalogGrace` and
//! `CatalogExpireServices`.
//!
//! ```text
//!  leader::run ── new term ──► expiry::run(term)
//!     1. CatalogGrace { now_ms } ─► RaftNode::write ─► committed? (retry with backoff while
//!        still leader; give up when leadership is lost)
//!     2. every catalog.cleanup_interval: Heartbeats::due(local store, now_ms) (services
//!        without a heartbeat for a TTL, marked so later heartbeats are refused) and
//!        Store::ttl_checks_due(now_ms)? ─► CatalogExpireServices { now_ms, services }
//!        ─► RaftNode::write ─► log the removed services (and the TTL checks turned
//!        critical), count the services (konsul_catalog_services_expired_total)
//! ```
//!
//! Heartbeats are answered from the leader's memory (`heartbeats.rs`), so only this task
//! decides that a service is gone, and it names every service it removes. The grace entry
//! comes first in every term: heartbeats answered by the old leader died with it, and a
//! service must not expire because of a failover. So the store raises every replicated
//! deadline to at least `now + ttl` before this term removes anything, and no expiry is
//! proposed in a term before that term's `CatalogGrace` has committed. Both commands carry
//! the leader's wall time (the `deps::Clock` seam), so every node applies them with the same
//! result at the same index.

use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::Term;
use crate::discovery::Backoff;
use crate::error::Error;
use crate::raft::node::Written;
use crate::store::{Command, Response};

/// Name of the counter of services removed by expiry (Prometheus naming: `konsul_` prefix,
/// subsystem, `_total` for counters).
pub const EXPIRED_TOTAL: &str = "konsul_catalog_services_expired_total";

/// First pause before retrying a grace entry that did not commit.
const GRACE_RETRY_INITIAL: Duration = Duration::from_millis(50);
/// Longest pause between grace retries.
const GRACE_RETRY_MAX: Duration = Duration::from_secs(2);

/// Registers the description of the expiry metrics with the installed recorder, if any.
pub fn describe_metrics() {
    metrics::describe_counter!(
        EXPIRED_TOTAL,
        metrics::Unit::Count,
        "Services removed from the catalog because their TTL passed without a heartbeat \
         (counted by the leader that proposed the removal)"
    );
}

/// The expiry task of one leadership term: grace first, then sweeps until the term ends.
pub async fn run(term: Term) {
    term.until_stopped(async {
        if grace(&term).await {
            sweep(&term).await;
        }
    })
    .await;
}

/// Proposes `CatalogGrace` until it commits (true), or until this node is no longer leader
/// of the term (false). Retries other failures (a slow quorum, a full pipeline) with backoff.
async fn grace(term: &Term) -> bool {
    let mut backoff = Backoff::new(GRACE_RETRY_INITIAL, GRACE_RETRY_MAX, term.rng.clone());
    loop {
        let now_ms = term.now_ms();
        let failure = match term.node.write(Command::CatalogGrace { now_ms }).await {
            Ok(Written {
                index,
                response: Response::GraceApplied { extended },
            }) => {
                tracing::debug!(
                    term = term.term,
                    index,
                    extended,
                    "catalog grace committed: no deadline before now + ttl; expiry may run"
                );
                return true;
            }
            Ok(Written { response, .. }) => {
                // The store answers GraceApplied to CatalogGrace; anything else is a bug, and
                // expiring on top of it would not be safe.
                tracing::error!(
                    term = term.term,
                    "catalog grace answered {response:?}; no expiry this term"
                );
                return false;
            }
            Err(e) => e,
        };
        if matches!(failure, Error::NotLeader { .. } | Error::NoLeader) || !term.still_leader() {
            tracing::info!(
                term = term.term,
                "leadership lost before the catalog grace committed: {failure}"
            );
            return false;
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            term = term.term,
            "catalog grace not committed ({failure}); retrying in {delay:?}"
        );
        tokio::time::sleep(delay).await;
    }
}

/// Every cleanup interval, proposes `CatalogExpireServices` when a service went a TTL
/// without a heartbeat or a TTL check is past its deadline. Returns when this node is no
/// longer leader.
async fn sweep(term: &Term) {
    let mut tick = tokio::time::interval(term.settings.cleanup_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate; the grace entry just ran
    loop {
        tick.tick().await;
        let now_ms = term.now_ms();
        let (services, checks_due) = term
            .node
            .view()
            .read(|s| (term.heartbeats.due(s, now_ms), s.ttl_checks_due(now_ms)));
        if services.is_empty() && !checks_due {
            continue;
        }
        let command = Command::CatalogExpireServices { now_ms, services };
        match term.node.write(command).await {
            Ok(Written {
                index,
                response: Response::Expired { keys, checks },
            }) => {
                if !checks.is_empty() {
                    tracing::info!(
                        term = term.term,
                        index,
                        now_ms,
                        count = checks.len(),
                        ?checks,
                        "catalog: TTL checks past their deadline turned critical"
                    );
                }
                if !keys.is_empty() {
                    tracing::info!(
                        term = term.term,
                        index,
                        now_ms,
                        count = keys.len(),
                        ?keys,
                        "catalog: expired services removed"
                    );
                    metrics::counter!(EXPIRED_TOTAL).increment(keys.len() as u64);
                }
            }
            Ok(Written { response, .. }) => {
                tracing::error!(term = term.term, "catalog expiry answered {response:?}");
            }
            Err(e @ (Error::NotLeader { .. } | Error::NoLeader)) => {
                tracing::info!(term = term.term, "catalog expiry stops: {e}");
                return;
            }
            Err(e) => {
                // The chosen services stay chosen (heartbeats for them are refused) and are
                // proposed again next tick, whether or not this entry committed.
                tracing::warn!(
                    term = term.term,
                    "catalog expiry not committed ({e}); retrying next interval"
                );
            }
        }
    }
}
