//! The seam between the generic checker and what is being checked: the [`Model`] trait (a
//! sequential specification plus the hooks the checker needs) and the [`Operation`] record the
//! fault suite writes for every client call.
//!
//! ```text
//!  fault suite ──records──► Vec<Operation<I, O>> ──► check_model(model, …)
//!                                                     │ Model::partition  → one sub-history per key
//!                                                     │ Model::step       → search.rs (WGL)
//!                                                     │ Model::*_token    → history.rs (tightening),
//!                                                     │   symmetry_class  → search.rs (symmetry)
//!                                                     └ Model::describe_* → report.rs
//! ```
//!
//! `kv.rs` holds the concrete model Konsul's suite uses; anything else that can be written as a
//! deterministic state machine over independent partitions can implement this trait too.

use std::fmt::Debug;
use std::hash::Hash;

/// One client call as the fault suite observed it: when it was sent, when (if ever) its answer
/// arrived, what was asked and what came back.
///
/// Times are monotonic nanoseconds since the test started; only their order matters, so any
/// common origin works. An operation whose answer never arrived (timeout, broken connection
/// after the request was sent) has `ret: None` and `output: None`: it may have taken effect at
/// any moment after `call`, or never. An operation with `ret: Some` but `output: None` is
/// treated the same way, because without an outcome its return time proves nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Which client issued it; only shown in reports (one client may have several calls in
    /// flight, the checker does not assume otherwise).
    pub client: u32,
    /// Invocation time: the request was sent at or after this instant.
    pub call: u64,
    /// Response time, `None` when the outcome is unknown. A value below `call` is read as `call`.
    pub ret: Option<u64>,
    /// What the client asked for.
    pub input: I,
    /// What the client was told, `None` when the outcome is unknown.
    pub output: Option<O>,
    /// Free text carried into reports (node, protocol, request id, …); never interpreted.
    pub note: String,
}

/// A sequential specification the checker can search over, split into independent partitions.
///
/// Linearizability is compositional (P-compositionality): if the state is a product of
/// independent parts and every operation touches exactly one part, a history is linearizable
/// iff each part's sub-history is. [`Model::partition`] names that part, which keeps every
/// search small: the cost of the search grows with the concurrency inside one partition, not
/// with the length of the whole history.
pub trait Model {
    /// Names one independent partition (for a KV store: the key).
    type Key: Clone + Ord + Debug;
    /// The state of one partition. Hashed and compared by the memoisation cache, so it should be
    /// small and its `Eq` exact.
    type State: Clone + Eq + Hash + Debug;
    /// What an operation asks for.
    type Input: Clone + Debug;
    /// What an operation was told.
    type Output: Clone + Debug;

    /// The partition `input` touches.
    fn partition(&self, input: &Self::Input) -> Self::Key;

    /// The state of partition `key` before the first operation of the history.
    fn init(&self, key: &Self::Key) -> Self::State;

    /// Applies `input` to `state`: the next state if the operation could have had `output` when
    /// applied in `state`, `None` if that is impossible. `output: None` means the outcome is
    /// unknown, so the step must accept whatever the operation would have produced (it is
    /// `None` only if the operation cannot be applied in `state` at all).
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// True if `input` never changes the state. Such an operation with an unknown outcome
    /// constrains nothing, so the checker drops it before searching.
    fn read_only(&self, _input: &Self::Input) -> bool {
        false
    }

    /// A token that identifies this operation's write uniquely within its partition (for a KV
    /// store with unique values: the value written), or `None` if it writes nothing
    /// identifiable. Used with [`Model::observed_token`] to tighten unknown-outcome writes.
    fn write_token(&self, _input: &Self::Input) -> Option<u64> {
        None
    }

    /// The write token that a completed operation with this `output` proves was in effect when
    /// the operation was applied (a read that returned a value, a CAS that succeeded on an
    /// expected value). The checker then knows that write took effect before this operation
    /// returned. Tokens written by more than one operation are never used this way.
    fn observed_token(&self, _input: &Self::Input, _output: &Self::Output) -> Option<u64> {
        None
    }

    /// Every write token this operation's input or output refers to, *other* than the one it
    /// writes itself (a CAS's expected value, a read's result). Together with
    /// [`Model::state_tokens`] this tells the search which written values nobody ever mentions.
    fn referenced_tokens(
        &self,
        _input: &Self::Input,
        _output: Option<&Self::Output>,
        _out: &mut Vec<u64>,
    ) {
    }

    /// Every write token `state` refers to (a start state holding some write's value).
    fn state_tokens(&self, _state: &Self::State, _out: &mut Vec<u64>) {}

    /// Symmetry class of an operation with an unknown outcome that will never be forced to take
    /// effect, or `None`. Two operations of one class must have effects identical up to renaming
    /// their own write tokens: from any state, applying either gives states that differ only
    /// in which of the two tokens they hold. The search asks only about operations whose write
    /// token (if any) is written once and referenced by nothing else, and then linearizes the
    /// members of a class strictly in call order, which is sound: in any valid order, members
    /// can be swapped for earlier-called ones without changing a single outcome, provided
    /// [`Model::step`] treats tokens nobody references alike (it may compare a state's token
    /// only with referenced ones, as a KV register does). This turns
    /// the 2^k subsets of k pending look-alike operations (timed-out puts of values nobody
    /// read, timed-out deletes) into k + 1 choices.
    fn symmetry_class(&self, _input: &Self::Input) -> Option<(u32, u64)> {
        None
    }

    /// `state` with write token `from` replaced by `to`. Both are tokens nobody references, so
    /// the result is interchangeable with `state` for the rest of the history; the search uses
    /// this to give every such state one canonical form, so its cache sees them as one. The
    /// default (no renaming) is always correct, only slower.
    fn rename_token(&self, state: &Self::State, _from: u64, _to: u64) -> Self::State {
        state.clone()
    }

    /// A superset of the states partition `key` could be in after any ordering of the
    /// operations whose inputs are `earlier` (each may or may not have taken effect), starting
    /// from [`Model::init`]. The window search (`window.rs`) starts a cut-off tail of the
    /// history from each of these; too few states would make the window claim more than the
    /// history proves, too many only makes the window longer.
    fn plausible_states(&self, key: &Self::Key, earlier: &[&Self::Input]) -> Vec<Self::State>;

    /// How reports print a key.
    fn describe_key(&self, key: &Self::Key) -> String {
        format!("{key:?}")
    }

    /// How reports print an input.
    fn describe_input(&self, input: &Self::Input) -> String {
        format!("{input:?}")
    }

    /// How reports print an output; `None` is an unknown outcome.
    fn describe_output(&self, output: Option<&Self::Output>) -> String {
        match output {
            Some(output) => format!("{output:?}"),
            None => "?".to_owned(),
        }
    }

    /// How reports print a state.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
