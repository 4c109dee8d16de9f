//! The node's configuration: one typed tree, read once at startup.
//!
//! ```text
//!  main ── Flags::parse() ──► Config::load(&flags, env) ──► Config::validate() ──► Server::start
//!            defaults ◄ TOML file ◄ KONSUL_* environment ◄ command-line flags (last one wins)
//! ```
//!
//! Nothing else in the server reads the environment or a file for settings: `main` parses the
//! [`Flags`], calls [`Config::load`], and hands the validated [`Config`] to the server, which
//! passes the pieces down (`limits` to the API layer, [`Config::to_openraft`] and the rest of
//! [`RaftConfig`] to `raft/`). Tests start from [`Config::default`].
//!
//! The layers, each overriding the one before it:
//! 1. [`Config::default`]: a single node on loopback with data in `./data`.
//! 2. A TOML file (`--config`, else `KONSUL_CONFIG`, else `./konsul.toml` if it exists) whose
//!    keys are the field names below; unknown keys are an error.
//! 3. `KONSUL_*` environment variables (the table in `env.rs`, the names of the Go server).
//! 4. Command-line [`Flags`].
//!
//! A value that does not parse stops startup with [`Error::Config`] naming the variable, flag
//! or file and key, and quoting the value; nothing falls back to a default silently (the Go
//! server did: typos became surprises). `docs/operations.md` lists every setting.

mod advertise;
mod env;
mod flags;
mod join_entry;
mod logging;
pub(crate) mod parse;
mod raft_mapping;
#[cfg(test)]
mod tests;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use env::unknown_env_vars;
pub use flags::{Command, Flags, TlsCommand};
pub(crate) use join_entry::parse_address;
pub use join_entry::{EXEC_PREFIX, JoinEntry, SRV_PREFIX};
pub use logging::{LogFormat, LogLevel};
pub(crate) use validate::split_host_port;

/// The file read when neither `--config` nor `KONSUL_CONFIG` names one, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "konsul.toml";

/// The name a standalone node uses when `raft.node_id` is not set.
pub const STANDALONE_NODE_ID: &str = "node1";

/// Everything a Konsul node is told at startup. Field names are the TOML keys; each field's
/// doc gives its environment variable, unit and default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Host or IP the client port (gRPC and REST) listens on. `KONSUL_HOST`, `--host`.
    /// Default `127.0.0.1`: loopback, so an unconfigured node is not reachable from a network
    /// (the Go server listened on all interfaces). `0.0.0.0` or `::` listen everywhere.
    pub host: String,
    /// TCP port of the client listener, 1–65535. `KONSUL_PORT`, `--port`. Default 8888.
    pub port: u16,
    /// `host:port` clients are sent to when this node leads (REST redirects, the not-leader
    /// metadata, cluster status). `KONSUL_ADVERTISE_ADDR`, `--advertise-addr`. Default
    /// empty: the client listener's address, or, when `host` listens on all interfaces,
    /// the peer advertise address's host with the client port. Read it through
    /// [`Config::client_advertise`].
    pub advertise_addr: String,
    /// Directory for the node's data. `KONSUL_DATA_DIR`, `--data-dir`. Default `./data`.
    /// The Raft data lives in `<data_dir>/raft` unless `raft.data_dir` says otherwise.
    pub data_dir: PathBuf,
    /// Verbosity of the server's logs. `KONSUL_LOG_LEVEL`, `--log-level`. Default `info`.
    pub log_level: LogLevel,
    /// Log line format. `KONSUL_LOG_FORMAT`, `--log-format`. Default `text`.
    pub log_format: LogFormat,
    /// Whether a follower forwards writes to the leader instead of answering "not leader"
    /// (gRPC `UNAVAILABLE` / REST 307). `KONSUL_FORWARD_TO_LEADER`, `--forward-to-leader`.
    /// Default false.
    pub forward_to_leader: bool,
    /// How long a client call may take on the server when it names no deadline of its own
    /// (every REST call; a gRPC call's `grpc-timeout` wins when shorter). A write still
    /// unanswered then ends with "outcome unknown", a read with a timeout.
    /// `KONSUL_REQUEST_TIMEOUT`, `--request-timeout`. Duration, default `10s`, between
    /// `100ms` and `10m`.
    #[serde(with = "parse::duration_serde")]
    pub request_timeout: Duration,
    /// Request size limits (`[limits]` table).
    pub limits: Limits,
    /// Service catalog liveness settings (`[catalog]` table).
    pub catalog: CatalogConfig,
    /// Raft consensus settings (`[raft]` table).
    pub raft: RaftConfig,
}

/// Request size limits, enforced by the API layer before anything reaches the Raft log. They
/// bound the size of a log entry, and therefore the memory and disk a single client can
/// claim. The one set of limits and defaults: the API checks input against this type
/// (`api/validate.rs` adds the checks to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest key, in bytes of UTF-8. `KONSUL_MAX_KEY_BYTES`. Default 1024 (1 KiB).
    pub max_key_bytes: usize,
    /// Largest value, in bytes. `KONSUL_MAX_VALUE_BYTES`. Default 1048576 (1 MiB). Must be
    /// smaller than `max_request_bytes`.
    pub max_value_bytes: usize,
    /// Most KV items in one batch request. `KONSUL_MAX_BATCH_KV`. Default 1000.
    pub max_batch_kv: usize,
    /// Most services in one batch request. `KONSUL_MAX_BATCH_SERVICES`. Default 100.
    pub max_batch_services: usize,
    /// Largest request body or gRPC message accepted on the client port, in bytes.
    /// `KONSUL_MAX_REQUEST_BYTES`. Default 4194304 (4 MiB).
    pub max_request_bytes: usize,
    /// Most writes the leader holds waiting for the Raft log; a write that finds the queue
    /// full is refused at once (RESOURCE_EXHAUSTED / 429, nothing written).
    /// `KONSUL_MAX_QUEUED_WRITES`. Default 16384, at least 1.
    pub max_queued_writes: usize,
}

/// Service liveness: how long a registration lives without a heartbeat, and how often the
/// leader looks for services past their deadline. The Go server's names and TTL default; the
/// sweep is a replicated command proposed by the leader (`server/leader/expiry.rs`), not a
/// per-node timer, so it can run far more often than the Go server's 60s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// TTL a registration gets when it gives none (`ttl_ms` 0). `KONSUL_SERVICE_TTL`,
    /// `--service-ttl`. Duration, default `30s`, between `1s` and `24h` (the range a
    /// registration's own TTL must fall in).
    #[serde(with = "parse::duration_serde")]
    pub service_ttl: Duration,
    /// How often the leader checks for services past their deadline and, if it finds any,
    /// proposes their removal. `KONSUL_CLEANUP_INTERVAL`, `--cleanup-interval`. Duration,
    /// default `1s`, between `100ms` and `1h`. A service outlives its deadline by at most
    /// about this long (reads hide it from the deadline on).
    #[serde(with = "parse::duration_serde")]
    pub cleanup_interval: Duration,
}

/// Raft settings. The names and defaults are those of the Go server (hashicorp/raft style);
/// [`Config::to_openraft`] documents how they become openraft's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    /// Cluster mode. `KONSUL_RAFT_ENABLED`, `--raft-enabled`. Default false: the node runs as
    /// a one-node cluster that initializes itself and never joins others.
    pub enabled: bool,
    /// This node's name, unique in the cluster and stable across restarts; letters, digits,
    /// `.`, `_` and `-`, at most 64 bytes. `KONSUL_RAFT_NODE_ID`, `--node-id`. Default empty:
    /// required when `enabled`, and [`STANDALONE_NODE_ID`] (`node1`) otherwise. Read it
    /// through [`Config::node_id`].
    pub node_id: String,
    /// `ip:port` the peer (Raft) listener binds. `KONSUL_RAFT_BIND_ADDR`, `--raft-bind-addr`.
    /// Default `127.0.0.1:7000`: loopback, because the peer port accepts log entries from
    /// anyone who can reach it (the Go server bound `0.0.0.0:7000`).
    pub bind_addr: String,
    /// `host:port` other nodes use to reach this one. `KONSUL_RAFT_ADVERTISE_ADDR`,
    /// `--raft-advertise-addr`. Default empty: use `bind_addr`. Read it through
    /// [`Config::raft_advertise`].
    pub advertise_addr: String,
    /// Directory of the Raft log, vote and snapshots. `KONSUL_RAFT_DATA_DIR`. Default unset:
    /// `<data_dir>/raft`, so it follows `data_dir`. Read it through [`Config::raft_data_dir`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Whether this node initializes a new cluster containing only itself, on first start.
    /// `KONSUL_RAFT_BOOTSTRAP`, `--raft-bootstrap`. Default false. Ignored when standalone
    /// (a standalone node always initializes itself).
    pub bootstrap: bool,
    /// Sets how often the leader sends heartbeats: five times per period (every 200ms by
    /// default). A follower does not act on it: it stands for election only after
    /// `election_timeout` without a leader (hashicorp/raft used this value for that wait).
    /// `KONSUL_RAFT_HEARTBEAT_TIMEOUT`. Duration, default `1s`, at least `5ms`.
    #[serde(with = "parse::duration_serde")]
    pub heartbeat_timeout: Duration,
    /// Base election timeout: a follower waits a random time between one and two of these
    /// without a leader before it stands for election. `KONSUL_RAFT_ELECTION_TIMEOUT`.
    /// Duration, default `1s`, at least `heartbeat_timeout`.
    #[serde(with = "parse::duration_serde")]
    pub election_timeout: Duration,
    /// How long after a quorum last acknowledged it a leader still serves `default`
    /// consistency reads locally. `KONSUL_RAFT_LEADER_LEASE_TIMEOUT`. Duration, default
    /// `500ms`; more than the heartbeat interval (`heartbeat_timeout / 5`) and at most
    /// `heartbeat_timeout`.
    #[serde(with = "parse::duration_serde")]
    pub leader_lease_timeout: Duration,
    /// hashicorp/raft's idle time before the leader pushes the commit index to followers.
    /// `KONSUL_RAFT_COMMIT_TIMEOUT`. Duration, default `50ms`. Accepted for compatibility;
    /// openraft pushes a new commit index at once, so nothing uses it.
    #[serde(with = "parse::duration_serde")]
    pub commit_timeout: Duration,
    /// A snapshot every interval when anything was applied since the last one (in addition
    /// to `snapshot_threshold`). `KONSUL_RAFT_SNAPSHOT_INTERVAL`. Duration, default `120s`.
    #[serde(with = "parse::duration_serde")]
    pub snapshot_interval: Duration,
    /// Log entries applied since the last snapshot that trigger a new one.
    /// `KONSUL_RAFT_SNAPSHOT_THRESHOLD`. Count, default 8192, at least 1.
    pub snapshot_threshold: u64,
    /// Snapshots kept on disk. `KONSUL_RAFT_SNAPSHOT_RETENTION`. Count, default 2, at least 1.
    pub snapshot_retention: u32,
    /// Most log entries in one AppendEntries RPC. `KONSUL_RAFT_MAX_APPEND_ENTRIES`. Count,
    /// default 64, at least 1.
    pub max_append_entries: u64,
    /// Log entries kept behind a snapshot, so a slightly lagging follower catches up from the
    /// log instead of a full snapshot. `KONSUL_RAFT_TRAILING_LOGS`. Count, default 10240.
    pub trailing_logs: u64,
    /// Size of each (preallocated) Raft log segment file. `KONSUL_RAFT_LOG_SEGMENT_BYTES`. Count,
    /// default 64 MiB, at least 2 x (4 MiB + `limits.max_request_bytes`), at most 1 GiB.
    pub log_segment_bytes: u64,
    /// Verbosity of the openraft library's own logs. `KONSUL_RAFT_LOG_LEVEL`. Default `warn`:
    /// its `info` lines are internal state dumps; Konsul logs the cluster events itself.
    pub log_level: LogLevel,
    /// Where to find existing members to join on start. `KONSUL_RAFT_JOIN`, comma-separated.
    /// Default empty. Each entry is `host:port` (an IP, or a DNS name standing for all its
    /// A/AAAA records), `srv:<name>` (SRV records) or `exec:<command>` (prints `host:port`
    /// lines); see [`crate::discovery`]. A node that is not bootstrapping keeps trying them
    /// until it is a member, so the order nodes start in does not matter.
    pub join: Vec<String>,
    /// `ip:port` of the DNS server that resolves `raft.join` names (UDP; TCP for long answers).
    /// `KONSUL_RAFT_DISCOVERY_DNS_SERVER`. Default empty: the system's (`/etc/resolv.conf`).
    /// Lets discovery use a cluster-internal DNS server without changing the host's resolver.
    pub discovery_dns_server: String,
    /// Networks peers may connect from: CIDRs (`10.0.0.0/24`, `fd00::/64`) or single
    /// addresses. `KONSUL_RAFT_ALLOWED_CIDRS`, comma-separated. Default empty: any address.
    /// A connection to the peer port from anywhere else is closed at once, before any byte
    /// of it is read (so before a TLS handshake, once peer TLS exists).
    pub allowed_cidrs: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_string(),
            advertise_addr: String::new(),
            port: 8888,
            data_dir: PathBuf::from("./data"),
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            forward_to_leader: false,
            request_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            catalog: CatalogConfig::default(),
            raft: RaftConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_batch_kv: 1000,
            max_batch_services: 100,
            max_request_bytes: 4 * 1024 * 1024,
            max_queued_writes: 16 * 1024,
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            service_ttl: Duration::from_secs(30),
            cleanup_interval: Duration::from_secs(1),
        }
    }
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            node_id: String::new(),
            bind_addr: "127.0.0.1:7000".to_string(),
            advertise_addr: String::new(),
            data_dir: None,
            bootstrap: false,
            heartbeat_timeout: Duration::from_secs(1),
            election_timeout: Duration::from_secs(1),
            leader_lease_timeout: Duration::from_millis(500),
            commit_timeout: Duration::from_millis(50),
            snapshot_interval: Duration::from_secs(120),
            snapshot_threshold: 8192,
            snapshot_retention: 2,
            max_append_entries: 64,
            trailing_logs: 10240,
            log_segment_bytes: crate::raft::log_store::DEFAULT_SEGMENT_BYTES,
            log_level: LogLevel::Warn,
            join: Vec::new(),
            allowed_cidrs: Vec::new(),
            discovery_dns_server: String::new(),
        }
    }
}

impl Config {
    /// Builds the configuration from its layers (see the module docs) and validates it.
    ///
    /// `env` looks up one environment variable; `main` passes `|k| std::env::var(k).ok()`,
    /// tests pass a map, so no test touches the process environment.
    pub fn load(args: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut config = match config_file(args, env) {
            Some(path) => Config::from_file(&path)?,
            None => Config::default(),
        };
        env::apply(&mut config, env)?;
        args.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file over the defaults. Does not validate: later layers may still fix
    /// what the file leaves invalid.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// Parses TOML text over the defaults; `origin` (usually the file path) starts every error
    /// message. Does not validate.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(origin, text, &e)))
    }

    /// The client listener's address, `host:port` (`[v6]:port` for an IPv6 host).
    pub fn client_addr(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    /// The client address this node advertises, given where its client listener listens
    /// and the peer address it advertises (`advertise.rs`).
    pub fn client_advertise(&self, listening: std::net::SocketAddr, peer: &str) -> String {
        advertise::client(self, listening, peer)
    }

    /// The peer address other nodes dial: `raft.advertise_addr`, or `raft.bind_addr` when that
    /// is empty. [`Config::validate`] rejects an unspecified IP (`0.0.0.0`, `::`) here in
    /// cluster mode, since no peer can dial it.
    pub fn raft_advertise(&self) -> String {
        if self.raft.advertise_addr.is_empty() {
            self.raft.bind_addr.clone()
        } else {
            self.raft.advertise_addr.clone()
        }
    }

    /// The Raft data directory: `raft.data_dir`, or `<data_dir>/raft` when unset.
    pub fn raft_data_dir(&self) -> PathBuf {
        match &self.raft.data_dir {
            Some(dir) => dir.clone(),
            None => self.data_dir.join("raft"),
        }
    }

    /// This node's name: `raft.node_id`, or [`STANDALONE_NODE_ID`] when it is empty (which
    /// [`Config::validate`] allows only when Raft clustering is disabled).
    pub fn node_id(&self) -> &str {
        if self.raft.node_id.is_empty() {
            STANDALONE_NODE_ID
        } else {
            &self.raft.node_id
        }
    }
}

/// The TOML file to read: `--config`, else `KONSUL_CONFIG`, else `./konsul.toml` if it exists.
/// A file named explicitly must exist (reading it reports the error); the implicit one is
/// optional.
fn config_file(args: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = &args.config {
        return Some(path.clone());
    }
    if let Some(path) = env(env::CONFIG_VAR).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let implicit = Path::new(DEFAULT_CONFIG_FILE);
    implicit.is_file().then(|| implicit.to_path_buf())
}

/// Turns a TOML error into one line: `<origin>: <table.key>: <message> (line N)`. toml reports
/// a byte span but not the key path, so the key is read back from the offending line and the
/// nearest `[table]` header above it.
fn describe_toml_error(origin: &str, text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim_end();
    let Some(span) = err.span() else {
        return format!("{origin}: {message}");
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no - 1).copied().unwrap_or("");
    let key = match line.split_once('=') {
        Some((key, _)) if !line.trim_start().starts_with('[') => key.trim(),
        _ => return format!("{origin}: line {line_no}: {message}"),
    };
    let table = lines[..line_no - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    match table {
        Some(table) => format!("{origin}: {table}.{key}: {message} (line {line_no})"),
        None => format!("{origin}: {key}: {message} (line {line_no})"),
    }
}

/// `host:port`, bracketing an IPv6 literal.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
