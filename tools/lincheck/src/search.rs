//! The Wing–Gong / Lowe ("WGL") search on one key's sub-history: is there an order of the
//! operations, consistent with real time, in which every outcome matches the model?
//!
//! ```text
//!  history.rs (KeyOps) ──► search() ──► Linearizable / Violation / TimedOut
//!                            ▲   uses cache.rs (explored configurations)
//!        window.rs ──────────┘   (prefixes and windows, several start states)
//! ```
//!
//! The call and return events are laid out in time order in a doubly-linked list. Walking from
//! the front, the search may linearize any operation whose *call* it meets before meeting a
//! *return*: those are exactly the operations minimal in real-time order among what is left. To
//! linearize one it applies the model, unlinks both events ("lifts" the operation) and pushes
//! the choice on a stack; meeting a return first means the operation owning it should already
//! have been linearized, so the last choice is undone and the walk resumes after it. Lowe's
//! cache prunes every (linearized set, state) pair already explored.
//!
//! Unknown-outcome operations return at +∞: they have no return event, never block the walk,
//! and need not be linearized at all (taking effect "never" is the same as at +∞), so the
//! search succeeds as soon as every operation with a known outcome is linearized.
//!
//! Many such operations pending at once (a partition times out every client) would make the
//! plain search enumerate every subset of them. Four sound reductions keep that in check
//! (all switched off by `Run::reductions = false`, which `tests/differential.rs` uses):
//! - each configuration tries required operations first and optional ones second;
//! - an optional operation is never applied where it leaves the state unchanged;
//! - look-alike optional operations ([`Model::symmetry_class`]) are applied only in call
//!   order, and the values they write, which nobody references, are renamed to one canonical
//!   value ([`Model::rename_token`]);
//! - the cache skips a configuration that spent more optional operations than one already
//!   seen with the same required operations and state (`cache.rs`).

use std::collections::{HashMap, HashSet};

use crate::cache::{Cache, mix};
use crate::deadline::Deadline;
use crate::history::{KeyOp, NEVER};
use crate::model::Model;

/// How often (in search steps) the deadline is polled.
const POLL_EVERY: u64 = 1024;

/// No node.
const NIL: u32 = u32::MAX;

/// At most this many distinct states are recorded for the tracked operation.
const MAX_TRACKED: usize = 16;

/// How a search may run: until when, and whether with this crate's reductions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    /// Give up when this passes.
    pub deadline: Deadline,
    /// Use the reductions beyond plain WGL (see [`crate::Options::reductions`]).
    pub reductions: bool,
}

/// What a search concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Some order explains every outcome.
    Linearizable,
    /// No order does, from any of the start states.
    Violation,
    /// The deadline passed first.
    TimedOut,
}

/// The outcome plus what the search saw on the way.
pub(crate) struct SearchResult<S> {
    /// The verdict.
    pub outcome: Outcome,
    /// Distinct configurations explored.
    pub explored: usize,
    /// For the tracked operation: the distinct states in which the search tried to linearize
    /// it, and whether its outcome fitted that state.
    pub tracked: Vec<(S, bool)>,
    /// The token anonymous values were renamed to, if any (so a tracked state holding it
    /// stands for any of them).
    pub anonymous: Option<u64>,
}

/// One event in the list. Node 0 is the head sentinel.
#[derive(Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
    /// Position of the operation in the `ops` slice.
    op: u32,
    /// For a call node: its return node ([`NIL`] if it returns at +∞). [`NIL`] for a return.
    ret: u32,
    is_call: bool,
}

/// The event list with O(1) lift and unlift (dancing links).
struct Events {
    nodes: Vec<Node>,
}

impl Events {
    /// Lays out the events of `ops`: by time, calls before returns at equal times (so
    /// operations that merely touch count as concurrent: the permissive reading).
    fn new<M: Model>(ops: &[KeyOp<'_, M>]) -> Self {
        let mut order: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call, false, i as u32));
            if op.ret != NEVER {
                order.push((op.ret, true, i as u32));
            }
        }
        order.sort_unstable();
        let head = Node {
            prev: NIL,
            next: NIL,
            op: NIL,
            ret: NIL,
            is_call: false,
        };
        let mut nodes = vec![head; order.len() + 1];
        let mut ret_node = vec![NIL; ops.len()];
        for (at, &(_, is_return, op)) in order.iter().enumerate() {
            let id = at as u32 + 1;
            nodes[id as usize] = Node {
                prev: id - 1,
                next: if at + 1 < order.len() { id + 1 } else { NIL },
                op,
                ret: NIL,
                is_call: !is_return,
            };
            if is_return {
                ret_node[op as usize] = id;
            }
        }
        nodes[0].next = if order.is_empty() { NIL } else { 1 };
        for node in nodes.iter_mut().skip(1) {
            if node.is_call {
                node.ret = ret_node[node.op as usize];
            }
        }
        Events { nodes }
    }

    fn unlink(&mut self, id: u32) {
        let Node { prev, next, .. } = self.nodes[id as usize];
        self.nodes[prev as usize].next = next;
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn relink(&mut self, id: u32) {
        let Node { prev, next, .. } = self.nodes[id as usize];
        self.nodes[prev as usize].next = id;
        if next != NIL {
            self.nodes[next as usize].prev = id;
        }
    }

    /// Removes a call node and its return node.
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let ret = self.nodes[call as usize].ret;
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Undoes the matching [`Events::lift`] (lifts are undone in reverse order).
    fn unlift(&mut self, call: u32) {
        let ret = self.nodes[call as usize].ret;
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }
}

/// Decides whether `ops` (one key's operations, any order) can be linearized starting from any
/// one of `starts`. The starts share one cache, which is sound because a configuration's fate
/// does not depend on how it was reached. `track`, a position in `ops`, asks for the states in
/// which that operation was tried (for reports).
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[KeyOp<'_, M>],
    starts: &[M::State],
    run: &Run,
    track: Option<usize>,
) -> SearchResult<M::State> {
    let mut result = SearchResult {
        outcome: Outcome::Violation,
        explored: 0,
        tracked: Vec::new(),
        anonymous: None,
    };
    let must = ops.iter().filter(|op| op.ret != NEVER).count();
    if must == 0 && !starts.is_empty() {
        result.outcome = Outcome::Linearizable;
        return result;
    }
    let Symmetry {
        after,
        rename,
        canonical,
    } = if run.reductions {
        symmetry(model, ops, starts)
    } else {
        Symmetry {
            after: vec![NIL; ops.len()],
            rename: vec![None; ops.len()],
            canonical: None,
        }
    };
    result.anonymous = canonical;
    let mut events = Events::new(ops);
    let words = ops.len().div_ceil(64).max(1);
    let mut bits = vec![0u64; words];
    let zobrist: Vec<u64> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| match op.ret {
            NEVER if run.reductions => 0,
            _ => mix((i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15)),
        })
        .collect();
    let mut optional = vec![0u64; words];
    for (i, op) in ops.iter().enumerate() {
        if op.ret == NEVER && run.reductions {
            optional[i / 64] |= 1 << (i % 64);
        }
    }
    // Hash of the required operations' bits only (see cache.rs).
    let mut bits_hash = 0u64;
    let mut cache = Cache::new(optional);
    // (call node linearized, state before it, whether it was chosen in the optional pass).
    let mut stack: Vec<(u32, M::State, bool)> = Vec::with_capacity(ops.len());
    let mut steps = 0u64;

    for start in starts {
        if !cache.insert(&bits, bits_hash, start) {
            continue;
        }
        let mut state = start.clone();
        let mut done = 0usize;
        let mut entry = events.nodes[0].next;
        // Each configuration's candidates are scanned twice: required operations first, then
        // optional ones, so configurations spending fewer optional operations are cached first
        // and dominate the rest (cache.rs). Without reductions a single pass takes every
        // candidate in list order.
        let mut optional_pass = !run.reductions;
        loop {
            if done == must {
                result.outcome = Outcome::Linearizable;
                result.explored = cache.len();
                return result;
            }
            if steps.is_multiple_of(POLL_EVERY) && run.deadline.expired() {
                result.outcome = Outcome::TimedOut;
                result.explored = cache.len();
                return result;
            }
            steps += 1;
            if entry == NIL || !events.nodes[entry as usize].is_call {
                if !optional_pass {
                    optional_pass = true;
                    entry = events.nodes[0].next;
                    continue;
                }
                // A return reached (or the list ran out) in both passes: undo the last choice.
                let Some((call, previous, pass)) = stack.pop() else {
                    break;
                };
                optional_pass = pass;
                let op = events.nodes[call as usize].op as usize;
                state = previous;
                bits[op / 64] &= !(1 << (op % 64));
                bits_hash ^= zobrist[op];
                events.unlift(call);
                if ops[op].ret != NEVER {
                    done -= 1;
                }
                entry = events.nodes[call as usize].next;
                continue;
            }
            let op = events.nodes[entry as usize].op as usize;
            let earlier = after[op];
            if (run.reductions && (ops[op].ret == NEVER) != optional_pass)
                || (earlier != NIL && bits[earlier as usize / 64] & (1 << (earlier % 64)) == 0)
            {
                // Not this pass's kind, or a look-alike called earlier is still unapplied.
                entry = events.nodes[entry as usize].next;
                continue;
            }
            let next = model.step(&state, ops[op].input, ops[op].output);
            if track == Some(op) {
                record(&mut result.tracked, &state, next.is_some());
            }
            // An op that need never take effect gains nothing by being applied where it leaves
            // the state unchanged: leaving it out (still available later) is at least as good.
            let next = next
                .map(|next| match rename[op] {
                    Some((from, to)) => model.rename_token(&next, from, to),
                    None => next,
                })
                .filter(|next| !run.reductions || ops[op].ret != NEVER || *next != state);
            if let Some(next) = next {
                bits[op / 64] |= 1 << (op % 64);
                bits_hash ^= zobrist[op];
                if cache.insert(&bits, bits_hash, &next) {
                    stack.push((entry, std::mem::replace(&mut state, next), optional_pass));
                    events.lift(entry);
                    if ops[op].ret != NEVER {
                        done += 1;
                    }
                    entry = events.nodes[0].next;
                    optional_pass = !run.reductions;
                    continue;
                }
                bits[op / 64] &= !(1 << (op % 64));
                bits_hash ^= zobrist[op];
            }
            entry = events.nodes[entry as usize].next;
        }
    }
    result.explored = cache.len();
    result
}

/// What the search knows about look-alike unknown-outcome operations.
struct Symmetry {
    /// For each operation, the previously called member of its symmetry class
    /// ([`Model::symmetry_class`]), or [`NIL`]: the search applies a member only after that one.
    after: Vec<u32>,
    /// For each member with a write token: (its token, the canonical token) to rename its
    /// value to after applying it ([`Model::rename_token`]).
    rename: Vec<Option<(u64, u64)>>,
    /// The token every anonymous value is renamed to.
    canonical: Option<u64>,
}

/// Finds the symmetry classes of `ops`. Members are unknown-outcome operations never forced to
/// take effect whose write token (if any) is written once and referenced by no other operation
/// and no start state: their tokens are anonymous, so all of them are renamed to the first one.
fn symmetry<M: Model>(model: &M, ops: &[KeyOp<'_, M>], starts: &[M::State]) -> Symmetry {
    let mut written: HashMap<u64, usize> = HashMap::new();
    let mut mentioned = Vec::new();
    for op in ops {
        if let Some(token) = model.write_token(op.input) {
            *written.entry(token).or_default() += 1;
        }
        model.referenced_tokens(op.input, op.output, &mut mentioned);
    }
    for state in starts {
        model.state_tokens(state, &mut mentioned);
    }
    let mentioned: HashSet<u64> = mentioned.into_iter().collect();
    // (call, history index, position, class, token), sorted: class members in call order.
    let mut members = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.ret != NEVER || op.output.is_some() {
            continue;
        }
        let token = model.write_token(op.input);
        let anonymous = token
            .is_none_or(|token| written.get(&token) == Some(&1) && !mentioned.contains(&token));
        if let (true, Some(class)) = (anonymous, model.symmetry_class(op.input)) {
            members.push((op.call, op.orig, i, class, token));
        }
    }
    members.sort_unstable();
    let canonical = members.iter().find_map(|member| member.4);
    let mut symmetry = Symmetry {
        after: vec![NIL; ops.len()],
        rename: vec![None; ops.len()],
        canonical,
    };
    let mut last: HashMap<(u32, u64), u32> = HashMap::new();
    for (_, _, i, class, token) in members {
        if let Some(previous) = last.insert(class, i as u32) {
            symmetry.after[i] = previous;
        }
        if let (Some(from), Some(to)) = (token, canonical) {
            symmetry.rename[i] = (from != to).then_some((from, to));
        }
    }
    symmetry
}

/// Remembers a state the tracked operation was tried in.
fn record<S: Clone + Eq>(tracked: &mut Vec<(S, bool)>, state: &S, fits: bool) {
    if let Some(seen) = tracked.iter_mut().find(|(s, _)| s == state) {
        seen.1 |= fits;
    } else if tracked.len() < MAX_TRACKED {
        tracked.push((state.clone(), fits));
    }
}
