//! Turns a run's `Tally` into what is printed: a short text block for people, or one JSON
//! object (`--output json`) for scripts/bench.sh. Both carry the settings of the run next to
//! its numbers, so a result is never quoted without its client count and value size.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::closed_loop::{ErrorTally, Tally};

/// The settings a run was made with, echoed in every report.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// `konsul` or `etcd`.
    pub target: String,
    /// `put`, `get` or `mixed`.
    pub op: String,
    /// Fraction of reads, for `mixed` only.
    pub read_ratio: Option<f64>,
    /// Read consistency asked for.
    pub consistency: String,
    /// Addresses the connections were spread over.
    pub endpoints: Vec<String>,
    /// Simulated clients, each with one request in flight.
    pub clients: usize,
    /// HTTP/2 connections the clients share.
    pub connections: usize,
    /// Bytes per written value.
    pub value_size: usize,
    /// Number of distinct keys.
    pub key_space: u64,
    /// Seed of the key and value choices.
    pub seed: u64,
    /// Whether the key space was written before the run.
    pub prefill: bool,
    /// Warmup before measuring, in seconds.
    pub warmup_s: f64,
    /// Measured window asked for, in seconds.
    pub duration_s: f64,
    /// Cap on measured calls, if any.
    pub max_ops: Option<u64>,
    /// Catalog workloads: number of tag groups (a query asks for one).
    pub query_groups: Option<u64>,
    /// Catalog workloads: TTL of every registration, in seconds.
    pub service_ttl_s: Option<f64>,
    /// `--op register` on etcd: `lease-put` or `put`.
    pub etcd_register: Option<String>,
}

/// Latency percentiles of answered calls, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest call.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// The numbers of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Measured window as it happened: start of measuring to the end of the last call, in
    /// seconds.
    pub elapsed_s: f64,
    /// Calls answered in the window (writes, read hits and read misses).
    pub ops: u64,
    /// `ops / elapsed_s`.
    pub ops_per_sec: f64,
    /// Reads whose key did not exist (included in `ops`).
    pub misses: u64,
    /// Calls that failed (not in `ops` nor in the latencies).
    pub errors: u64,
    /// Failures by gRPC code.
    pub errors_by_code: BTreeMap<String, ErrorTally>,
    /// Calls answered during warmup.
    pub warmup_ops: u64,
    /// Calls that failed during warmup.
    pub warmup_errors: u64,
    /// Latency of the answered calls.
    pub latency_ms: Latency,
    /// True when the run stopped early because no call succeeded.
    pub aborted: bool,
}

/// Settings plus numbers: one line of `--output json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How the run was made.
    pub setup: Setup,
    /// What it measured.
    pub result: Outcome,
}

impl Report {
    /// Summarises `tally` for the run described by `setup`.
    pub fn new(setup: Setup, tally: Tally) -> Self {
        let elapsed_s = tally.elapsed.as_secs_f64();
        let ops = tally.measured.answered();
        let result = Outcome {
            elapsed_s,
            ops,
            ops_per_sec: if elapsed_s > 0.0 {
                ops as f64 / elapsed_s
            } else {
                0.0
            },
            misses: tally.measured.misses,
            errors: tally.measured.failed(),
            warmup_ops: tally.warmup.answered(),
            warmup_errors: tally.warmup.failed(),
            errors_by_code: tally.measured.errors,
            latency_ms: latency(&tally.latency_us),
            aborted: tally.aborted,
        };
        Report { setup, result }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The report as a few lines of text.
    pub fn to_text(&self) -> String {
        let s = &self.setup;
        let r = &self.result;
        let l = &r.latency_ms;
        let mut out = String::new();
        let op = match s.read_ratio {
            Some(ratio) => format!("{} (read ratio {ratio})", s.op),
            None => s.op.to_string(),
        };
        let max_ops = s
            .max_ops
            .map_or(String::new(), |m| format!(", max {m} ops"));
        let _ = writeln!(
            out,
            "target {} at {} | op {op} | {} clients over {} connections | value {} B | {} keys{} | consistency {} | seed {}",
            s.target,
            s.endpoints.join(","),
            s.clients,
            s.connections,
            s.value_size,
            s.key_space,
            if s.prefill { " (prefilled)" } else { "" },
            s.consistency,
            s.seed,
        );
        if let (Some(groups), Some(ttl)) = (s.query_groups, s.service_ttl_s) {
            let etcd = s
                .etcd_register
                .as_ref()
                .map_or(String::new(), |m| format!(" | etcd register {m}"));
            let _ = writeln!(
                out,
                "catalog    {} services in {groups} tag groups | TTL {ttl} s{etcd}",
                s.key_space
            );
        }
        let _ = writeln!(
            out,
            "window     {:.2} s measured (asked {} s{max_ops}) after {} s warmup",
            r.elapsed_s, s.duration_s, s.warmup_s
        );
        let _ = writeln!(out, "ops        {} ({:.1} ops/s)", r.ops, r.ops_per_sec);
        let _ = writeln!(out, "misses     {}", r.misses);
        let _ = writeln!(out, "errors     {}", r.errors);
        for (code, tally) in &r.errors_by_code {
            let _ = writeln!(out, "  {code}: {} (first: {})", tally.count, tally.sample);
        }
        let _ = writeln!(
            out,
            "latency    p50 {:.3} ms  p99 {:.3} ms  p999 {:.3} ms  max {:.3} ms  mean {:.3} ms",
            l.p50, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(
            out,
            "warmup     {} ops, {} errors",
            r.warmup_ops, r.warmup_errors
        );
        if r.aborted {
            let _ = writeln!(out, "ABORTED: no call succeeded");
        }
        out
    }
}

fn latency(us: &Histogram<u64>) -> Latency {
    let ms = |v: u64| v as f64 / 1000.0;
    Latency {
        p50: ms(us.value_at_quantile(0.50)),
        p99: ms(us.value_at_quantile(0.99)),
        p999: ms(us.value_at_quantile(0.999)),
        max: ms(us.max()),
        mean: us.mean() / 1000.0,
    }
}
