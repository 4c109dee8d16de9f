//! The closed loop itself: every simulated client sends one request, awaits the answer,
//! records its latency and sends the next, until the deadline (or `--max-ops`). Offered load
//! therefore adapts to the server: a slower server sees fewer requests, never a queue that
//! grows without bound. Also the prefill that writes the whole key space before a read run,
//! and the pre-registration of the services a heartbeat or query run works on.
//!
//! Only successful calls (writes, and reads whether or not the key existed) enter the latency
//! histogram; failures are counted by gRPC code with one sample message, so that a run with
//! errors says so instead of looking fast.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::Status;

use crate::catalog::REGISTER_BATCH;
use crate::target::{Read, Target};

/// Highest latency the histogram can hold, in microseconds; slower calls are clamped to it.
/// Far above any request timeout a run would use.
const MAX_LATENCY_US: u64 = 600_000_000;

/// Which calls the clients make.
#[derive(Debug, Clone, Copy)]
pub enum OpMix {
    /// Every call is a write.
    Put,
    /// Every call is a read.
    Get,
    /// Each call is a read with probability `read_ratio`, otherwise a write.
    Mixed {
        /// Fraction of reads, in 0..=1.
        read_ratio: f64,
    },
    /// Every call registers a new service (numbered by a counter all clients share).
    Register,
    /// Every call heartbeats one of the `key_space` pre-registered services, uniformly.
    Heartbeat,
    /// Every call queries one of the `groups` tag groups, uniformly.
    Query,
}

impl OpMix {
    /// True for the workloads that need the services `0 .. key_space` registered first.
    pub fn needs_services(self) -> bool {
        matches!(self, OpMix::Heartbeat | OpMix::Query)
    }
}

/// Everything a run needs besides the clients themselves.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Which calls to make.
    pub mix: OpMix,
    /// Keys are `bench/0` .. `bench/<key_space - 1>`, chosen uniformly; for heartbeat and
    /// query, the number of pre-registered services.
    pub key_space: u64,
    /// Number of tag groups a query picks from (see `catalog::Shape`).
    pub groups: u64,
    /// The value every write sends.
    pub value: Vec<u8>,
    /// Time spent running the loop before measuring, to open streams and warm caches.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// Stop after this many measured calls in total, if the deadline has not come first.
    pub max_ops: Option<u64>,
}

/// The key with number `n`.
pub fn key(n: u64) -> String {
    format!("bench/{n}")
}

/// Failures of one gRPC code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorTally {
    /// How many calls failed with this code.
    pub count: u64,
    /// The message of the first such failure, to tell what went wrong.
    pub sample: String,
}

/// Outcomes of the calls made in one phase (warmup or measured).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Writes acknowledged, plus reads that found their key.
    pub ok: u64,
    /// Reads answered with "no such key".
    pub misses: u64,
    /// Failed calls, by gRPC code name.
    pub errors: BTreeMap<String, ErrorTally>,
}

impl Counts {
    /// Calls the server answered (hits, misses and writes).
    pub fn answered(&self) -> u64 {
        self.ok + self.misses
    }

    /// Calls that failed, whatever the code.
    pub fn failed(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    fn record_error(&mut self, status: &Status) {
        let tally = self
            .errors
            .entry(format!("{:?}", status.code()))
            .or_default();
        if tally.count == 0 {
            tally.sample = status.message().to_string();
        }
        tally.count += 1;
    }

    fn merge(&mut self, other: Counts) {
        self.ok += other.ok;
        self.misses += other.misses;
        for (code, tally) in other.errors {
            let mine = self.errors.entry(code).or_default();
            if mine.count == 0 {
                mine.sample = tally.sample;
            }
            mine.count += tally.count;
        }
    }
}

/// What a whole run observed, all clients merged.
#[derive(Debug)]
pub struct Tally {
    /// Calls started inside the measured window.
    pub measured: Counts,
    /// Calls started during warmup; not in the histogram or the rate.
    pub warmup: Counts,
    /// Latency of every answered measured call, in microseconds.
    pub latency_us: Histogram<u64>,
    /// From the start of the measured window to the end of the last measured call, answered
    /// or failed, so that a server that stops answering lowers the rate instead of
    /// shortening the window.
    pub elapsed: Duration,
    /// True when the run stopped early because no call had succeeded.
    pub aborted: bool,
}

/// State all clients of a run share.
struct Shared {
    /// Measured calls issued so far, for `--max-ops`.
    issued: AtomicU64,
    /// Services registered so far by a register run: the next one's number.
    registered: AtomicU64,
    /// Calls answered so far, warmup included.
    answered: AtomicU64,
    /// Calls failed so far, warmup included.
    failed: AtomicU64,
    /// Set when the run should stop: `abort_after` failures and not one success.
    abort: AtomicBool,
    abort_after: u64,
}

/// What one client observed.
struct ClientTally {
    measured: Counts,
    warmup: Counts,
    latency_us: Histogram<u64>,
    last_done: Option<Instant>,
}

/// Runs the closed loop with one task per element of `clients`, each with its own seeded RNG
/// (`seeds[i]` for client i), and merges what they saw.
///
/// A run where nothing succeeds stops early, after max(100, 10 × clients) failures, rather
/// than spinning against a dead server for the whole duration.
pub async fn run<T: Target>(
    clients: Vec<T>,
    seeds: Vec<u64>,
    workload: Arc<Workload>,
) -> anyhow::Result<Tally> {
    anyhow::ensure!(clients.len() == seeds.len(), "one seed per client");
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        registered: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        abort_after: (10 * clients.len() as u64).max(100),
    });
    let start = Instant::now();
    let measure_start = start + workload.warmup;
    let mut tasks = JoinSet::new();
    for (target, seed) in clients.into_iter().zip(seeds) {
        tasks.spawn(client_loop(
            target,
            seed,
            workload.clone(),
            shared.clone(),
            measure_start,
        ));
    }
    let mut tally = Tally {
        measured: Counts::default(),
        warmup: Counts::default(),
        latency_us: new_histogram(),
        elapsed: Duration::ZERO,
        aborted: false,
    };
    let mut last_done = None;
    while let Some(joined) = tasks.join_next().await {
        let client = joined?;
        tally.measured.merge(client.measured);
        tally.warmup.merge(client.warmup);
        tally.latency_us.add(&client.latency_us)?;
        last_done = last_done.max(client.last_done);
    }
    tally.elapsed = last_done.map_or(Duration::ZERO, |t| {
        t.saturating_duration_since(measure_start)
    });
    tally.aborted = shared.abort.load(Ordering::Relaxed);
    Ok(tally)
}

/// One simulated client: the loop described in the module docs. Bounded by the deadline,
/// by `max_ops`, by the abort flag, and (per call) by the channel's request timeout.
async fn client_loop<T: Target>(
    mut target: T,
    seed: u64,
    workload: Arc<Workload>,
    shared: Arc<Shared>,
    measure_start: Instant,
) -> ClientTally {
    let end = measure_start + workload.duration;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mine = ClientTally {
        measured: Counts::default(),
        warmup: Counts::default(),
        latency_us: new_histogram(),
        last_done: None,
    };
    loop {
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let measured = sent >= measure_start;
        if measured
            && let Some(max) = workload.max_ops
            && shared.issued.fetch_add(1, Ordering::Relaxed) >= max
        {
            break;
        }
        let n = rng.random_range(0..workload.key_space);
        let result = match workload.mix {
            OpMix::Put => target
                .put(&key(n), &workload.value)
                .await
                .map(|()| Read::Hit),
            OpMix::Get => target.get(&key(n)).await,
            OpMix::Mixed { read_ratio } => {
                if rng.random_bool(read_ratio) {
                    target.get(&key(n)).await
                } else {
                    target
                        .put(&key(n), &workload.value)
                        .await
                        .map(|()| Read::Hit)
                }
            }
            OpMix::Register => {
                let unique = shared.registered.fetch_add(1, Ordering::Relaxed);
                target.register(unique).await.map(|()| Read::Hit)
            }
            OpMix::Heartbeat => target.heartbeat(n).await,
            OpMix::Query => {
                let g = rng.random_range(0..workload.groups);
                target.query(g).await
            }
        };
        let done = Instant::now();
        let counts = if measured {
            mine.last_done = Some(done);
            &mut mine.measured
        } else {
            &mut mine.warmup
        };
        match result {
            Ok(read) => {
                match read {
                    Read::Hit => counts.ok += 1,
                    Read::Miss => counts.misses += 1,
                }
                shared.answered.fetch_add(1, Ordering::Relaxed);
                if measured {
                    let us = done.duration_since(sent).as_micros();
                    mine.latency_us
                        .saturating_record(u64::try_from(us).unwrap_or(u64::MAX));
                }
            }
            Err(status) => {
                counts.record_error(&status);
                let failed = shared.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if failed >= shared.abort_after && shared.answered.load(Ordering::Relaxed) == 0 {
                    shared.abort.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    mine
}

/// Writes every key of the key space once, `clients.len()` writes in flight, so that reads
/// find their keys. Client i writes keys i, i + n, i + 2n, ... Fails on the first error, with
/// the key and the status, since a read run over a partly filled key space would measure
/// misses rather than reads.
pub async fn prefill<T: Target>(clients: &[T], workload: &Workload) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let stride = clients.len() as u64;
    let mut tasks = JoinSet::new();
    for (i, client) in clients.iter().enumerate() {
        let mut client = client.clone();
        let value = workload.value.clone();
        let key_space = workload.key_space;
        tasks.spawn(async move {
            let mut n = i as u64;
            while n < key_space {
                let key = key(n);
                if let Err(status) = client.put(&key, &value).await {
                    return Err(anyhow::anyhow!(
                        "prefill write of {key} failed: {:?}: {}",
                        status.code(),
                        status.message()
                    ));
                }
                n += stride;
            }
            Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(start.elapsed())
}

/// Registers services `0 .. key_space` in batches of `catalog::REGISTER_BATCH`, with up to
/// `concurrency` batches in flight (clients are reused round-robin; clones share their
/// connection). Fails on the first error, as a heartbeat run over missing services would
/// measure misses rather than heartbeats.
pub async fn preregister<T: Target>(
    clients: &[T],
    workload: &Workload,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    anyhow::ensure!(!clients.is_empty(), "no client to pre-register with");
    let start = Instant::now();
    let batches = workload.key_space.div_ceil(REGISTER_BATCH);
    let tasks_n = concurrency.max(1) as u64;
    let mut tasks = JoinSet::new();
    for t in 0..tasks_n.min(batches) {
        let mut client = clients[t as usize % clients.len()].clone();
        let key_space = workload.key_space;
        tasks.spawn(async move {
            let mut b = t;
            while b < batches {
                let ns = b * REGISTER_BATCH..((b + 1) * REGISTER_BATCH).min(key_space);
                if let Err(status) = client.preregister(ns.clone()).await {
                    return Err(anyhow::anyhow!(
                        "pre-registering services {ns:?} failed: {:?}: {}",
                        status.code(),
                        status.message()
                    ));
                }
                b += tasks_n;
            }
            Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(start.elapsed())
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

#[cfg(test)]
mod tests;
