//! `konsul-bench`: a closed-loop gRPC load generator for Konsul, with a `--target etcd` mode
//! that drives etcd's v3 KV (and, for the catalog workloads, Lease) API with the very same loop, so the two can be compared in one run
//! on one machine (DESIGN.md §5, docs/benchmarks.md).
//!
//! This file holds the command line and the wiring: parse flags, open the connections, build
//! one target client per simulated client (`konsul.rs` or `etcd.rs`), optionally prefill (or,
//! for heartbeat and query, pre-register the services), run `closed_loop::run`, print a
//! `report::Report`.

mod catalog;
mod closed_loop;
mod etcd;
mod konsul;
mod report;
mod target;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use konsul_proto::v1::Consistency as KonsulConsistency;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tonic::transport::Channel;

use catalog::Shape;
use closed_loop::{OpMix, Workload};
use etcd::RegisterMode;
use report::{Report, Setup};
use target::{ConnectOptions, Target};

/// Command-line flags. Every default is printed by `--help`.
#[derive(Debug, Parser)]
#[command(
    name = "konsul-bench",
    version,
    about = "Closed-loop gRPC load generator for Konsul and etcd",
    long_about = "Each of N clients sends one request, waits for the answer, records its \
                  latency and sends the next, until the deadline. Prints ops/s, errors and \
                  p50/p99/p999/max latency."
)]
struct Args {
    /// Which server to drive.
    #[arg(long, value_enum, default_value_t = TargetKind::Konsul)]
    target: TargetKind,
    /// Comma-separated host:port list; connections are spread over it round-robin.
    /// Default: 127.0.0.1:8888 for konsul, 127.0.0.1:2379 for etcd.
    #[arg(long, value_delimiter = ',')]
    endpoints: Vec<String>,
    /// Which calls to make.
    #[arg(long, value_enum, default_value_t = Op::Put)]
    op: Op,
    /// Fraction of reads for `--op mixed`, from 0 to 1.
    #[arg(long, default_value_t = 0.5)]
    read_ratio: f64,
    /// Read consistency. etcd: strong = linearizable (its default), stale = serializable;
    /// it has no lease-based `leader` reads.
    #[arg(long, value_enum, default_value_t = ReadConsistency::Strong)]
    consistency: ReadConsistency,
    /// Simulated clients, each with exactly one request in flight.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    clients: u32,
    /// HTTP/2 connections; client i uses connection i mod M. At most --clients.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Bytes per written value.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Number of distinct keys, named bench/0 .. bench/<K-1>, picked uniformly. For
    /// heartbeat and query: the number of services registered before the run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    key_space: u64,
    /// Catalog workloads: services carry one of this many group tags; a query asks for one
    /// group (key-space / groups services).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    query_groups: u64,
    /// Catalog workloads: TTL of every registration (Konsul ttl_ms, etcd lease TTL, whole
    /// seconds); long enough that pre-registered services outlive the run.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    service_ttl: Duration,
    /// `--op register` on etcd: `lease-put` grants a lease and puts under it (a registration
    /// that expires, like Konsul's), `put` only puts.
    #[arg(long, value_enum, default_value_t = EtcdRegister::LeasePut)]
    etcd_register: EtcdRegister,
    /// Seed of the key choices, the read/write choices and the value bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Length of the measured window, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Time the loop runs before measuring starts; its calls are reported apart.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Stop after this many measured calls in total, even before the deadline.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_ops: Option<u64>,
    /// Write every key of the key space once before the run (so reads find their key).
    #[arg(long)]
    prefill: bool,
    /// Deadline of each request.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Tokio worker threads of the load generator; default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    Konsul,
    Etcd,
}

/// The calls each client makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Op {
    Put,
    Get,
    Mixed,
    /// Register a new service per call (etcd: LeaseGrant + Put, see --etcd-register).
    Register,
    /// Heartbeat a random pre-registered service (etcd: one LeaseKeepAlive round trip).
    Heartbeat,
    /// Query a random tag group of the pre-registered services (etcd: Range over a prefix).
    Query,
}

/// How `--op register` registers on etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EtcdRegister {
    LeasePut,
    Put,
}

/// Batches of services pre-registered at once before a heartbeat or query run.
const PREREGISTER_CONCURRENCY: usize = 32;

/// How fresh reads must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReadConsistency {
    /// Any node's local state.
    Stale,
    /// The leader, under its lease (Konsul only).
    Leader,
    /// Linearizable: the leader confirms leadership with a quorum first.
    Strong,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    let result = runtime
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|rt| rt.block_on(bench(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("konsul-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Validates the flags, runs the benchmark and prints its report.
async fn bench(args: Args) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.read_ratio) {
        bail!(
            "--read-ratio must be between 0 and 1, got {}",
            args.read_ratio
        );
    }
    if args.connections > args.clients {
        bail!(
            "--connections ({}) must not exceed --clients ({})",
            args.connections,
            args.clients
        );
    }
    if args.target == TargetKind::Etcd && args.consistency == ReadConsistency::Leader {
        bail!("etcd has no lease-based reads: use --consistency strong or stale");
    }
    if args.service_ttl < Duration::from_secs(1) {
        bail!("--service-ttl must be at least 1s");
    }
    if matches!(args.op, Op::Get | Op::Mixed) && !args.prefill {
        eprintln!(
            "konsul-bench: note: no --prefill: reads of keys not written before count as misses"
        );
    }
    let endpoints = if args.endpoints.is_empty() {
        vec![match args.target {
            TargetKind::Konsul => "127.0.0.1:8888".to_string(),
            TargetKind::Etcd => "127.0.0.1:2379".to_string(),
        }]
    } else {
        args.endpoints.clone()
    };

    // One master RNG: the value bytes first, then one seed per client.
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut value = vec![0u8; args.value_size];
    rng.fill_bytes(&mut value);
    let seeds: Vec<u64> = (0..args.clients).map(|_| rng.random()).collect();

    let workload = Arc::new(Workload {
        mix: match args.op {
            Op::Put => OpMix::Put,
            Op::Get => OpMix::Get,
            Op::Mixed => OpMix::Mixed {
                read_ratio: args.read_ratio,
            },
            Op::Register => OpMix::Register,
            Op::Heartbeat => OpMix::Heartbeat,
            Op::Query => OpMix::Query,
        },
        key_space: args.key_space,
        groups: args.query_groups,
        value,
        warmup: args.warmup,
        duration: args.duration,
        max_ops: args.max_ops,
    });
    let opts = ConnectOptions {
        request_timeout: args.timeout,
        connect_timeout: Duration::from_secs(5),
    };
    let channels = target::connect(&endpoints, args.connections as usize, opts).await?;
    let catalog_op = matches!(args.op, Op::Register | Op::Heartbeat | Op::Query);
    let shape = Arc::new(Shape {
        groups: args.query_groups,
        ttl: args.service_ttl,
        // Tells this run's registrations from an earlier run's on the same cluster.
        nonce: format!("{}-{}", std::process::id(), args.seed),
    });
    let setup = Setup {
        target: flag_value(args.target),
        op: flag_value(args.op),
        read_ratio: (args.op == Op::Mixed).then_some(args.read_ratio),
        consistency: flag_value(args.consistency),
        endpoints,
        clients: args.clients as usize,
        connections: args.connections as usize,
        value_size: args.value_size,
        key_space: args.key_space,
        seed: args.seed,
        prefill: args.prefill,
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        max_ops: args.max_ops,
        query_groups: catalog_op.then_some(args.query_groups),
        service_ttl_s: catalog_op.then_some(args.service_ttl.as_secs_f64()),
        etcd_register: (args.op == Op::Register && args.target == TargetKind::Etcd)
            .then(|| flag_value(args.etcd_register)),
    };
    let report = match args.target {
        TargetKind::Konsul => {
            let consistency = match args.consistency {
                ReadConsistency::Stale => KonsulConsistency::Stale,
                ReadConsistency::Leader => KonsulConsistency::Leader,
                ReadConsistency::Strong => KonsulConsistency::Strong,
            };
            let clients = per_client(&channels, args.clients, |ch| {
                konsul::Konsul::new(ch, consistency, shape.clone())
            });
            drive(clients, seeds, workload, setup).await?
        }
        TargetKind::Etcd => {
            let serializable = args.consistency == ReadConsistency::Stale;
            let register_mode = match args.etcd_register {
                EtcdRegister::LeasePut => RegisterMode::LeasePut,
                EtcdRegister::Put => RegisterMode::Put,
            };
            let clients = per_client(&channels, args.clients, |ch| {
                etcd::Etcd::new(ch, serializable, shape.clone(), register_mode, args.timeout)
            });
            drive(clients, seeds, workload, setup).await?
        }
    };
    match args.output {
        Output::Text => print!("{}", report.to_text()),
        Output::Json => println!("{}", report.to_json()),
    }
    if report.result.ops == 0 {
        bail!(
            "no call succeeded ({} failed); see errors above",
            report.result.errors + report.result.warmup_errors
        );
    }
    Ok(())
}

/// The spelling of `value` on the command line, so that reports use the flags' own words.
fn flag_value(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}

/// Builds `clients` targets, client i on channel i mod M.
fn per_client<T>(channels: &[Channel], clients: u32, build: impl Fn(Channel) -> T) -> Vec<T> {
    (0..clients as usize)
        .map(|i| build(channels[i % channels.len()].clone()))
        .collect()
}

/// Prefills if asked (pre-registers services for heartbeat and query), runs the loop and
/// summarises it.
async fn drive<T: Target>(
    clients: Vec<T>,
    seeds: Vec<u64>,
    workload: Arc<Workload>,
    setup: Setup,
) -> anyhow::Result<Report> {
    if setup.prefill {
        let took = closed_loop::prefill(&clients, &workload).await?;
        eprintln!(
            "konsul-bench: prefilled {} keys in {:.2} s",
            workload.key_space,
            took.as_secs_f64()
        );
    }
    if workload.mix.needs_services() {
        let took = closed_loop::preregister(&clients, &workload, PREREGISTER_CONCURRENCY).await?;
        eprintln!(
            "konsul-bench: pre-registered {} services in {:.2} s",
            workload.key_space,
            took.as_secs_f64()
        );
    }
    let tally = closed_loop::run(clients, seeds, workload).await?;
    Ok(Report::new(setup, tally))
}
