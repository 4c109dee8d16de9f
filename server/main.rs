//! The `konsul` binary: flags → Config → tracing → Server::start, then wait for SIGTERM or
//! SIGINT and shut down cleanly. Everything else lives in the library.

use clap::Parser;
use konsul::config::{Command, Config, Flags, TlsCommand};
use konsul::deps::Clock;
use konsul::server::{Listeners, Server, VERSION};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    if let Some(command) = &flags.command {
        return run_command(command);
    }
    let config = match Config::load(&flags, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("konsul: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    konsul::telemetry::init(&config);
    for name in konsul::config::unknown_env_vars(std::env::vars().map(|(k, _)| k)) {
        #[cfg(feature = "failpoints")]
        if name.starts_with(faulty::PREFIX) {
            continue;
        }
        tracing::warn!("ignoring unknown environment variable {name}: not a Konsul setting");
    }
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("konsul: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> konsul::Result<()> {
    // Register the signal handlers before anyone can learn we are up (the startup line,
    // readiness): a signal that arrived in between would otherwise kill the process with
    // the default action instead of a clean shutdown.
    let shutdown = shutdown_signal()?;
    let listeners = Listeners::bind(&config).await?;
    #[cfg(not(feature = "failpoints"))]
    let deps = konsul::deps::Deps::production();
    #[cfg(feature = "failpoints")]
    let deps = faulty::deps()?;
    let mut server = Server::start(config, deps, listeners).await?;
    println!(
        "konsul {VERSION} node {} listening: gRPC+REST on {}, Raft peers on {}",
        server.node().member().name,
        server.client_addr(),
        server.raft_addr()
    );
    // A Raft core that stopped by itself (it panicked, or the log's disk failed) leaves a
    // node that answers every write "raft stopped": exit non-zero with the cause as the last
    // line, so a supervisor restarts the process instead of leaving it half alive.
    let node = server.node().clone();
    tokio::select! {
        res = server.wait() => return res,
        cause = node.raft_stopped() => {
            tracing::error!(cause = %cause, "the Raft core stopped; exiting so the node can be restarted");
            let _ = server.shutdown().await;
            return Err(konsul::Error::Internal(format!("the Raft core stopped: {cause}")));
        }
        _ = shutdown => {}
    }
    tracing::info!("shutting down: draining calls in flight, then stopping raft");
    server.shutdown().await
}

/// Runs a command other than the node itself; bad input exits 2 naming the flag.
fn run_command(command: &Command) -> std::process::ExitCode {
    let Command::Tls {
        action:
            TlsCommand::Init {
                nodes,
                dir,
                hosts,
                days,
                force,
            },
    } = command;
    let request = konsul::tls::init::InitRequest {
        nodes: nodes.clone(),
        dir: dir.clone(),
        hosts: hosts.clone(),
        days: *days,
        force: *force,
    };
    match konsul::tls::init::init(&request, konsul::deps::SystemClock.now()) {
        Ok(written) => {
            println!("wrote {}", written.ca_cert.display());
            for (name, cert, key) in written.nodes {
                println!("wrote {} and {} for {name}", cert.display(), key.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e @ konsul::Error::InvalidArgument(_)) => {
            eprintln!("konsul tls init: {e}");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("konsul tls init: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Registers SIGTERM and SIGINT now and returns a future that resolves on either.
#[cfg(unix)]
fn shutdown_signal() -> konsul::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let handler = |kind: SignalKind, name: &str| {
        signal(kind)
            .map_err(|e| konsul::Error::Internal(format!("installing the {name} handler: {e}")))
    };
    let mut term = handler(SignalKind::terminate(), "SIGTERM")?;
    let mut int = handler(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> konsul::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Test builds only (`--features failpoints`): the seams with fault control, set up from
/// `KONSUL_FAULT_*` variables and `FAILPOINTS` (see `konsul::faults`).
#[cfg(feature = "failpoints")]
mod faulty {
    use konsul::deps::{Deps, OffsetClock, Routes};
    use konsul::faults::FaultControl;

    /// Prefix of the variables read here (never Konsul settings).
    pub const PREFIX: &str = "KONSUL_FAULT_";

    /// `KONSUL_FAULT_ROUTES=from=to,...` (dial routes), `KONSUL_FAULT_CLOCK_OFFSET_MS`,
    /// `FAILPOINTS=name=actions;...`; all may be changed later with `PUT /debug/faults`.
    pub fn deps() -> konsul::Result<Deps> {
        let bad = |var: &str, v: &str| konsul::Error::Config(format!("{var}: bad value {v:?}"));
        let offset = match std::env::var("KONSUL_FAULT_CLOCK_OFFSET_MS") {
            Ok(v) => v
                .parse::<i64>()
                .map_err(|_| bad("KONSUL_FAULT_CLOCK_OFFSET_MS", &v))?,
            Err(_) => 0,
        };
        let routes = Routes::default();
        if let Ok(v) = std::env::var("KONSUL_FAULT_ROUTES") {
            for pair in v.split(',').filter(|p| !p.is_empty()) {
                let (from, to) = pair
                    .split_once('=')
                    .ok_or_else(|| bad("KONSUL_FAULT_ROUTES", pair))?;
                routes.set(from, Some(to));
            }
        }
        // The scenario reads FAILPOINTS; it lives as long as the process.
        std::mem::forget(fail::FailScenario::setup());
        let clock = OffsetClock::new(offset);
        let mut deps = Deps::routed(clock.clone(), routes.clone());
        deps.faults = Some(FaultControl { clock, routes });
        Ok(deps)
    }
}
