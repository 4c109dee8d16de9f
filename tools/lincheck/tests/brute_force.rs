//! Cross-checks the checker against a brute-force search on thousands of small random
//! histories: the verdict must match exactly (no false alarms, no misses), and for violations
//! the reported failing operation must end the shortest failing prefix.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Rng, apply};
use konsul_lincheck::{Input, KvModel, Model, Op, Output, Verdict, check};

/// Every order of the ops consistent with real time (touching intervals are concurrent),
/// unknown-outcome ops placed anywhere after their call or left out, replayed on the model.
fn brute_force(model: &KvModel, ops: &[Op]) -> bool {
    let mut keys: Vec<&str> = ops.iter().map(|op| op.input.key()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter().all(|key| {
        let sub: Vec<&Op> = ops.iter().filter(|op| op.input.key() == key).collect();
        let all = (1u32 << sub.len()) - 1;
        explore(model, &sub, all, model.init(&key.to_owned()))
    })
}

fn known(op: &Op) -> Option<(u64, &Output)> {
    Some((op.ret?, op.output.as_ref()?))
}

fn explore(model: &KvModel, ops: &[&Op], left: u32, state: Option<u64>) -> bool {
    let pending = |i: usize| left & (1 << i) != 0;
    if !(0..ops.len()).any(|i| pending(i) && known(ops[i]).is_some()) {
        return true;
    }
    (0..ops.len()).filter(|&i| pending(i)).any(|x| {
        let blocked = (0..ops.len()).any(|y| {
            y != x && pending(y) && known(ops[y]).is_some_and(|(ret, _)| ret < ops[x].call)
        });
        let output = known(ops[x]).map(|(_, output)| output);
        !blocked
            && model
                .step(&state, &ops[x].input, output)
                .is_some_and(|next| explore(model, ops, left & !(1 << x), next))
    })
}

/// A small history: simulated on a register (so linearizable), then often one outcome is
/// replaced by a random one.
fn small_history(rng: &mut Rng, max_ops: u64, unknown_in_5: u64) -> Vec<Op> {
    let n = 3 + rng.below(max_ops - 2) as usize;
    let keys = ["k", "j"];
    let mut next_value = 0;
    let mut ops: Vec<(Op, Option<u64>)> = (0..n)
        .map(|i| {
            let key = keys[usize::from(rng.below(3) == 0)].to_owned();
            next_value += 1;
            let recent = |rng: &mut Rng| match rng.below(3) {
                0 => None,
                _ => Some(100 + rng.below(next_value)),
            };
            let input = match rng.below(4) {
                0 => Input::Put {
                    key,
                    value: 100 + next_value,
                },
                1 => Input::Get { key },
                2 => Input::Cas {
                    key,
                    expect: recent(rng),
                    value: 100 + next_value,
                },
                _ => Input::Delete { key },
            };
            let call = rng.below(12);
            let took = rng.below(6);
            let unknown = rng.below(5) < unknown_in_5;
            let lp = match (unknown, rng.below(3)) {
                (true, 0) => None,
                (true, _) => Some(call * 10 + rng.below(100)),
                (false, _) => Some(call * 10 + rng.below(took * 10 + 1)),
            };
            let op = Op {
                client: i as u32,
                call: call * 10,
                ret: (!unknown).then_some((call + took) * 10),
                input,
                output: None,
                note: String::new(),
            };
            (op, lp)
        })
        .collect();
    let mut order: Vec<usize> = (0..n).filter(|&i| ops[i].1.is_some()).collect();
    order.sort_by_key(|&i| (ops[i].1, i));
    let mut state: HashMap<String, Option<u64>> = HashMap::from([("k".to_owned(), Some(100))]);
    for i in order {
        let op = &mut ops[i].0;
        let output = apply(
            state.entry(op.input.key().to_owned()).or_default(),
            &op.input,
        );
        if op.ret.is_some() {
            op.output = Some(output);
        }
    }
    let mut ops: Vec<Op> = ops.into_iter().map(|(op, _)| op).collect();
    if rng.below(3) != 0 {
        let i = rng.below(n as u64) as usize;
        if ops[i].output.is_some() {
            ops[i].output = Some(match &ops[i].input {
                Input::Put { .. } => Output::Ok,
                Input::Get { .. } => Output::Value(
                    [None, Some(100 + rng.below(n as u64 + 1))][rng.below(2) as usize],
                ),
                Input::Cas { .. } => [Output::CasOk, Output::CasConflict, Output::CasNotFound]
                    [rng.below(3) as usize]
                    .clone(),
                Input::Delete { .. } => {
                    Output::Deleted([None, Some(true), Some(false)][rng.below(3) as usize])
                }
            });
        }
    }
    ops
}

/// The history as it stood when op `f` returned, with `f` itself returned or still pending.
fn truncated(ops: &[Op], f: usize, f_returned: bool) -> Vec<Op> {
    let Some(cut) = ops[f].ret.map(|r| (r, f)) else {
        return Vec::new();
    };
    ops.iter()
        .enumerate()
        .filter(|(_, op)| op.call <= cut.0)
        .map(|(i, op)| {
            let mut op = op.clone();
            let later = op.ret.is_some_and(|r| (r, i) > cut) || (i == f && !f_returned);
            if later {
                op.ret = None;
                op.output = None;
            }
            op
        })
        .collect()
}

/// Checks `rounds` random histories against the brute force; returns (linearizable, not).
fn cross_check(seed: u64, rounds: usize, max_ops: u64, unknown_in_5: u64) -> (usize, usize) {
    let initial = HashMap::from([("k".to_owned(), Some(100))]);
    let model = KvModel::new(initial.clone());
    let mut rng = Rng(seed);
    let (mut ok, mut bad) = (0, 0);
    for round in 0..rounds {
        let ops = small_history(&mut rng, max_ops, unknown_in_5);
        let expected = brute_force(&model, &ops);
        let report = check(&ops, &initial, Duration::from_secs(5));
        let context = || format!("round {round}: {ops:#?}\n{}", report.render());
        let verdict = if expected {
            Verdict::Linearizable
        } else {
            Verdict::Violation
        };
        assert_eq!(report.verdict(), verdict, "{}", context());
        if expected {
            ok += 1;
            continue;
        }
        bad += 1;
        for v in report.violations() {
            let f = v
                .failing_op
                .unwrap_or_else(|| panic!("no failing op: {}", context()));
            assert!(v.prefix_shortest, "{}", context());
            assert!(v.window.iter().any(|row| row.failing && row.op == f));
            let key = ops[f].input.key();
            let on_key: Vec<Op> = ops
                .iter()
                .filter(|op| op.input.key() == key)
                .cloned()
                .collect();
            let fk = ops[..f].iter().filter(|op| op.input.key() == key).count();
            let failing = truncated(&on_key, fk, true);
            let before = truncated(&on_key, fk, false);
            assert!(!brute_force(&model, &failing), "{}", context());
            assert!(brute_force(&model, &before), "{}", context());
        }
    }
    (ok, bad)
}

#[test]
fn agrees_with_brute_force_on_small_random_histories() {
    let (ok, bad) = cross_check(0xb007, 3_000, 7, 1);
    assert!(
        ok > 500 && bad > 500,
        "unbalanced sample: {ok} ok, {bad} violations"
    );
}

#[test]
fn agrees_with_brute_force_when_half_the_outcomes_are_unknown() {
    let (ok, bad) = cross_check(0xb008, 4_000, 9, 2);
    assert!(
        ok > 1_000 && bad > 400,
        "unbalanced sample: {ok} ok, {bad} violations"
    );
}
