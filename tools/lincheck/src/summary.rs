//! Turns a violating key's explanation (`window.rs`) into the report's [`Violation`] entry:
//! operation rows as text, the states the failing operation met, and a one-paragraph account.
//!
//! ```text
//!  window.rs ──Explanation──► violation() ──► report.rs (Violation, rendered by Report)
//! ```

use std::fmt::Write as _;

use crate::history::{KeyOp, NEVER};
use crate::model::{Model, Operation};
use crate::report::{Violation, WindowRow, ms};
use crate::window::Explanation;

/// Builds the report entry for a violating key from the explanation `window.rs` produced.
pub(crate) fn violation<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    key: &M::Key,
    explanation: Option<Explanation<'_, M>>,
) -> Violation<M::Key> {
    let key_text = model.describe_key(key);
    let Some(exp) = explanation else {
        return Violation {
            key: key.clone(),
            summary: format!("key {key_text}: not linearizable (no explanation available)"),
            key_text,
            failing_op: None,
            prefix_ops: 0,
            prefix_shortest: false,
            window: Vec::new(),
            window_found: false,
            window_starts: Vec::new(),
            states_before: Vec::new(),
        };
    };
    let row = |op: &KeyOp<'_, M>, pending_before: bool| {
        let recorded = &history[op.orig];
        WindowRow {
            op: op.orig,
            client: recorded.client,
            call: recorded.call,
            ret: recorded.output.as_ref().and(recorded.ret),
            input: model.describe_input(&recorded.input),
            output: model.describe_output(recorded.output.as_ref()),
            note: recorded.note.clone(),
            failing: op.orig == exp.failing.orig,
            pending_before,
            returned_later: !op.known() && recorded.output.is_some() && recorded.ret.is_some(),
            effect_by: (!op.known() && op.ret != NEVER).then_some(op.ret),
        }
    };
    let window: Vec<WindowRow> = exp.window.iter().map(|(op, p)| row(op, *p)).collect();
    let states_before: Vec<(String, bool)> = exp
        .before
        .iter()
        .map(|(state, fits)| (state_text(model, state, exp.anonymous), *fits))
        .collect();
    let summary = summarise(model, history, &key_text, &exp, &states_before);
    Violation {
        key: key.clone(),
        key_text,
        failing_op: Some(exp.failing.orig),
        prefix_ops: exp.prefix.len(),
        prefix_shortest: exp.prefix_shortest,
        window_found: exp.window_found,
        window_starts: exp
            .window_starts
            .iter()
            .map(|s| model.describe_state(s))
            .collect(),
        window,
        states_before,
        summary,
    }
}

/// The one-paragraph account of a violation.
fn summarise<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    key_text: &str,
    exp: &Explanation<'_, M>,
    states_before: &[(String, bool)],
) -> String {
    let f = &history[exp.failing.orig];
    let mut text = format!(
        "key {key_text}: {} by client {} (#{}, called at {} ms, returned at {} ms) was told {}, \
         which no order consistent with real time allows.",
        model.describe_input(&f.input),
        f.client,
        exp.failing.orig,
        ms(f.call),
        ms(exp.cut_time),
        model.describe_output(f.output.as_ref()),
    );
    let impossible: Vec<&str> = states_before
        .iter()
        .filter(|(_, fits)| !fits)
        .map(|(s, _)| s.as_str())
        .collect();
    let fitting: Vec<&str> = states_before
        .iter()
        .filter(|(_, fits)| *fits)
        .map(|(s, _)| s.as_str())
        .collect();
    if !states_before.is_empty() {
        if fitting.is_empty() {
            let _ = write!(
                text,
                " Whenever it could have taken effect the key held {}, and that outcome fits none \
                 of them.",
                either(&impossible)
            );
        } else {
            let _ = write!(
                text,
                " Its outcome fits only if the key held {} when it took effect, and every such \
                 order leaves a later outcome unexplained.",
                either(&fitting)
            );
        }
    }
    let last_update = exp
        .prefix
        .iter()
        .filter(|op| op.known() && !model.read_only(op.input) && op.ret < exp.failing.call)
        .max_by_key(|op| (op.ret, op.orig));
    if let Some(op) = last_update {
        let u = &history[op.orig];
        let _ = write!(
            text,
            " The last acknowledged update that returned before it was called is #{} {} -> {} by \
             client {} (returned at {} ms).",
            op.orig,
            model.describe_input(&u.input),
            model.describe_output(u.output.as_ref()),
            u.client,
            ms(op.ret),
        );
    }
    let _ = write!(
        text,
        " The shortest failing prefix has {} ops; the window below has {}.",
        exp.prefix.len(),
        exp.window.len()
    );
    text
}

/// A state as text; one holding the canonical anonymous token is labelled as standing for any
/// such value (the search renames all of them to one).
fn state_text<M: Model>(model: &M, state: &M::State, anonymous: Option<u64>) -> String {
    let text = model.describe_state(state);
    let mut tokens = Vec::new();
    model.state_tokens(state, &mut tokens);
    match anonymous {
        Some(token) if tokens.contains(&token) => {
            format!("{text} (or any value of an unknown-outcome write nobody read)")
        }
        _ => text,
    }
}

/// "a or b or c", shortened past a few items.
fn either(items: &[&str]) -> String {
    const SHOWN: usize = 6;
    if items.len() <= SHOWN {
        items.join(" or ")
    } else {
        format!(
            "{} or … ({} states)",
            items[..SHOWN].join(", "),
            items.len()
        )
    }
}
