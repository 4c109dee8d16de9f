//! The concrete model Konsul's fault suite checks against: one register per key holding the
//! last value written (or nothing), with put / get / CAS / delete.
//!
//! ```text
//!  fault suite ──Vec<Op>──► check() ──► KvModel (this file) ──► search.rs per key
//! ```
//!
//! The suite writes a value no other write uses, so a key's value identifies the write that
//! produced it. That makes Konsul's CAS on `modify_index` ("the key was last written by the
//! write at index N") the same thing as "the key's current value is v", and it lets the
//! checker tie an observed value back to its one writer (see [`Model::write_token`]).

use std::collections::HashMap;
use std::fmt;

use crate::model::{Model, Operation};

/// One recorded KV call, as the suite writes it.
pub type Op = Operation<Input, Output>;

/// What a KV call asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Unconditional write of `value`.
    Put {
        /// The key written.
        key: String,
        /// A value no other write in the history uses.
        value: u64,
    },
    /// Read of the current value (a linearizable read: the suite records only those).
    Get {
        /// The key read.
        key: String,
    },
    /// Compare-and-swap: write `value` iff the key is currently at `expect` (`None`: only if
    /// the key is absent, i.e. create-only).
    Cas {
        /// The key written.
        key: String,
        /// The value (hence write) the key must currently hold; `None` = must be absent.
        expect: Option<u64>,
        /// A value no other write in the history uses.
        value: u64,
    },
    /// Removal of the key.
    Delete {
        /// The key removed.
        key: String,
    },
}

impl Input {
    /// The key this call touches: the partition it belongs to.
    pub fn key(&self) -> &str {
        match self {
            Input::Put { key, .. }
            | Input::Get { key }
            | Input::Cas { key, .. }
            | Input::Delete { key } => key,
        }
    }
}

/// What a KV call was told.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// A put was acknowledged.
    Ok,
    /// A get returned this value (`None`: the key was absent).
    Value(Option<u64>),
    /// A CAS succeeded and wrote its value.
    CasOk,
    /// A CAS failed because the key exists with another value (create-only: exists at all).
    CasConflict,
    /// A CAS with an expected value failed because the key is absent.
    CasNotFound,
    /// A delete was acknowledged: `Some(existed)` if the server said whether the key was
    /// there, `None` if the client did not learn it.
    Deleted(Option<bool>),
}

/// Konsul's KV store as a [`Model`]: each key is an independent register whose state is
/// `Option<u64>` (`None` = absent), starting from a caller-given value.
///
/// The suite checks its run in rounds, each starting from what strong reads saw at the end of
/// the previous round, hence the per-key initial states.
#[derive(Clone, Debug, Default)]
pub struct KvModel {
    initial: HashMap<String, Option<u64>>,
}

impl KvModel {
    /// A model whose keys start as in `initial`; keys not listed start absent.
    pub fn new(initial: HashMap<String, Option<u64>>) -> Self {
        KvModel { initial }
    }
}

impl Model for KvModel {
    type Key = String;
    type State = Option<u64>;
    type Input = Input;
    type Output = Output;

    fn partition(&self, input: &Input) -> String {
        input.key().to_owned()
    }

    fn init(&self, key: &String) -> Option<u64> {
        self.initial.get(key).copied().flatten()
    }

    fn step(
        &self,
        state: &Option<u64>,
        input: &Input,
        output: Option<&Output>,
    ) -> Option<Option<u64>> {
        match (input, output) {
            (Input::Put { value, .. }, None | Some(Output::Ok)) => Some(Some(*value)),
            (Input::Get { .. }, None) => Some(*state),
            (Input::Get { .. }, Some(Output::Value(seen))) => (seen == state).then_some(*state),
            (Input::Cas { expect, value, .. }, output) => cas_step(*state, *expect, *value, output),
            (Input::Delete { .. }, None | Some(Output::Deleted(None))) => Some(None),
            (Input::Delete { .. }, Some(Output::Deleted(Some(existed)))) => {
                (*existed == state.is_some()).then_some(None)
            }
            // An output of the wrong kind for the call can never be explained.
            _ => None,
        }
    }

    fn read_only(&self, input: &Input) -> bool {
        matches!(input, Input::Get { .. })
    }

    fn write_token(&self, input: &Input) -> Option<u64> {
        match input {
            Input::Put { value, .. } | Input::Cas { value, .. } => Some(*value),
            Input::Get { .. } | Input::Delete { .. } => None,
        }
    }

    fn observed_token(&self, input: &Input, output: &Output) -> Option<u64> {
        match (input, output) {
            (Input::Get { .. }, Output::Value(Some(value))) => Some(*value),
            (
                Input::Cas {
                    expect: Some(value),
                    ..
                },
                Output::CasOk,
            ) => Some(*value),
            _ => None,
        }
    }

    fn referenced_tokens(&self, input: &Input, output: Option<&Output>, out: &mut Vec<u64>) {
        if let Input::Cas {
            expect: Some(value),
            ..
        } = input
        {
            out.push(*value);
        }
        if let Some(Output::Value(Some(value))) = output {
            out.push(*value);
        }
    }

    fn state_tokens(&self, state: &Option<u64>, out: &mut Vec<u64>) {
        out.extend(*state);
    }

    fn symmetry_class(&self, input: &Input) -> Option<(u32, u64)> {
        // A written value nobody mentions only ever shows as "the key exists with some value
        // nobody expects": puts (and CAS with one expectation) are interchangeable, and so are
        // deletes, which carry no value at all.
        Some(match input {
            Input::Put { .. } => (0, 0),
            Input::Delete { .. } => (1, 0),
            Input::Cas { expect: None, .. } => (2, 0),
            Input::Cas {
                expect: Some(expect),
                ..
            } => (3, *expect),
            Input::Get { .. } => return None,
        })
    }

    fn rename_token(&self, state: &Option<u64>, from: u64, to: u64) -> Option<u64> {
        if *state == Some(from) {
            Some(to)
        } else {
            *state
        }
    }

    fn plausible_states(&self, key: &String, earlier: &[&Input]) -> Vec<Option<u64>> {
        let mut states = vec![self.init(key)];
        if states[0].is_some() {
            states.push(None);
        }
        for input in earlier {
            if let Some(value) = self.write_token(input) {
                states.push(Some(value));
            }
        }
        states.sort_unstable();
        states.dedup();
        states
    }

    fn describe_key(&self, key: &String) -> String {
        key.clone()
    }

    fn describe_input(&self, input: &Input) -> String {
        input.to_string()
    }

    fn describe_output(&self, output: Option<&Output>) -> String {
        match output {
            Some(output) => output.to_string(),
            None => "?".to_owned(),
        }
    }

    fn describe_state(&self, state: &Option<u64>) -> String {
        value_text(*state)
    }
}

/// The CAS rule: applies iff the key holds `expect` (absent for `None`); an unknown outcome
/// applies exactly when the condition holds.
fn cas_step(
    state: Option<u64>,
    expect: Option<u64>,
    value: u64,
    output: Option<&Output>,
) -> Option<Option<u64>> {
    let holds = state == expect;
    match output {
        None => Some(if holds { Some(value) } else { state }),
        Some(Output::CasOk) => holds.then_some(Some(value)),
        Some(Output::CasConflict) => (!holds && state.is_some()).then_some(state),
        Some(Output::CasNotFound) => (expect.is_some() && state.is_none()).then_some(state),
        Some(_) => None,
    }
}

/// A register value as reports print it.
fn value_text(value: Option<u64>) -> String {
    match value {
        Some(value) => value.to_string(),
        None => "absent".to_owned(),
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Put { key, value } => write!(f, "put({key}, {value})"),
            Input::Get { key } => write!(f, "get({key})"),
            Input::Cas { key, expect, value } => {
                write!(f, "cas({key}, {} -> {value})", value_text(*expect))
            }
            Input::Delete { key } => write!(f, "delete({key})"),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Ok => f.write_str("ok"),
            Output::Value(value) => f.write_str(&value_text(*value)),
            Output::CasOk => f.write_str("cas ok"),
            Output::CasConflict => f.write_str("cas conflict"),
            Output::CasNotFound => f.write_str("cas not found"),
            Output::Deleted(Some(true)) => f.write_str("deleted (existed)"),
            Output::Deleted(Some(false)) => f.write_str("deleted (was absent)"),
            Output::Deleted(None) => f.write_str("deleted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cas(expect: Option<u64>) -> Input {
        Input::Cas {
            key: "k".into(),
            expect,
            value: 9,
        }
    }

    #[test]
    fn cas_outcomes_follow_the_condition() {
        let m = KvModel::default();
        let ok = Some(&Output::CasOk);
        let conflict = Some(&Output::CasConflict);
        let missing = Some(&Output::CasNotFound);
        // Create-only.
        assert_eq!(m.step(&None, &cas(None), ok), Some(Some(9)));
        assert_eq!(m.step(&Some(1), &cas(None), ok), None);
        assert_eq!(m.step(&Some(1), &cas(None), conflict), Some(Some(1)));
        assert_eq!(m.step(&None, &cas(None), conflict), None);
        assert_eq!(m.step(&None, &cas(None), missing), None);
        // Expecting a value.
        assert_eq!(m.step(&Some(1), &cas(Some(1)), ok), Some(Some(9)));
        assert_eq!(m.step(&Some(2), &cas(Some(1)), ok), None);
        assert_eq!(m.step(&Some(2), &cas(Some(1)), conflict), Some(Some(2)));
        assert_eq!(m.step(&Some(1), &cas(Some(1)), conflict), None);
        assert_eq!(m.step(&None, &cas(Some(1)), missing), Some(None));
        assert_eq!(m.step(&None, &cas(Some(1)), conflict), None);
        // Unknown outcome: applies iff the condition holds.
        assert_eq!(m.step(&Some(1), &cas(Some(1)), None), Some(Some(9)));
        assert_eq!(m.step(&Some(2), &cas(Some(1)), None), Some(Some(2)));
        assert_eq!(m.step(&None, &cas(None), None), Some(Some(9)));
    }

    #[test]
    fn delete_checks_existence_only_when_reported() {
        let m = KvModel::default();
        let del = Input::Delete { key: "k".into() };
        let existed = Output::Deleted(Some(true));
        let absent = Output::Deleted(Some(false));
        assert_eq!(m.step(&Some(1), &del, Some(&existed)), Some(None));
        assert_eq!(m.step(&None, &del, Some(&existed)), None);
        assert_eq!(m.step(&None, &del, Some(&absent)), Some(None));
        assert_eq!(m.step(&Some(1), &del, Some(&absent)), None);
        assert_eq!(
            m.step(&Some(1), &del, Some(&Output::Deleted(None))),
            Some(None)
        );
        assert_eq!(m.step(&Some(1), &del, Some(&Output::Ok)), None);
    }

    #[test]
    fn tokens_tie_reads_to_writes() {
        let m = KvModel::default();
        let get = Input::Get { key: "k".into() };
        assert_eq!(m.observed_token(&get, &Output::Value(Some(4))), Some(4));
        assert_eq!(m.observed_token(&get, &Output::Value(None)), None);
        assert_eq!(m.observed_token(&cas(Some(4)), &Output::CasOk), Some(4));
        assert_eq!(m.observed_token(&cas(Some(4)), &Output::CasConflict), None);
        assert_eq!(m.write_token(&cas(Some(4))), Some(9));
        assert_eq!(
            m.plausible_states(&"k".into(), &[&cas(None)]),
            vec![None, Some(9)]
        );
    }
}
