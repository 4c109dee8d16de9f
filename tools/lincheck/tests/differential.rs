//! Cross-checks the search reductions (symmetry, renaming, no-op skipping, subsumption) against
//! the plain WGL search on histories too long for brute force but full of unknown outcomes:
//! verdict, failing operation and window must all be the same.

mod common;

use std::time::Duration;

use common::{Rng, Shape, linearizable_history};
use konsul_lincheck::{Input, KvModel, Op, Options, Output, Verdict, check_model};

/// Replaces one known outcome with a random, often impossible, one.
fn mutate(history: &mut [Op], rng: &mut Rng) {
    let known: Vec<usize> = (0..history.len())
        .filter(|&i| history[i].output.is_some())
        .collect();
    let i = known[rng.below(known.len() as u64) as usize];
    let written: Vec<u64> = history
        .iter()
        .filter_map(|op| match op.input {
            Input::Put { value, .. } | Input::Cas { value, .. } => Some(value),
            _ => None,
        })
        .collect();
    let some_value = written[rng.below(written.len() as u64) as usize];
    let outcome = rng.below(3);
    history[i].output = Some(match history[i].input {
        Input::Put { .. } => Output::Ok,
        Input::Get { .. } => Output::Value((outcome != 0).then_some(some_value)),
        Input::Cas { .. } => {
            [Output::CasOk, Output::CasConflict, Output::CasNotFound][outcome as usize].clone()
        }
        Input::Delete { .. } => Output::Deleted([None, Some(true), Some(false)][outcome as usize]),
    });
}

#[test]
fn reductions_agree_with_plain_wgl_on_medium_histories() {
    let model = KvModel::default();
    let mut rng = Rng(0xd1ff);
    let with = Options::new(Duration::from_secs(20));
    let without = Options {
        reductions: false,
        ..with
    };
    let (mut ok, mut bad) = (0, 0);
    for seed in 0..300 {
        let mut history = linearizable_history(&Shape {
            seed,
            ops: 24 + rng.below(16) as usize,
            keys: 1,
            clients: 5,
            unknown: 6 + rng.below(6) as usize,
        });
        if rng.below(3) != 0 {
            mutate(&mut history, &mut rng);
        }
        let fast = check_model(&model, &history, &with);
        let plain = check_model(&model, &history, &without);
        let context = || format!("seed {seed}\n{}\n{}", fast.render(), plain.render());
        assert_ne!(plain.verdict(), Verdict::TimedOut, "{}", context());
        assert_eq!(fast.verdict(), plain.verdict(), "{}", context());
        if fast.verdict() == Verdict::Linearizable {
            ok += 1;
            continue;
        }
        bad += 1;
        let (f, p) = (&fast.violations()[0], &plain.violations()[0]);
        assert_eq!(f.failing_op, p.failing_op, "{}", context());
        assert_eq!(f.prefix_ops, p.prefix_ops, "{}", context());
        assert_eq!(f.window, p.window, "{}", context());
    }
    assert!(
        ok > 50 && bad > 50,
        "unbalanced sample: {ok} ok, {bad} violations"
    );
}
