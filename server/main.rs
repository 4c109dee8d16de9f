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
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down: draining calls in flight, then stopping raft");
    server.shutdown().await
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
