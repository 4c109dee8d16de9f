//! Linearizability checker for Konsul's fault-injection suite.
//!
//! ```text
//!  fault suite: ≥5 clients × put/get/CAS/delete, nodes killed / paused / partitioned
//!     │ records every call: invocation + response time, input, outcome (or "unknown")
//!     ▼
//!  check(history, initial, budget)                                  (this file)
//!     │ history.rs  split by key, drop unknown reads, tighten unknown writes
//!     │ search.rs   per key: Wing–Gong / Lowe search with memoisation (cache.rs)
//!     │ window.rs   for a violating key: shortest failing prefix, then shortest window
//!     ▼
//!  Report (report.rs): verdict, per-key outcomes, readable explanation of each violation
//! ```
//!
//! # Approach
//!
//! Each key of a KV store is an independent register, and linearizability is compositional
//! over independent objects, so every key's sub-history is checked on its own. On one key the
//! search is the WGL algorithm (Wing & Gong, with Lowe's memoisation), in the form the
//! [porcupine](https://github.com/anishathalye/porcupine) checker popularised: a depth-first
//! search over the operations that are minimal in real-time order, caching every (set of
//! linearized operations, model state) pair already explored so no pair is explored twice.
//! On top of that come a few sound reductions for the case that hurts WGL most, many
//! unknown-outcome operations pending at once (see `search.rs` and [`Options::reductions`]);
//! `tests/brute_force.rs` and `tests/differential.rs` cross-check them.
//!
//! # Unknown outcomes
//!
//! An operation whose answer never arrived may have taken effect at any time after its call,
//! or never. It gets return time +∞ and an unconstrained output: the model applies it with
//! whatever result it would have had (an unknown CAS applies iff its condition holds where it
//! is placed), and the search never needs to place it at all. Unknown-outcome reads are
//! dropped, since they constrain nothing. One sound tightening is applied: an unknown write
//! whose (unique) value a completed operation observed must have taken effect before that
//! observer returned, so its return time becomes the earliest such observer's return. Nothing
//! is dropped or tightened in a way that could make a linearizable history fail.
//!
//! # Explaining a violation
//!
//! For a violating key the checker finds the *failing operation*: the one whose response
//! makes the history, cut right after that response (operations still pending there count as
//! unknown), impossible to linearize. Such cuts are monotone, so a binary search finds the
//! first. (Prefixes taken by call order are not: a read may return a value written by a call
//! that started after it.) It then finds the shortest *window* ending there: the operations
//! called from some instant on, plus those still pending then, that fail from every state the
//! earlier operations could have left. The report renders both as plain text.
//!
//! # Budget
//!
//! The search is exponential in the worst case (many concurrent or unknown-outcome operations
//! on one key). [`Options::budget`] bounds the deciding searches of *all* keys together;
//! keys are checked in key order, and those not decided in time are reported as timed out.
//! [`Options::explain_budget`] separately bounds the explanation of violations (also shared
//! across violating keys); running out of it only makes the report coarser, never changes the
//! verdict.
//!
//! No dependencies beyond `std`.

#![warn(missing_docs)]

mod cache;
mod deadline;
mod history;
mod kv;
mod model;
mod report;
mod search;
mod summary;
mod window;

use std::collections::HashMap;
use std::time::Duration;

pub use kv::{Input, KvModel, Op, Output};
pub use model::{Model, Operation};
pub use report::{KeyOutcome, Report, Verdict, Violation, WindowRow};

use deadline::{Deadline, Stopwatch};
use search::{Outcome, Run};

/// How much time the checker may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Bound on deciding every key (shared across keys). Exhausting it yields
    /// [`Verdict::TimedOut`] unless a violation was already found.
    pub budget: Duration,
    /// Bound on explaining violations (shared across violating keys), on top of `budget`.
    pub explain_budget: Duration,
    /// Use the search reductions beyond plain WGL: look-alike unknown-outcome operations are
    /// applied in call order only (with their anonymous values renamed alike), such an
    /// operation is never applied where it changes nothing, and a configuration that spent
    /// more of them than an explored one is skipped. All are sound and on by default; turning
    /// them off gives the textbook search, for cross-checking the checker itself.
    pub reductions: bool,
}

impl Options {
    /// `budget` for deciding and the same again for explaining violations, reductions on.
    pub fn new(budget: Duration) -> Self {
        Options {
            budget,
            explain_budget: budget,
            reductions: true,
        }
    }
}

/// Checks a Konsul KV history: the entry point the fault suite uses.
///
/// `initial` gives each key's value when the history starts (keys not listed start absent);
/// `budget` bounds the deciding search across all keys, and explaining a violation may take
/// as long again (see [`Options::new`]).
pub fn check(
    history: &[Op],
    initial: &HashMap<String, Option<u64>>,
    budget: Duration,
) -> Report<String> {
    check_model(
        &KvModel::new(initial.clone()),
        history,
        &Options::new(budget),
    )
}

/// Checks `history` against any [`Model`]: partitions it, decides each partition, and explains
/// each violating one.
pub fn check_model<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    options: &Options,
) -> Report<M::Key> {
    let total = Stopwatch::start();
    let run = Run {
        deadline: Deadline::after(options.budget),
        reductions: options.reductions,
    };
    let keys = history::partition(model, history);

    let mut outcomes = Vec::with_capacity(keys.len());
    let mut violating = Vec::new();
    for key in &keys {
        let watch = Stopwatch::start();
        let mut ops = key.ops.clone();
        history::tighten(model, &mut ops);
        let start = [model.init(&key.key)];
        let result = search::search(model, &ops, &start, &run, None);
        let verdict = match result.outcome {
            Outcome::Linearizable => Verdict::Linearizable,
            Outcome::Violation => Verdict::Violation,
            Outcome::TimedOut => Verdict::TimedOut,
        };
        if verdict == Verdict::Violation {
            violating.push(key);
        }
        outcomes.push(KeyOutcome {
            key: key.key.clone(),
            key_text: model.describe_key(&key.key),
            verdict,
            ops: key.ops.len(),
            unknown: key.unknown,
            ignored: key.dropped,
            explored: result.explored,
            elapsed: watch.elapsed(),
        });
    }

    let explain = Run {
        deadline: Deadline::after(options.explain_budget),
        reductions: options.reductions,
    };
    let violations: Vec<_> = violating
        .into_iter()
        .map(|key| {
            let explanation = window::explain(model, &key.key, &key.ops, &explain);
            summary::violation(model, history, &key.key, explanation)
        })
        .collect();

    let verdict = if !violations.is_empty() {
        Verdict::Violation
    } else if outcomes.iter().any(|k| k.verdict == Verdict::TimedOut) {
        Verdict::TimedOut
    } else {
        Verdict::Linearizable
    };
    Report {
        verdict,
        keys: outcomes,
        violations,
        ops_total: history.len(),
        elapsed: total.elapsed(),
    }
}
