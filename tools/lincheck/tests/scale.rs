//! Histories of the size the fault suite produces: speed on linearizable ones, the budget on a
//! hard one, and the report's window on a long history with one injected anomaly.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Rng, Shape, done, get, linearizable_history, put, val};
use konsul_lincheck::{Input, Op, Output, Verdict, check};

fn suite_sized() -> Vec<Op> {
    linearizable_history(&Shape {
        seed: 0x5eed_0001,
        ops: 2_000,
        keys: 3,
        clients: 5,
        unknown: 12,
    })
}

/// A suite-sized history (2,000 operations) is checked well within its budget; the time it
/// took is printed, not asserted (speed is not a test's business), while running out of the
/// budget would fail the verdict.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the test prints real checking time"
)]
fn large_random_history_is_linearizable_within_its_budget() {
    let history = suite_sized();
    let unknown = history.iter().filter(|op| op.ret.is_none()).count();
    assert!(unknown >= 12, "generator lost its unknown ops: {unknown}");
    let started = Instant::now();
    let report = check(&history, &HashMap::new(), Duration::from_secs(10));
    let took = started.elapsed();
    eprintln!("2,000 ops / 3 keys / 5 clients / {unknown} unknown: checked in {took:?}");
    eprintln!("{}", report.render());
    assert_eq!(
        report.verdict(),
        Verdict::Linearizable,
        "{}",
        report.render()
    );
    assert_eq!(report.ops_total(), 2_000);
    assert_eq!(report.keys().len(), 3);
}

#[test]
fn random_histories_with_many_unknown_outcomes_are_linearizable() {
    for seed in 0..8 {
        let history = linearizable_history(&Shape {
            seed,
            ops: 400,
            keys: 2,
            clients: 6,
            unknown: 25,
        });
        let report = check(&history, &HashMap::new(), Duration::from_secs(10));
        assert_eq!(
            report.verdict(),
            Verdict::Linearizable,
            "seed {seed}\n{}",
            report.render()
        );
    }
}

#[test]
fn tiny_budget_on_a_hard_history_times_out() {
    // 22 overlapping writes then a read of a value nobody wrote: proving that needs every
    // subset of the writes, millions of configurations.
    let mut history: Vec<Op> = (0..22)
        .map(|i| done(i, 0, 10, put("k", u64::from(i) + 1), Output::Ok))
        .collect();
    history.push(done(99, 20, 21, get("k"), val(1_000)));
    let report = check(&history, &HashMap::new(), Duration::from_millis(5));
    assert_eq!(report.verdict(), Verdict::TimedOut, "{}", report.render());
    assert!(!report.is_linearizable());
    assert_eq!(report.timed_out_keys(), vec!["k"]);
    assert!(report.violations().is_empty());
    assert!(report.render().contains("TIMED OUT"));
}

#[test]
fn report_window_of_an_injected_stale_read_is_short() {
    let mut history = linearizable_history(&Shape {
        seed: 0x5eed_0002,
        ops: 800,
        keys: 1,
        clients: 5,
        unknown: 6,
    });
    let stale = inject_stale_read(&mut history);
    let report = check(&history, &HashMap::new(), Duration::from_secs(10));
    let text = report.render();
    eprintln!("{text}");
    assert_eq!(report.verdict(), Verdict::Violation, "{text}");
    let v = &report.violations()[0];
    assert_eq!(v.failing_op, Some(stale), "{text}");
    assert!(v.window_found, "{text}");
    assert!(v.window.iter().any(|row| row.failing && row.op == stale));
    assert!(
        v.window.len() < 30 && v.window.len() < v.prefix_ops,
        "window of {} ops in a prefix of {}\n{text}",
        v.window.len(),
        v.prefix_ops
    );
    assert!(text.contains(&format!("failing op: #{stale}")), "{text}");
    // Rows are in call order.
    assert!(v.window.windows(2).all(|w| w[0].call <= w[1].call));
}

/// Rewrites one of the last reads to return a value overwritten before it was called: the
/// write of that value returned before another write was called, which returned before the
/// read was called. Returns the read's index.
fn inject_stale_read(history: &mut [Op]) -> usize {
    let acked_write = |op: &Op| {
        matches!(
            (&op.input, &op.output),
            (Input::Put { .. }, Some(Output::Ok)) | (Input::Cas { .. }, Some(Output::CasOk))
        )
    };
    let mut rng = Rng(7);
    let mut reads: Vec<usize> = (history.len() - 60..history.len())
        .filter(|&i| matches!(history[i].input, Input::Get { .. }) && history[i].ret.is_some())
        .collect();
    reads.sort_by_key(|&i| std::cmp::Reverse(history[i].call));
    let read = reads[rng.below(4) as usize];
    let before = |t: u64| {
        (0..history.len())
            .filter(|&i| acked_write(&history[i]) && history[i].ret.is_some_and(|r| r < t))
            .max_by_key(|&i| history[i].ret)
    };
    let newer = before(history[read].call).expect("a write before the read");
    let older = before(history[newer].call).expect("a write before that one");
    let value = match history[older].input {
        Input::Put { value, .. } | Input::Cas { value, .. } => value,
        _ => unreachable!("acked writes are puts or CAS"),
    };
    history[read].output = Some(Output::Value(Some(value)));
    history[read].note = "injected stale read".to_owned();
    read
}

#[test]
fn check_is_deterministic() {
    let history = suite_sized();
    let a = check(&history, &HashMap::new(), Duration::from_secs(10));
    let b = check(&history, &HashMap::new(), Duration::from_secs(10));
    let explored = |r: &konsul_lincheck::Report<String>| {
        r.keys().iter().map(|k| k.explored).collect::<Vec<_>>()
    };
    assert_eq!(explored(&a), explored(&b));
}

#[test]
fn violation_is_found_among_many_unknown_outcomes() {
    // What a partition-heavy run looks like: 5% of the calls time out, most of them pending
    // "forever", and one late read returns the key's very first value.
    let mut history = linearizable_history(&Shape {
        seed: 0,
        ops: 2_000,
        keys: 3,
        clients: 5,
        unknown: 100,
    });
    let report = check(&history, &HashMap::new(), Duration::from_secs(30));
    assert_eq!(
        report.verdict(),
        Verdict::Linearizable,
        "{}",
        report.render()
    );
    let read = (0..history.len())
        .rev()
        .find(|&i| matches!(history[i].input, Input::Get { .. }) && history[i].ret.is_some())
        .expect("a completed read");
    let key = history[read].input.key().to_owned();
    let first = history
        .iter()
        .find_map(|op| match (&op.input, &op.output) {
            (Input::Put { key: k, value }, Some(Output::Ok)) if *k == key => Some(*value),
            _ => None,
        })
        .expect("an acknowledged put");
    history[read].output = Some(Output::Value(Some(first)));
    let report = check(&history, &HashMap::new(), Duration::from_secs(30));
    assert_eq!(report.verdict(), Verdict::Violation, "{}", report.render());
    assert_eq!(report.violating_keys(), vec![&key]);
    assert_eq!(report.violations()[0].failing_op, Some(read));
}
