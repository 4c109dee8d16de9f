//! Turns the suite's flat history into per-key sub-histories ready for the search: split by
//! partition (P-compositionality), normalise unknown outcomes, drop what constrains nothing,
//! and tighten unknown-outcome writes whose effect was observed.
//!
//! ```text
//!  &[Operation] ──partition()──► KeyHistory per key ──tighten()──► search.rs
//!                                        └──truncate(cut)──► window.rs (prefixes)
//! ```
//!
//! Every transformation here preserves the verdict exactly: dropping an unknown-outcome read
//! removes no constraint, and tightening only records a fact every valid linearization already
//! satisfies.

use std::collections::{BTreeMap, HashMap};

use crate::model::{Model, Operation};

/// Return time of an operation that may take effect at any time after its call, or never.
pub(crate) const NEVER: u64 = u64::MAX;

/// One operation of a key's sub-history as the search sees it.
pub(crate) struct KeyOp<'h, M: Model> {
    /// Index of the operation in the caller's history (what reports name).
    pub orig: usize,
    /// Invocation time.
    pub call: u64,
    /// Latest time it can have taken effect; [`NEVER`] for an unknown outcome.
    pub ret: u64,
    /// What it asked.
    pub input: &'h M::Input,
    /// What it was told; `None` for an unknown outcome (unconstrained).
    pub output: Option<&'h M::Output>,
}

impl<M: Model> Clone for KeyOp<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Model> Copy for KeyOp<'_, M> {}

impl<M: Model> KeyOp<'_, M> {
    /// True if the outcome is known (it must be linearized before `ret`).
    pub(crate) fn known(&self) -> bool {
        self.output.is_some()
    }
}

/// All operations on one key, sorted by call time (ties by history index), unknown-outcome
/// reads removed, not yet tightened.
pub(crate) struct KeyHistory<'h, M: Model> {
    /// The partition.
    pub key: M::Key,
    /// Its operations.
    pub ops: Vec<KeyOp<'h, M>>,
    /// How many operations with an unknown outcome were kept.
    pub unknown: usize,
    /// How many unknown-outcome reads were dropped.
    pub dropped: usize,
}

/// Splits `history` by [`Model::partition`], in key order.
pub(crate) fn partition<'h, M: Model>(
    model: &M,
    history: &'h [Operation<M::Input, M::Output>],
) -> Vec<KeyHistory<'h, M>> {
    let mut keys: BTreeMap<M::Key, KeyHistory<'h, M>> = BTreeMap::new();
    for (orig, op) in history.iter().enumerate() {
        let key = model.partition(&op.input);
        let entry = keys.entry(key.clone()).or_insert_with(|| KeyHistory {
            key,
            ops: Vec::new(),
            unknown: 0,
            dropped: 0,
        });
        let (ret, output) = match (op.ret, op.output.as_ref()) {
            // `NEVER` is reserved for "no return": a real time there is read as just before.
            (Some(ret), Some(output)) => (ret.max(op.call).min(NEVER - 1), Some(output)),
            _ => (NEVER, None),
        };
        if output.is_none() {
            if model.read_only(&op.input) {
                entry.dropped += 1;
                continue;
            }
            entry.unknown += 1;
        }
        entry.ops.push(KeyOp {
            orig,
            call: op.call,
            ret,
            input: &op.input,
            output,
        });
    }
    let mut out: Vec<_> = keys.into_values().collect();
    for key in &mut out {
        key.ops.sort_by_key(|op| (op.call, op.orig));
    }
    out
}

/// Lowers the return time of each unknown-outcome write whose unique token a completed
/// operation observed: the write must have taken effect before that observer's linearization
/// point, hence before the observer returned. This turns an op pending "forever" into an
/// ordinary one, which prunes the search enormously. Tokens written by several operations are
/// ambiguous and left alone.
pub(crate) fn tighten<M: Model>(model: &M, ops: &mut [KeyOp<'_, M>]) {
    let mut writers: HashMap<u64, Option<usize>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(token) = model.write_token(op.input) {
            writers
                .entry(token)
                .and_modify(|w| *w = None)
                .or_insert(Some(i));
        }
    }
    let mut first_seen: HashMap<u64, u64> = HashMap::new();
    for op in ops.iter() {
        let Some(output) = op.output else { continue };
        if let Some(token) = model.observed_token(op.input, output) {
            let seen = first_seen.entry(token).or_insert(op.ret);
            *seen = (*seen).min(op.ret);
        }
    }
    for (token, writer) in writers {
        let (Some(i), Some(&seen)) = (writer, first_seen.get(&token)) else {
            continue;
        };
        let op = &mut ops[i];
        if !op.known() {
            // An observer that returned before the write was even called makes the history a
            // violation anyway; clamping keeps `ret >= call` so the search still reports it.
            op.ret = op.ret.min(seen.max(op.call));
        }
    }
}

/// The points at which the history can be cut for the shortest-failing-prefix search: the
/// return events of operations with a known outcome, in event order.
pub(crate) fn cut_points<M: Model>(ops: &[KeyOp<'_, M>]) -> Vec<(u64, usize)> {
    let mut cuts: Vec<_> = ops
        .iter()
        .filter(|op| op.known())
        .map(|op| (op.ret, op.orig))
        .collect();
    cuts.sort_unstable();
    cuts
}

/// The history as it stood right after the return event `cut` (from [`cut_points`]): every
/// operation called by then, with those that had not yet returned turned into unknown-outcome
/// operations (and reads among them dropped), then tightened.
///
/// Linearizability of these truncations is monotone in the cut: a linearization of a later
/// truncation, restricted to the operations linearized by the earlier cut's time, is one of the
/// earlier truncation. (Prefixes taken simply by call order are *not* monotone: a read can
/// return a value written by an operation called after it.)
pub(crate) fn truncate<'h, M: Model>(
    model: &M,
    raw: &[KeyOp<'h, M>],
    cut: (u64, usize),
) -> Vec<KeyOp<'h, M>> {
    let mut ops: Vec<KeyOp<'h, M>> = Vec::with_capacity(raw.len());
    for op in raw {
        // Calls sort before returns at equal times, so a call at the cut's time is included.
        if op.call > cut.0 {
            continue;
        }
        let mut op = *op;
        if op.known() && (op.ret, op.orig) > cut {
            op.ret = NEVER;
            op.output = None;
        }
        if !op.known() && model.read_only(op.input) {
            continue;
        }
        ops.push(op);
    }
    tighten(model, &mut ops);
    ops
}
