//! Test helpers shared by the checker's integration tests: terse builders for hand-made
//! histories, a seeded splitmix64 PRNG, and a generator of histories that are linearizable by
//! construction (a simulated atomic register with random overlaps), standing in for what the
//! fault suite records.

#![allow(dead_code)]

use std::collections::HashMap;

use konsul_lincheck::{Input, Op, Output};

/// Nanoseconds per millisecond, so hand-made histories read in ms.
pub const MS: u64 = 1_000_000;

/// A completed operation; times in ms.
pub fn done(client: u32, call: u64, ret: u64, input: Input, output: Output) -> Op {
    Op {
        client,
        call: call * MS,
        ret: Some(ret * MS),
        input,
        output: Some(output),
        note: String::new(),
    }
}

/// An operation whose outcome is unknown; time in ms.
pub fn lost(client: u32, call: u64, input: Input) -> Op {
    Op {
        client,
        call: call * MS,
        ret: None,
        input,
        output: None,
        note: "timed out".to_owned(),
    }
}

pub fn put(key: &str, value: u64) -> Input {
    Input::Put {
        key: key.to_owned(),
        value,
    }
}

pub fn get(key: &str) -> Input {
    Input::Get {
        key: key.to_owned(),
    }
}

pub fn cas(key: &str, expect: Option<u64>, value: u64) -> Input {
    Input::Cas {
        key: key.to_owned(),
        expect,
        value,
    }
}

pub fn del(key: &str) -> Input {
    Input::Delete {
        key: key.to_owned(),
    }
}

pub fn val(v: u64) -> Output {
    Output::Value(Some(v))
}

/// splitmix64: tiny, seeded, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Shape of a generated history.
pub struct Shape {
    pub seed: u64,
    pub ops: usize,
    pub keys: usize,
    pub clients: u32,
    /// Operations (writes, CAS, deletes; occasionally reads) whose outcome is lost.
    pub unknown: usize,
}

/// A history that is linearizable by construction: every operation gets a linearization
/// point inside its interval (anywhere after the call, or never, for unknown outcomes), and
/// outputs are computed by applying operations to a register in that order.
pub fn linearizable_history(shape: &Shape) -> Vec<Op> {
    let mut rng = Rng(shape.seed);
    let mut cursor = vec![0u64; shape.clients as usize];
    let mut written: Vec<Vec<u64>> = vec![Vec::new(); shape.keys];
    let mut next_value = 1u64;
    let unknown_every = shape.ops / shape.unknown.max(1);
    // (op, linearization point); outputs filled in afterwards.
    let mut ops: Vec<(Op, Option<u64>)> = Vec::with_capacity(shape.ops);
    for i in 0..shape.ops {
        // The client that has been idle longest issues the next call: clients overlap.
        let (c, _) = cursor
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)
            .unwrap_or((0, &0));
        let call = cursor[c] + rng.below(50_000);
        let took = 10_000 + rng.below(1_000_000);
        let k = rng.below(shape.keys as u64) as usize;
        let key = format!("k{k}");
        let input = match rng.below(20) {
            0..=5 => {
                next_value += 1;
                written[k].push(next_value);
                Input::Put {
                    key,
                    value: next_value,
                }
            }
            6..=12 => Input::Get { key },
            13..=17 => {
                next_value += 1;
                let expect = match (rng.below(4), written[k].last()) {
                    (0, _) | (_, None) => None,
                    (1, Some(_)) => {
                        let pick = rng.below(written[k].len() as u64) as usize;
                        Some(written[k][pick])
                    }
                    (_, Some(last)) => Some(*last),
                };
                written[k].push(next_value);
                Input::Cas {
                    key,
                    expect,
                    value: next_value,
                }
            }
            _ => Input::Delete { key },
        };
        let is_unknown = shape.unknown > 0 && i % unknown_every == unknown_every / 2;
        // Unknown reads are dropped by the checker: make every lost op a write that counts.
        let input = match input {
            Input::Get { key } if is_unknown => {
                next_value += 1;
                Input::Put {
                    key,
                    value: next_value,
                }
            }
            input => input,
        };
        let (ret, lp) = if is_unknown {
            cursor[c] = call + 2_000_000;
            let lp = match rng.below(3) {
                0 => None,
                _ => Some(call + rng.below(5_000_000)),
            };
            (None, lp)
        } else {
            cursor[c] = call + took;
            (Some(call + took), Some(call + rng.below(took + 1)))
        };
        let op = Op {
            client: c as u32,
            call,
            ret,
            input,
            output: None,
            note: format!("req {i}"),
        };
        ops.push((op, lp));
    }
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].1.is_some()).collect();
    order.sort_by_key(|&i| (ops[i].1, i));
    let mut state: HashMap<String, Option<u64>> = HashMap::new();
    for i in order {
        let op = &mut ops[i].0;
        let slot = state.entry(op.input.key().to_owned()).or_insert(None);
        let output = apply(slot, &op.input);
        if op.ret.is_some() {
            op.output = Some(output);
        }
    }
    ops.into_iter().map(|(op, _)| op).collect()
}

/// Applies one operation atomically to a register and returns what the client is told.
pub fn apply(state: &mut Option<u64>, input: &Input) -> Output {
    match input {
        Input::Put { value, .. } => {
            *state = Some(*value);
            Output::Ok
        }
        Input::Get { .. } => Output::Value(*state),
        Input::Cas { expect, value, .. } => {
            if *state == *expect {
                *state = Some(*value);
                Output::CasOk
            } else if state.is_some() {
                Output::CasConflict
            } else {
                Output::CasNotFound
            }
        }
        Input::Delete { .. } => {
            let existed = state.is_some();
            *state = None;
            Output::Deleted(Some(existed))
        }
    }
}
