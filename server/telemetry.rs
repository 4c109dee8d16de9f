//! Logging setup for the binary: level from KONSUL_LOG_LEVEL (openraft's own chatter from
//! KONSUL_RAFT_LOG_LEVEL), format text or json from KONSUL_LOG_FORMAT. RUST_LOG, when set,
//! overrides both levels.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global tracing subscriber. Called once by `main`; tests don't call it.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},openraft={}",
            config.log_level.as_str(),
            config.raft.log_level.as_str()
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
