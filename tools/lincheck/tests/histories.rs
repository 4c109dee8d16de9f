//! Hand-made histories with a known answer: the anomalies the fault suite hunts for (stale and
//! lost reads, double applies, broken CAS) must be reported, and the ways a correct cluster can
//! look odd (concurrent orders, unknown outcomes taking effect or not) must not be.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{cas, del, done, get, lost, put, val};
use konsul_lincheck::{Op, Output, Report, Verdict, check};

fn run(history: &[Op]) -> Report<String> {
    run_from(history, &HashMap::new())
}

fn run_from(history: &[Op], initial: &HashMap<String, Option<u64>>) -> Report<String> {
    check(history, initial, Duration::from_secs(5))
}

fn assert_ok(history: &[Op]) {
    let report = run(history);
    assert_eq!(
        report.verdict(),
        Verdict::Linearizable,
        "{}",
        report.render()
    );
}

/// Asserts a violation on key `k` and that the report names `failing` as the failing op.
fn assert_violation(history: &[Op], failing: usize) -> Report<String> {
    let report = run(history);
    assert_eq!(report.verdict(), Verdict::Violation, "{}", report.render());
    assert_eq!(report.violating_keys(), vec!["k"]);
    assert_eq!(
        report.violations()[0].failing_op,
        Some(failing),
        "{}",
        report.render()
    );
    report
}

#[test]
fn sequential_history_is_linearizable() {
    assert_ok(&[
        done(1, 0, 1, get("k"), Output::Value(None)),
        done(1, 2, 3, put("k", 1), Output::Ok),
        done(2, 4, 5, get("k"), val(1)),
        done(2, 6, 7, cas("k", Some(1), 2), Output::CasOk),
        done(3, 8, 9, cas("k", Some(1), 3), Output::CasConflict),
        done(3, 10, 11, cas("k", None, 4), Output::CasConflict),
        done(1, 12, 13, del("k"), Output::Deleted(Some(true))),
        done(1, 14, 15, cas("k", Some(2), 5), Output::CasNotFound),
        done(2, 16, 17, del("k"), Output::Deleted(Some(false))),
        done(2, 18, 19, cas("k", None, 6), Output::CasOk),
        done(3, 20, 21, get("k"), val(6)),
    ]);
}

#[test]
fn concurrent_writes_may_be_seen_in_either_order() {
    // put(1) and put(2) overlap; one reader sees 1 then 2, another 2 only: order put(1), put(2).
    assert_ok(&[
        done(1, 0, 10, put("k", 1), Output::Ok),
        done(2, 0, 10, put("k", 2), Output::Ok),
        done(3, 1, 2, get("k"), val(1)),
        done(3, 3, 4, get("k"), val(2)),
        done(4, 11, 12, get("k"), val(2)),
    ]);
    // The opposite order is just as valid.
    assert_ok(&[
        done(1, 0, 10, put("k", 1), Output::Ok),
        done(2, 0, 10, put("k", 2), Output::Ok),
        done(3, 1, 2, get("k"), val(2)),
        done(4, 11, 12, get("k"), val(1)),
    ]);
    // Intervals that merely touch count as concurrent.
    assert_ok(&[
        done(1, 0, 5, put("k", 1), Output::Ok),
        done(2, 5, 6, get("k"), Output::Value(None)),
    ]);
}

#[test]
fn stale_read_is_a_violation() {
    let history = [
        done(1, 0, 1, put("k", 1), Output::Ok),
        done(1, 2, 3, put("k", 2), Output::Ok),
        done(2, 4, 5, get("k"), val(1)),
    ];
    let report = assert_violation(&history, 2);
    let v = &report.violations()[0];
    assert_eq!(v.states_before, vec![("2".to_owned(), false)]);
    assert!(
        report.render().contains("failing op: #2"),
        "{}",
        report.render()
    );
}

#[test]
fn lost_write_is_a_violation() {
    assert_violation(
        &[
            done(1, 0, 1, put("k", 1), Output::Ok),
            done(2, 2, 3, put("k", 2), Output::Ok),
            done(3, 4, 5, get("k"), val(1)),
            done(3, 6, 7, get("k"), val(1)),
        ],
        2,
    );
}

#[test]
fn double_applied_write_is_a_violation() {
    assert_violation(
        &[
            done(1, 0, 1, put("k", 1), Output::Ok),
            done(1, 2, 3, put("k", 2), Output::Ok),
            done(2, 4, 5, get("k"), val(2)),
            done(2, 6, 7, get("k"), val(1)),
        ],
        3,
    );
}

#[test]
fn two_cas_with_the_same_expectation_cannot_both_succeed() {
    assert_violation(
        &[
            done(1, 0, 1, put("k", 1), Output::Ok),
            done(2, 2, 10, cas("k", Some(1), 2), Output::CasOk),
            done(3, 2, 11, cas("k", Some(1), 3), Output::CasOk),
        ],
        2,
    );
}

#[test]
fn cas_conflict_without_an_intervening_write_is_a_violation() {
    assert_violation(
        &[
            done(1, 0, 1, put("k", 1), Output::Ok),
            done(2, 2, 3, cas("k", Some(1), 2), Output::CasConflict),
        ],
        1,
    );
}

#[test]
fn cas_conflict_explained_by_an_unknown_write_is_linearizable() {
    assert_ok(&[
        done(1, 0, 1, put("k", 1), Output::Ok),
        lost(3, 2, put("k", 7)),
        done(2, 4, 5, cas("k", Some(1), 2), Output::CasConflict),
        // A create-only CAS conflicting on an otherwise absent key is explained the same way.
        done(2, 6, 7, del("k"), Output::Deleted(Some(true))),
        lost(3, 8, cas("k", None, 8)),
        done(2, 9, 10, cas("k", None, 9), Output::CasConflict),
    ]);
}

#[test]
fn unknown_write_later_observed_is_linearizable() {
    assert_ok(&[
        done(1, 0, 1, put("k", 1), Output::Ok),
        lost(2, 2, put("k", 2)),
        done(3, 3, 4, get("k"), val(1)),
        done(3, 50, 51, get("k"), val(2)),
        done(3, 52, 53, cas("k", Some(2), 3), Output::CasOk),
    ]);
}

#[test]
fn unknown_write_never_observed_is_linearizable() {
    assert_ok(&[
        done(1, 0, 1, put("k", 1), Output::Ok),
        lost(2, 2, put("k", 2)),
        lost(2, 3, cas("k", Some(1), 4)),
        lost(2, 4, del("k")),
        done(3, 5, 6, get("k"), val(1)),
        done(3, 7, 8, get("k"), val(1)),
    ]);
}

#[test]
fn observed_unknown_write_cannot_reappear_after_being_overwritten() {
    // put(2) must have taken effect before the first read returned, so before put(3) was
    // called: reading 2 after put(3) is stale.
    assert_violation(
        &[
            lost(1, 0, put("k", 2)),
            done(2, 1, 2, get("k"), val(2)),
            done(2, 3, 4, put("k", 3), Output::Ok),
            done(2, 5, 6, get("k"), val(2)),
        ],
        3,
    );
}

#[test]
fn read_of_a_value_never_written_is_a_violation() {
    assert_violation(
        &[
            done(1, 0, 1, put("k", 1), Output::Ok),
            done(2, 0, 3, get("k"), val(42)),
        ],
        1,
    );
}

#[test]
fn delete_reporting_existed_on_an_absent_key_is_a_violation() {
    assert_violation(
        &[
            done(1, 0, 1, get("k"), Output::Value(None)),
            done(1, 2, 3, del("k"), Output::Deleted(Some(true))),
        ],
        1,
    );
    // Without the existence flag the same delete says nothing.
    assert_ok(&[
        done(1, 0, 1, get("k"), Output::Value(None)),
        done(1, 2, 3, del("k"), Output::Deleted(None)),
    ]);
}

#[test]
fn initial_state_is_honoured() {
    let initial = HashMap::from([("k".to_owned(), Some(5))]);
    let reads_five = [done(1, 0, 1, get("k"), val(5))];
    assert!(run_from(&reads_five, &initial).is_linearizable());
    assert_eq!(run(&reads_five).verdict(), Verdict::Violation);
    let reads_absent = [done(1, 0, 1, get("k"), Output::Value(None))];
    assert_eq!(
        run_from(&reads_absent, &initial).verdict(),
        Verdict::Violation
    );
    let cas_on_initial = [done(1, 0, 1, cas("k", Some(5), 6), Output::CasOk)];
    assert!(run_from(&cas_on_initial, &initial).is_linearizable());
}

#[test]
fn unknown_reads_are_ignored_and_counted() {
    let mut answerless = done(2, 4, 5, get("k"), val(99));
    answerless.output = None; // returned, but nothing usable came back: unknown.
    let history = [
        done(1, 0, 1, put("k", 1), Output::Ok),
        lost(2, 2, get("k")),
        answerless,
        done(1, 6, 7, get("k"), val(1)),
    ];
    let report = run(&history);
    assert!(report.is_linearizable(), "{}", report.render());
    assert_eq!(report.ops_total(), 4);
    assert_eq!(report.ops_checked(), 2);
    assert_eq!(report.ops_ignored(), 2);
    assert_eq!(report.ops_unknown(), 0);
}

#[test]
fn keys_are_checked_independently() {
    let history = [
        done(1, 0, 1, put("a", 1), Output::Ok),
        done(1, 2, 3, put("k", 2), Output::Ok),
        done(2, 4, 5, get("a"), val(1)),
        done(2, 6, 7, get("k"), val(1)),
        lost(3, 8, put("b", 3)),
    ];
    let report = run(&history);
    assert_eq!(report.verdict(), Verdict::Violation);
    assert_eq!(report.violating_keys(), vec!["k"]);
    assert_eq!(report.keys().len(), 3);
    assert_eq!(report.ops_unknown(), 1);
    let v = &report.violations()[0];
    assert_eq!(v.failing_op, Some(3));
    assert!(v.summary.contains("get(k)"), "{}", v.summary);
}

#[test]
fn unknown_writes_need_not_take_effect_in_call_order() {
    // put(2) and then cas(2 -> 3) took effect (a read saw 3), and only then put(1), which a
    // later CAS conflict shows. put(1) was called first, yet took effect last.
    assert_ok(&[
        lost(1, 0, put("k", 1)),
        lost(2, 1, put("k", 2)),
        lost(3, 2, cas("k", Some(2), 3)),
        done(4, 10, 11, get("k"), val(3)),
        done(4, 20, 21, cas("k", Some(3), 4), Output::CasConflict),
    ]);
    // Of two timed-out create-only CAS, only the later-called one took effect: the other must
    // not be forced in first.
    assert_ok(&[
        lost(1, 0, cas("k", None, 1)),
        lost(2, 1, cas("k", None, 2)),
        lost(3, 2, cas("k", Some(2), 3)),
        done(4, 10, 11, get("k"), val(3)),
    ]);
}

#[test]
fn many_timed_out_look_alike_writes_do_not_explode() {
    // 40 timed-out puts of values nobody read and 20 timed-out deletes, all pending forever,
    // then a stale read: proving the violation must not enumerate their subsets.
    let mut history = vec![done(0, 0, 1, put("k", 1), Output::Ok)];
    for i in 0..60u32 {
        let call = 2 + u64::from(i);
        history.push(if i % 3 == 2 {
            lost(i, call, del("k"))
        } else {
            lost(i, call, put("k", 1_000 + u64::from(i)))
        });
    }
    history.push(done(0, 100, 101, put("k", 2), Output::Ok));
    history.push(done(0, 102, 103, get("k"), val(2)));
    history.push(done(1, 104, 105, get("k"), val(1)));
    let report = check(&history, &HashMap::new(), Duration::from_secs(5));
    assert_eq!(report.verdict(), Verdict::Violation, "{}", report.render());
    assert_eq!(report.violations()[0].failing_op, Some(history.len() - 1));
    assert!(report.keys()[0].explored < 10_000, "{}", report.render());
}
