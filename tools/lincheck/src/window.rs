//! Explains a violating key: finds the shortest failing prefix (and so the failing operation),
//! then the shortest tail of that prefix that still cannot be linearized from any plausible
//! starting state, which is what a human reads in the report.
//!
//! ```text
//!  lib.rs (key violates) ──► explain() ──binary search over cut points──► failing op
//!                                 └──scan window starts backwards──► window ──► report.rs
//! ```
//!
//! Prefixes are truncations at a return event (`history::truncate`): monotone, so a binary
//! search finds the first return event after which the history cannot be explained; the
//! operation returning there is the failing operation. A window starting at the call of
//! operation `s` keeps every operation called from then on plus every earlier one still
//! pending at that instant; all operations left out returned before the window began, so in any
//! linearization they precede the whole window, which therefore starts from some state those
//! operations could have produced ([`Model::plausible_states`]). A window that fails from all of
//! them is a self-contained proof that the prefix fails.

use crate::history::{KeyOp, cut_points, truncate};
use crate::model::Model;
use crate::search::{Outcome, Run, search};

/// Everything the report shows about one violating key.
pub(crate) struct Explanation<'h, M: Model> {
    /// The failing operation as it stands in the prefix (outcome known).
    pub failing: KeyOp<'h, M>,
    /// The failing prefix, by call time.
    pub prefix: Vec<KeyOp<'h, M>>,
    /// False if the budget ran out before the binary search finished (the prefix still fails,
    /// but a shorter one might too).
    pub prefix_shortest: bool,
    /// The window, by call time; the flag marks operations called before the window's start
    /// but still pending then.
    pub window: Vec<(KeyOp<'h, M>, bool)>,
    /// The states the window was started from (all fail).
    pub window_starts: Vec<M::State>,
    /// True if a window shorter than the whole prefix (from the real initial state) failed.
    pub window_found: bool,
    /// States in which the search tried to apply the failing operation, and whether its
    /// outcome fitted there. Empty if the budget ran out first.
    pub before: Vec<(M::State, bool)>,
    /// In `before`, a state holding this token stands for any value written by an
    /// unknown-outcome operation nobody observed (the search renames those alike).
    pub anonymous: Option<u64>,
    /// Return time of the failing operation: the cut.
    pub cut_time: u64,
}

/// Explains why `raw` (one key's untightened sub-history, known to violate) is not
/// linearizable, spending at most until `run`'s deadline. `None` only if there is nothing to cut at
/// (no operation with a known outcome), which a violating history cannot have.
pub(crate) fn explain<'h, M: Model>(
    model: &M,
    key: &M::Key,
    raw: &[KeyOp<'h, M>],
    run: &Run,
) -> Option<Explanation<'h, M>> {
    let cuts = cut_points(raw);
    let init = vec![model.init(key)];

    // Shortest failing prefix: `lo` is known linearizable (-1: the empty prefix), `hi` fails.
    // Each probe also records the states its cut's operation was tried in, which the report
    // shows for the final `hi`.
    let mut lo: isize = -1;
    let mut hi = cuts.len().checked_sub(1)?;
    let mut before = None;
    let mut prefix_shortest = true;
    while hi as isize - lo > 1 {
        let mid = ((lo + hi as isize) / 2) as usize;
        let ops = truncate(model, raw, cuts[mid]);
        let at = ops.iter().position(|op| op.orig == cuts[mid].1);
        let probe = search(model, &ops, &init, run, at);
        match probe.outcome {
            Outcome::Violation => {
                hi = mid;
                before = Some((probe.tracked, probe.anonymous));
            }
            Outcome::Linearizable => lo = mid as isize,
            Outcome::TimedOut => {
                prefix_shortest = false;
                break;
            }
        }
    }
    let cut = cuts[hi];
    let prefix = truncate(model, raw, cut);
    let at = prefix.iter().position(|op| op.orig == cut.1)?;
    let failing = prefix[at];
    let (before, anonymous) = before.unwrap_or_else(|| {
        // The last cut was never probed: it fails because the whole history does.
        let tracked = search(model, &prefix, &init, run, Some(at));
        match tracked.outcome {
            Outcome::TimedOut => (Vec::new(), None),
            _ => (tracked.tracked, tracked.anonymous),
        }
    });

    let mut explanation = Explanation {
        failing,
        window: prefix.iter().map(|op| (*op, false)).collect(),
        window_starts: init,
        window_found: false,
        prefix,
        prefix_shortest,
        before,
        anonymous,
        cut_time: cut.0,
    };
    if let Some((window, starts)) = shortest_window(model, key, &explanation.prefix, at, run) {
        explanation.window = window;
        explanation.window_starts = starts;
        explanation.window_found = true;
    }
    Some(explanation)
}

/// The window of the largest start position `s <= at` that still fails from every plausible
/// start state, or `None` if none does before `s = 0` (or the budget runs out).
#[allow(clippy::type_complexity)]
fn shortest_window<'h, M: Model>(
    model: &M,
    key: &M::Key,
    prefix: &[KeyOp<'h, M>],
    at: usize,
    run: &Run,
) -> Option<(Vec<(KeyOp<'h, M>, bool)>, Vec<M::State>)> {
    let mut last_left_out = None;
    for s in (1..=at).rev() {
        let start = prefix[s].call;
        let mut window = Vec::new();
        let mut inside = Vec::new();
        let mut earlier = Vec::new();
        for (i, op) in prefix.iter().enumerate() {
            // Calls sort before returns at equal times: an op returning exactly at `start` is
            // still concurrent with the window's first op.
            if i >= s || op.ret >= start {
                window.push((*op, i < s));
                inside.push(*op);
            } else {
                earlier.push(op.input);
            }
        }
        // Left-out sets shrink as `s` decreases (nested), so an unchanged count means the same
        // window as last time, and an empty one means every smaller `s` is the whole prefix,
        // which the fallback already shows.
        if earlier.is_empty() {
            return None;
        }
        if last_left_out == Some(earlier.len()) {
            continue;
        }
        last_left_out = Some(earlier.len());
        let starts = model.plausible_states(key, &earlier);
        match search(model, &inside, &starts, run, None).outcome {
            Outcome::Violation => return Some((window, starts)),
            Outcome::Linearizable => {}
            Outcome::TimedOut => return None,
        }
    }
    None
}
