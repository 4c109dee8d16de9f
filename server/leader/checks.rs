//! The leader's check runner: runs every HTTP, TCP and gRPC health check of the catalog on
//! its interval and writes status changes to the log.
//!
//! Started by the leader's task set (`leader/mod.rs`) for each term this node leads and
//! dropped when the term ends, so exactly one node probes at a time (two for at most an
//! election timeout after a partition, which is harmless: results are replicated through
//! the log, and an old leader's writes fail). The definitions come from the applied store
//! (re-read only when the catalog index moves); each probe (`probe.rs`) runs as its own
//! task, at most [`MAX_IN_FLIGHT`] at once. A result is written only when it differs from
//! the replicated status or output, batched into one `CheckResults` command per tick
//! stamped with the leader's clock, so a steady catalog costs the log nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::Term;
use super::probe::{Outcome, probe};
use crate::deps::Clock;
use crate::raft::node::RaftNode;
use crate::store::{CheckDefinition, CheckKind, CheckResult, Command, Store};

/// Most probes running at once; the rest wait for the next tick.
pub const MAX_IN_FLIGHT: usize = 64;
/// How often the runner starts due probes and writes changed results.
pub const TICK: Duration = Duration::from_millis(100);

/// One probed check and when it is next due.
struct Slot {
    def: CheckDefinition,
    next: Instant,
    running: bool,
}

/// Runs the checks for one leadership term, until the term ends; every probe task it
/// started is aborted with it.
pub async fn run(term: Term) {
    term.until_stopped(run_checks(term.node.clone(), term.clock.clone()))
        .await;
}

async fn run_checks(node: RaftNode, clock: Arc<dyn Clock>) {
    let mut slots: HashMap<String, Slot> = HashMap::new();
    let mut seen_index = None;
    let mut probes: JoinSet<(CheckDefinition, Outcome)> = JoinSet::new();
    let mut pending: BTreeMap<String, CheckResult> = BTreeMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let index = node.view().read(Store::catalog_index);
                if seen_index != Some(index) {
                    seen_index = Some(index);
                    refresh(&mut slots, node.view().read(probed_checks));
                }
                start_due(&mut slots, &mut probes);
                flush(&node, &*clock, &mut pending).await;
            }
            Some(done) = probes.join_next() => {
                let Ok((def, outcome)) = done else { continue };
                let Some(slot) = slots.get_mut(&def.id) else { continue };
                slot.running = false;
                // A result for an older definition of the check says nothing about this one.
                if slot.def == def {
                    pending.insert(def.id.clone(), CheckResult {
                        check_id: def.id,
                        status: outcome.status,
                        output: outcome.output,
                    });
                }
            }
        }
    }
}

/// Every probed (non-TTL) check in the store.
fn probed_checks(store: &Store) -> Vec<CheckDefinition> {
    store
        .services()
        .flat_map(|(_, e)| e.service.checks.iter())
        .filter(|d| !matches!(d.kind, CheckKind::Ttl { .. }))
        .cloned()
        .collect()
}

/// Brings the schedule in line with the store: new or changed checks are due now, removed
/// ones are forgotten, unchanged ones keep their schedule.
fn refresh(slots: &mut HashMap<String, Slot>, defs: Vec<CheckDefinition>) {
    let now = Instant::now();
    let mut next: HashMap<String, Slot> = HashMap::with_capacity(defs.len());
    for def in defs {
        let slot = match slots.remove(&def.id) {
            Some(slot) if slot.def == def => slot,
            _ => Slot {
                def,
                next: now,
                running: false,
            },
        };
        next.insert(slot.def.id.clone(), slot);
    }
    *slots = next;
}

fn start_due(slots: &mut HashMap<String, Slot>, probes: &mut JoinSet<(CheckDefinition, Outcome)>) {
    let now = Instant::now();
    for slot in slots.values_mut() {
        if probes.len() >= MAX_IN_FLIGHT {
            return;
        }
        if slot.running || slot.next > now {
            continue;
        }
        slot.running = true;
        slot.next = now + Duration::from_millis(slot.def.interval_ms);
        let def = slot.def.clone();
        probes.spawn(async move {
            let outcome = probe(&def.kind, Duration::from_millis(def.timeout_ms)).await;
            (def, outcome)
        });
    }
}

/// Writes the results that differ from the replicated state as one command. On failure
/// (lost leadership, no quorum) they stay pending; the next tick tries again.
async fn flush(node: &RaftNode, clock: &dyn Clock, pending: &mut BTreeMap<String, CheckResult>) {
    if pending.is_empty() {
        return;
    }
    let changed: Vec<CheckResult> = node.view().read(|s| {
        pending
            .values()
            .filter(|r| {
                s.check_state(&r.check_id)
                    .is_some_and(|st| st.status != r.status || st.output != r.output)
            })
            .cloned()
            .collect()
    });
    if changed.is_empty() {
        pending.clear();
        return;
    }
    let now_ms = clock.now_ms();
    let count = changed.len();
    match node
        .write(Command::CheckResults {
            results: changed,
            now_ms,
        })
        .await
    {
        Ok(_) => {
            tracing::debug!(count, "recorded health check results");
            pending.clear();
        }
        Err(e) => tracing::debug!(error = %e, count, "could not record health check results yet"),
    }
}
