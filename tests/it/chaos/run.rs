//! One fault run: a 3-node process cluster, the clients of `workload.rs` running for the
//! whole run, and the nemesis injecting faults in rounds. After each round the cluster is
//! healed and brought to rest, strong reads record where every key stands, and that
//! round's history is checked for linearizability from where the previous round left off.
//! At the end come the index and lost-write checks.
//!
//! ```text
//!  round r: clients + nemesis (F faults) → stop clients → heal → wait out stragglers
//!           → every log identical and applied → strong reads (part of the history)
//!           → lincheck(round r, initial = round r-1's reads)
//!  end:     per-node index monotonic; every acknowledged insert on every node
//! ```
//!
//! Resting between rounds is what makes checking round by round sound: once every node's
//! log equals the leader's committed log and no call is in flight anywhere (the server
//! gives up on a call after `request_timeout`), a write whose outcome was unknown has taken
//! effect or never will.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use konsul_client::{Client, Consistency, ListOptions};
use konsul_lincheck::{Input, Output, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use super::checks;
use super::history::Recorder;
use super::nemesis::{self, Fault};
use super::workload::{Kind, Targets, Worker};
use crate::common::process_cluster::ProcessCluster;
use crate::common::wait_until;

/// How long a server works on a call before it gives up (`KONSUL_REQUEST_TIMEOUT`).
const SERVER_TIMEOUT: Duration = Duration::from_secs(2);

/// The shape of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Rounds of faults.
    pub rounds: usize,
    /// Faults per round.
    pub faults_per_round: usize,
    /// Seed of every random choice (faults, their targets and durations, client calls).
    pub seed: u64,
    /// Which faults the nemesis picks from.
    pub faults: Vec<Fault>,
    /// Failpoints set on every node for the whole run (a deliberately broken build).
    pub failpoints: Vec<(String, String)>,
    /// Time the checker may spend on one round.
    pub check_budget: Duration,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Faults injected.
    pub faults: usize,
    /// Operations checked, in all rounds.
    pub ops: usize,
    /// Of those, with an unknown outcome.
    pub unknown: usize,
    /// Indexed reads checked for monotonicity.
    pub indexed_reads: usize,
    /// Unique-key inserts acknowledged (and found on every node).
    pub inserts: usize,
    /// The first problem found, if any: a rendered checker report, or the other checks'.
    pub failure: Option<String>,
    /// The nemesis's log.
    pub log: Vec<String>,
}

/// Runs the suite as `s` says.
pub async fn run(s: &Settings) -> Summary {
    let mut c = ProcessCluster::start_faulty(
        3,
        &[("KONSUL_REQUEST_TIMEOUT", "2s")],
        &[
            &[("KONSUL_FORWARD_TO_LEADER", "true")],
            &[("KONSUL_FORWARD_TO_LEADER", "true")],
            &[],
        ],
    )
    .await;
    for i in 0..c.nodes.len() {
        let fp: serde_json::Map<String, serde_json::Value> = s
            .failpoints
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        c.node(i)
            .faults(serde_json::json!({ "failpoints": fp }))
            .await;
    }
    let targets = Targets {
        nodes: c.nodes.iter().map(|n| n.client_addr.to_string()).collect(),
        forwarding: vec![0, 1],
        keys: (0..3).map(|k| format!("k{k}")).collect(),
    };
    let recorder = Arc::new(Recorder::new());
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut summary = Summary::default();
    let mut initial: HashMap<String, Option<u64>> = HashMap::new();

    for round in 0..s.rounds {
        let (stop_tx, stop) = watch::channel(false);
        let kinds = [
            Kind::Sdk,
            Kind::Sdk,
            Kind::RestForward,
            Kind::RestForward,
            Kind::RestRedirect,
            Kind::RestRedirect,
        ];
        let clients: Vec<_> = kinds
            .iter()
            .enumerate()
            .map(|(id, kind)| {
                let w = Worker::new(
                    (round * 100 + id) as u32,
                    *kind,
                    targets.clone(),
                    recorder.clone(),
                    rng.random(),
                );
                tokio::spawn(w.run(stop.clone()))
            })
            .collect();
        for _ in 0..s.faults_per_round {
            let fault = s.faults[rng.random_range(0..s.faults.len())];
            let line = nemesis::inject(&mut c, fault, &mut rng, &recorder).await;
            summary.faults += 1;
            summary.log.push(format!("round {round}: {line}"));
            let gap = Duration::from_millis(rng.random_range(200..800));
            tokio::time::sleep(gap).await;
        }
        let _ = stop_tx.send(true);
        for client in clients {
            client.await.unwrap();
        }
        nemesis::heal(&mut c).await;
        tokio::time::sleep(SERVER_TIMEOUT + Duration::from_secs(1)).await;
        let leader = at_rest(&c).await;
        barrier_reads(&c, leader, &targets.keys, &recorder).await;

        let ops = recorder.take_round();
        let report = konsul_lincheck::check(&ops, &initial, s.check_budget);
        summary.ops += report.ops_checked();
        summary.unknown += report.ops_unknown();
        if report.verdict() != Verdict::Linearizable {
            summary.failure = Some(format!(
                "round {round} of seed {}: {:?}\n{}",
                s.seed,
                report.verdict(),
                report.render()
            ));
            return summary;
        }
        initial = final_values(&ops, &targets.keys);
        // Progress for long runs (the test harness shows it with --nocapture).
        println!(
            "chaos: round {}/{} done: {} faults, {} operations checked so far ({} unknown)",
            round + 1,
            s.rounds,
            summary.faults,
            summary.ops,
            summary.unknown
        );
    }

    let (reads, restarts) = recorder.reads();
    summary.indexed_reads = reads.len();
    let regressions = checks::index_regressions(&reads, &restarts);
    if !regressions.is_empty() {
        summary.failure = Some(format!(
            "seed {}: reads went back in index:\n{}",
            s.seed,
            regressions.join("\n")
        ));
        return summary;
    }
    let inserts = recorder.inserts();
    summary.inserts = inserts.iter().filter(|i| i.acked).count();
    for i in 0..c.nodes.len() {
        let lost = checks::lost_inserts(&inserts, &contents(&c, i).await);
        if !lost.is_empty() {
            summary.failure = Some(format!(
                "seed {}: n{} lost acknowledged writes:\n{}",
                s.seed,
                i + 1,
                lost.join("\n")
            ));
            return summary;
        }
    }
    summary
}

/// Waits until every node is up with one leader and every log is the leader's committed
/// log, fully applied; returns the leader.
async fn at_rest(c: &ProcessCluster) -> usize {
    wait_until(
        "the cluster at rest (one leader, every log applied)",
        || async {
            let leader = c.leader().await;
            let lead = c.node(leader).status().await?;
            if lead.commit_index != lead.last_index || lead.applied_index != lead.last_index {
                return None;
            }
            for i in 0..c.nodes.len() {
                let s = c.node(i).status().await?;
                if s.last_index != lead.last_index || s.applied_index != lead.last_index {
                    return None;
                }
            }
            Some(leader)
        },
    )
    .await
}

/// Strong reads of every key from the leader, recorded as operations of the round.
async fn barrier_reads(c: &ProcessCluster, leader: usize, keys: &[String], recorder: &Recorder) {
    let client = Client::connect([c.node(leader).client_addr.to_string()])
        .await
        .unwrap();
    for key in keys {
        let call = recorder.now();
        let kv = client
            .get_with(key.clone(), Consistency::Strong)
            .await
            .unwrap_or_else(|e| panic!("barrier read of {key}: {e}"));
        let ret = recorder.now();
        let value = kv.map(|kv| {
            std::str::from_utf8(&kv.value)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(u64::MAX)
        });
        recorder.op(
            u32::MAX,
            call,
            Some(ret),
            Input::Get { key: key.clone() },
            Some(Output::Value(value)),
            "barrier".into(),
        );
    }
}

/// What the barrier reads at the end of `ops` saw: the next round's initial state.
fn final_values(ops: &[konsul_lincheck::Op], keys: &[String]) -> HashMap<String, Option<u64>> {
    keys.iter()
        .map(|key| {
            let seen = ops
                .iter()
                .rev()
                .find(|op| op.note == "barrier" && op.input.key() == key)
                .and_then(|op| match op.output {
                    Some(Output::Value(v)) => Some(v),
                    _ => None,
                })
                .flatten();
            (key.clone(), seen)
        })
        .collect()
}

/// Every `ins/` key and value node `i` holds, read from its own state.
async fn contents(c: &ProcessCluster, i: usize) -> BTreeMap<String, u64> {
    let client = Client::builder([c.node(i).client_addr.to_string()])
        .max_attempts(3)
        .build()
        .unwrap();
    let options = ListOptions {
        consistency: Consistency::Stale,
        ..Default::default()
    };
    client
        .list_with("ins/", options)
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| {
            let v = std::str::from_utf8(&kv.value)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(u64::MAX);
            (kv.key, v)
        })
        .collect()
}
