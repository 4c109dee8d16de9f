//! The checker's answer: the verdict, per-key outcomes the suite can assert on, and for every
//! violating key a plain-text explanation (failing operation, shortest window, summary).
//!
//! ```text
//!  lib.rs ──per-key outcomes────────────────────────┐
//!  window.rs ──Explanation──► summary.rs ──Violation─┴──► Report ──render()──► test log
//! ```
//!
//! Everything model-specific is turned into text before it gets here (`summary.rs`, through
//! the `Model::describe_*` hooks), so a [`Report`] only depends on the key type and outlives
//! the history it describes.

use std::fmt::{self, Write as _};
use std::time::Duration;

/// The verdict on a whole history or on one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Every key's sub-history has a valid linearization.
    Linearizable,
    /// At least one key's sub-history has none. Takes precedence over [`Verdict::TimedOut`]: a
    /// violation found is definite even if other keys were not finished.
    Violation,
    /// The budget ran out before every key was decided (and no violation was found). The suite
    /// counts this as a failure: nothing was proven.
    TimedOut,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Linearizable => "linearizable",
            Verdict::Violation => "VIOLATION",
            Verdict::TimedOut => "TIMED OUT",
        })
    }
}

/// How one key fared, for assertions and the report's overview.
#[derive(Clone, Debug)]
pub struct KeyOutcome<K> {
    /// The key.
    pub key: K,
    /// The key as reports print it.
    pub key_text: String,
    /// This key's verdict ([`Verdict::TimedOut`] also for keys never started).
    pub verdict: Verdict,
    /// Operations searched on this key (unknown-outcome reads excluded).
    pub ops: usize,
    /// Of those, operations with an unknown outcome.
    pub unknown: usize,
    /// Unknown-outcome reads dropped because they constrain nothing.
    pub ignored: usize,
    /// Distinct (linearized set, state) configurations the main search explored.
    pub explored: usize,
    /// Time the main search took.
    pub elapsed: Duration,
}

/// One operation line of a violation's window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowRow {
    /// Index of the operation in the checked history.
    pub op: usize,
    /// Its client.
    pub client: u32,
    /// Its invocation time (ns).
    pub call: u64,
    /// Its recorded response time, `None` if the outcome is unknown.
    pub ret: Option<u64>,
    /// The input as text.
    pub input: String,
    /// The recorded outcome as text (`?` if unknown).
    pub output: String,
    /// The operation's note.
    pub note: String,
    /// The failing operation itself.
    pub failing: bool,
    /// Called before the window's first operation but still pending then.
    pub pending_before: bool,
    /// Returned only after the failing operation did, so the failing prefix treats it as still
    /// pending (outcome unknown).
    pub returned_later: bool,
    /// For an unknown-outcome write whose value was observed: the time by which it must have
    /// taken effect (the earliest observer's return).
    pub effect_by: Option<u64>,
}

/// Why one key is not linearizable.
#[derive(Clone, Debug)]
pub struct Violation<K> {
    /// The key.
    pub key: K,
    /// The key as reports print it.
    pub key_text: String,
    /// History index of the failing operation: the one whose return makes the shortest
    /// failing prefix fail (if `prefix_shortest` is false, the prefix ending at its return
    /// fails but a shorter one might too). `None` only if no explanation could be built.
    pub failing_op: Option<usize>,
    /// Operations in the shortest failing prefix (those of this key called before the failing
    /// operation returned).
    pub prefix_ops: usize,
    /// False if the budget ran out before the prefix search finished.
    pub prefix_shortest: bool,
    /// The window, in call order.
    pub window: Vec<WindowRow>,
    /// True if a window shorter than the whole prefix was found; false means the window *is*
    /// the prefix, started from the real initial state.
    pub window_found: bool,
    /// The states the window was started from (it fails from each).
    pub window_starts: Vec<String>,
    /// States the key could be in when the failing operation was tried, and whether its
    /// outcome fitted that state (then later operations could not be explained).
    pub states_before: Vec<(String, bool)>,
    /// One paragraph in words.
    pub summary: String,
}

/// The result of [`crate::check`] / [`crate::check_model`].
#[derive(Clone, Debug)]
pub struct Report<K> {
    pub(crate) verdict: Verdict,
    pub(crate) keys: Vec<KeyOutcome<K>>,
    pub(crate) violations: Vec<Violation<K>>,
    pub(crate) ops_total: usize,
    pub(crate) elapsed: Duration,
}

impl<K> Report<K> {
    /// The overall verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// True iff the verdict is [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        self.verdict == Verdict::Linearizable
    }

    /// Per-key outcomes, in key order.
    pub fn keys(&self) -> &[KeyOutcome<K>] {
        &self.keys
    }

    /// One entry per violating key, in key order.
    pub fn violations(&self) -> &[Violation<K>] {
        &self.violations
    }

    /// The keys whose sub-history is not linearizable.
    pub fn violating_keys(&self) -> Vec<&K> {
        self.violations.iter().map(|v| &v.key).collect()
    }

    /// The keys left undecided when the budget ran out.
    pub fn timed_out_keys(&self) -> Vec<&K> {
        self.keys_with(Verdict::TimedOut)
    }

    /// Operations in the history given to the checker.
    pub fn ops_total(&self) -> usize {
        self.ops_total
    }

    /// Operations the search considered (all but unknown-outcome reads).
    pub fn ops_checked(&self) -> usize {
        self.keys.iter().map(|k| k.ops).sum()
    }

    /// Operations with an unknown outcome that were kept (writes, CAS, deletes).
    pub fn ops_unknown(&self) -> usize {
        self.keys.iter().map(|k| k.unknown).sum()
    }

    /// Unknown-outcome reads dropped before searching.
    pub fn ops_ignored(&self) -> usize {
        self.keys.iter().map(|k| k.ignored).sum()
    }

    /// Wall time of the whole check, explanations included.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    fn keys_with(&self, verdict: Verdict) -> Vec<&K> {
        self.keys
            .iter()
            .filter(|k| k.verdict == verdict)
            .map(|k| &k.key)
            .collect()
    }

    /// The report as plain text for a test log: an overview line, one line per key, then each
    /// violation's failing operation, summary and window.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "linearizability: {} ({} ops: {} checked, {} with unknown outcome, {} unknown reads \
             ignored; {} {}; {:.1?})",
            self.verdict,
            self.ops_total,
            self.ops_checked(),
            self.ops_unknown(),
            self.ops_ignored(),
            self.keys.len(),
            if self.keys.len() == 1 { "key" } else { "keys" },
            self.elapsed,
        );
        for key in &self.keys {
            let _ = writeln!(
                out,
                "  key {}: {} ({} ops, {} unknown, {} configurations, {:.1?})",
                key.key_text, key.verdict, key.ops, key.unknown, key.explored, key.elapsed
            );
        }
        for violation in &self.violations {
            out.push('\n');
            render_violation(&mut out, violation);
        }
        out
    }
}

impl<K> fmt::Display for Report<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Milliseconds with microsecond precision, exact integer arithmetic.
pub(crate) fn ms(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000, (ns / 1_000) % 1_000)
}

/// `ns` relative to `t0`, in signed milliseconds.
fn relative(ns: u64, t0: u64) -> String {
    if ns >= t0 {
        format!("+{}", ms(ns - t0))
    } else {
        format!("-{}", ms(t0 - ns))
    }
}

/// At most a dozen items, then how many there are in all.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 12;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!("{}, … ({} in all)", items[..SHOWN].join(", "), items.len())
    }
}

fn render_violation<K>(out: &mut String, v: &Violation<K>) {
    let _ = writeln!(out, "violation on key {}", v.key_text);
    let Some(failing) = v.window.iter().find(|row| row.failing) else {
        let _ = writeln!(out, "  {}", v.summary);
        return;
    };
    let _ = writeln!(
        out,
        "  failing op: #{} client {}: {} -> {} (call {} ms, return {} ms) {}",
        failing.op,
        failing.client,
        failing.input,
        failing.output,
        ms(failing.call),
        failing.ret.map_or("?".to_owned(), ms),
        failing.note
    );
    let _ = writeln!(out, "  summary: {}", v.summary);
    let _ = writeln!(
        out,
        "  shortest failing prefix: {} ops of key {} called before #{} returned{}",
        v.prefix_ops,
        v.key_text,
        failing.op,
        if v.prefix_shortest {
            ""
        } else {
            " (budget ran out: a shorter prefix may fail too)"
        }
    );
    // Times are relative to the first operation called inside the window; operations still
    // pending from before it get negative call times.
    let t0 = v
        .window
        .iter()
        .filter(|row| !row.pending_before)
        .map(|row| row.call)
        .min()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "  window: {} ops from {} ms (times below in ms from there); no order explains them {}",
        v.window.len(),
        ms(t0),
        if v.window_found {
            format!("from any of the states {}", list(&v.window_starts))
        } else {
            format!(
                "(no shorter window fails; whole prefix from the initial state {})",
                list(&v.window_starts)
            )
        }
    );
    let input_width = v.window.iter().map(|r| r.input.len()).max().unwrap_or(0);
    let output_width = v.window.iter().map(|r| r.output.len()).max().unwrap_or(0);
    for row in &v.window {
        let mark = if row.failing {
            '*'
        } else if row.pending_before {
            '^'
        } else {
            ' '
        };
        let ret = match (row.ret, row.effect_by) {
            (Some(ret), _) => relative(ret, t0),
            (None, Some(by)) => format!("?<{}", relative(by, t0)),
            (None, None) => "?".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {mark} #{:<6} c{:<3} {:>11} -> {:<12} {:<iw$}  {:<ow$}{}  {}",
            row.op,
            row.client,
            relative(row.call, t0),
            ret,
            row.input,
            row.output,
            if row.returned_later { " ~" } else { "  " },
            row.note,
            iw = input_width,
            ow = output_width,
        );
    }
    let _ = writeln!(
        out,
        "  (* failing op, ^ called earlier but still pending, ~ returned after the failing op so \
         treated as pending, ? unknown outcome, ?<t unknown outcome but its value was seen by t)"
    );
    if !v.states_before.is_empty() {
        let states: Vec<String> = v
            .states_before
            .iter()
            .map(|(state, fits)| {
                let how = if *fits {
                    "outcome fits, later ops then fail"
                } else {
                    "outcome impossible"
                };
                format!("{state} ({how})")
            })
            .collect();
        let _ = writeln!(
            out,
            "  states the key could be in when #{} was tried: {}",
            failing.op,
            list(&states)
        );
    }
}
