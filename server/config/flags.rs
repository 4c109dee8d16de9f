//! The command-line layer: the last of the four, so a flag beats the environment, the file and
//! the defaults.
//!
//! Every flag is an `Option`, so "not given" leaves the lower layers alone. clap's `env`
//! attribute is deliberately not used: the environment is its own layer (`env.rs`), which
//! keeps the order explicit and lets tests inject the environment. clap parses the values with
//! the same parsers as the other layers and reports a bad one naming the flag, before
//! [`super::Config::load`] runs.

use std::path::PathBuf;
use std::time::Duration;

use super::{Config, LogFormat, LogLevel, parse};

/// Command-line flags of the `konsul` binary. Settings without a flag are set through the
/// environment or the TOML file (`docs/operations.md` lists them all).
#[derive(Clone, Debug, Default, PartialEq, clap::Parser)]
#[command(
    name = "konsul",
    version,
    about = "Konsul: a replicated key/value store on Raft"
)]
pub struct Flags {
    /// TOML configuration file [env: KONSUL_CONFIG] [default: ./konsul.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Host or IP of the client listener (gRPC and REST) [env: KONSUL_HOST] [default: 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,

    /// Port of the client listener [env: KONSUL_PORT] [default: 8888]
    #[arg(long, value_parser = parse::port)]
    pub port: Option<u16>,

    /// host:port clients are redirected to when this node leads [env: KONSUL_ADVERTISE_ADDR] [default: the client listener's address]
    #[arg(long, value_name = "ADDR")]
    pub advertise_addr: Option<String>,

    /// Data directory [env: KONSUL_DATA_DIR] [default: ./data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// This node's name in the cluster [env: KONSUL_RAFT_NODE_ID] [default: node1 when standalone]
    #[arg(long, value_name = "NAME")]
    pub node_id: Option<String>,

    /// ip:port the peer (Raft) listener binds [env: KONSUL_RAFT_BIND_ADDR] [default: 127.0.0.1:7000]
    #[arg(long, value_name = "ADDR")]
    pub raft_bind_addr: Option<String>,

    /// host:port other nodes dial to reach this one [env: KONSUL_RAFT_ADVERTISE_ADDR] [default: the bind address]
    #[arg(long, value_name = "ADDR")]
    pub raft_advertise_addr: Option<String>,

    /// Cluster mode; a bare --raft-enabled means true [env: KONSUL_RAFT_ENABLED] [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = parse::boolean)]
    pub raft_enabled: Option<bool>,

    /// Initialize a new cluster with this node as its only member [env: KONSUL_RAFT_BOOTSTRAP] [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = parse::boolean)]
    pub raft_bootstrap: Option<bool>,

    /// trace, debug, info, warn or error [env: KONSUL_LOG_LEVEL] [default: info]
    #[arg(long, value_name = "LEVEL", value_parser = |s: &str| s.parse::<LogLevel>())]
    pub log_level: Option<LogLevel>,

    /// text or json [env: KONSUL_LOG_FORMAT] [default: text]
    #[arg(long, value_name = "FORMAT", value_parser = |s: &str| s.parse::<LogFormat>())]
    pub log_format: Option<LogFormat>,

    /// Forward writes received by a follower to the leader [env: KONSUL_FORWARD_TO_LEADER] [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = parse::boolean)]
    pub forward_to_leader: Option<bool>,

    /// Server-side deadline of a call that names none, 100ms to 10m [env: KONSUL_REQUEST_TIMEOUT] [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub request_timeout: Option<Duration>,

    /// TTL of a service registered without one, 1s to 24h [env: KONSUL_SERVICE_TTL] [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub service_ttl: Option<Duration>,

    /// How often the leader removes services past their deadline, 100ms to 1h [env: KONSUL_CLEANUP_INTERVAL] [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub cleanup_interval: Option<Duration>,

    /// A command other than running the node (`konsul tls init ...`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands of the `konsul` binary besides running a node.
#[derive(Clone, Debug, PartialEq, clap::Subcommand)]
pub enum Command {
    /// Certificates for TLS.
    Tls {
        /// What to do.
        #[command(subcommand)]
        action: TlsCommand,
    },
}

/// `konsul tls ...`.
#[derive(Clone, Debug, PartialEq, clap::Subcommand)]
pub enum TlsCommand {
    /// Write a development CA and a key and certificate per node (server and client use).
    Init {
        /// Node names, comma-separated (each certificate is valid for its node's name)
        #[arg(long, value_delimiter = ',', required = true)]
        nodes: Vec<String>,
        /// Directory to write ca.pem, ca-key.pem, <node>.pem and <node>-key.pem into
        #[arg(long, default_value = "./certs")]
        dir: PathBuf,
        /// Extra DNS names or IP addresses every node certificate is valid for, comma-separated
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<String>,
        /// Days the certificates are valid, 1 to 3650
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Replace files that already exist
        #[arg(long)]
        force: bool,
    },
}

impl Flags {
    /// Overrides `config` with every flag that was given.
    pub(crate) fn apply(&self, config: &mut Config) {
        fn set<T: Clone>(field: &mut T, flag: &Option<T>) {
            if let Some(value) = flag {
                *field = value.clone();
            }
        }
        set(&mut config.host, &self.host);
        set(&mut config.port, &self.port);
        set(&mut config.advertise_addr, &self.advertise_addr);
        set(&mut config.data_dir, &self.data_dir);
        set(&mut config.raft.node_id, &self.node_id);
        set(&mut config.raft.bind_addr, &self.raft_bind_addr);
        set(&mut config.raft.advertise_addr, &self.raft_advertise_addr);
        set(&mut config.raft.enabled, &self.raft_enabled);
        set(&mut config.raft.bootstrap, &self.raft_bootstrap);
        set(&mut config.log_level, &self.log_level);
        set(&mut config.log_format, &self.log_format);
        set(&mut config.forward_to_leader, &self.forward_to_leader);
        set(&mut config.request_timeout, &self.request_timeout);
        set(&mut config.catalog.service_ttl, &self.service_ttl);
        set(&mut config.catalog.cleanup_interval, &self.cleanup_interval);
    }
}

/// The long name of every flag, for the docs test.
#[cfg(test)]
pub(crate) fn names() -> Vec<String> {
    use clap::CommandFactory;
    Flags::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect()
}
