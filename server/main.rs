//! The `konsul` binary: flags → Config → tracing → Server::start, then wait for SIGTERM or
//! SIGINT and shut down cleanly. Everything else lives in the library.

use clap::Parser;
use konsul::config::{Config, Flags};
use konsul::deps::Deps;
use konsul::server::{Listeners, Server, VERSION};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    let config = match Config::load(&flags, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("konsul: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    konsul::telemetry::init(&config);
    for name in konsul::config::unknown_env_vars(std::env::vars().map(|(k, _)| k)) {
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
    let mut server = Server::start(config, Deps::production(), listeners).await?;
    println!(
        "konsul {VERSION} node {} listening: gRPC+REST on {}, Raft peers on {}",
        server.node().member().name,
        server.client_addr(),
        server.raft_addr()
    );
    tokio::select! {
        res = server.wait() => return res,
        _ = shutdown => {}
    }
    tracing::info!("shutting down: draining calls in flight, then stopping raft");
    server.shutdown().await
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
