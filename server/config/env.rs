//! The `KONSUL_*` environment layer: third of the four layers, over the TOML file and under
//! the command-line flags.
//!
//! [`VARS`] is the single list of variables: the layer, the docs test and the "unknown
//! variable" warning all read it, so a variable cannot be wired without being listed. A value
//! that does not parse is an [`Error::Config`] that names the variable and quotes the value.

use std::path::PathBuf;

use super::{Config, parse};
use crate::{Error, Result};

/// Names the TOML file to read when `--config` is not given.
pub(crate) const CONFIG_VAR: &str = "KONSUL_CONFIG";

/// What kind of value a variable holds; tells tests which values must be rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Free text (an address or a name); checked by `validate`, not by the parser.
    Text,
    /// A directory; empty means "unset".
    Path,
    /// `true/false/1/0/yes/no`.
    Bool,
    /// 1–65535.
    Port,
    /// A whole number.
    Count,
    /// A Go-style duration.
    Duration,
    /// `trace|debug|info|warn|error`.
    LogLevel,
    /// `text|json`.
    LogFormat,
    /// A comma-separated list.
    List,
}

/// One environment variable and the field it sets.
pub(crate) struct EnvVar {
    /// The variable's name, e.g. `KONSUL_RAFT_HEARTBEAT_TIMEOUT`.
    pub(crate) name: &'static str,
    /// The TOML key of the same setting, e.g. `raft.heartbeat_timeout`.
    pub(crate) key: &'static str,
    /// The kind of value (read by the tests, which derive the bad values to try from it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) kind: Kind,
    /// Parses the value into the config; the error message quotes the value.
    pub(crate) apply: fn(&mut Config, &str) -> std::result::Result<(), String>,
}

/// Declares an [`EnvVar`] whose value goes through `$parse` into the field `$($field).+`;
/// the field path is also the TOML key.
macro_rules! var {
    ($name:literal, $kind:ident, $parse:expr, $($field:ident).+) => {
        EnvVar {
            name: $name,
            key: stringify!($($field).+),
            kind: Kind::$kind,
            apply: |c, v| {
                c.$($field).+ = ($parse)(v)?;
                Ok(())
            },
        }
    };
}

fn text(v: &str) -> std::result::Result<String, String> {
    Ok(v.to_string())
}

fn path(v: &str) -> std::result::Result<PathBuf, String> {
    Ok(PathBuf::from(v))
}

fn optional_path(v: &str) -> std::result::Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

fn join_list(v: &str) -> std::result::Result<Vec<String>, String> {
    Ok(parse::join_list(v))
}

/// Every setting's variable, in the order of the docs tables.
#[rustfmt::skip]
pub(crate) static VARS: &[EnvVar] = &[
    var!("KONSUL_HOST",                      Text,      text,            host),
    var!("KONSUL_PORT",                      Port,      parse::port,     port),
    var!("KONSUL_ADVERTISE_ADDR",            Text,      text,            advertise_addr),
    var!("KONSUL_DATA_DIR",                  Path,      path,            data_dir),
    var!("KONSUL_LOG_LEVEL",                 LogLevel,  str::parse,      log_level),
    var!("KONSUL_LOG_FORMAT",                LogFormat, str::parse,      log_format),
    var!("KONSUL_FORWARD_TO_LEADER",         Bool,      parse::boolean,  forward_to_leader),
    var!("KONSUL_REQUEST_TIMEOUT",           Duration,  parse::duration, request_timeout),
    var!("KONSUL_MAX_KEY_BYTES",             Count,     parse::number,   limits.max_key_bytes),
    var!("KONSUL_MAX_VALUE_BYTES",           Count,     parse::number,   limits.max_value_bytes),
    var!("KONSUL_MAX_BATCH_KV",              Count,     parse::number,   limits.max_batch_kv),
    var!("KONSUL_MAX_BATCH_SERVICES",        Count,     parse::number,   limits.max_batch_services),
    var!("KONSUL_MAX_REQUEST_BYTES",         Count,     parse::number,   limits.max_request_bytes),
    var!("KONSUL_MAX_QUEUED_WRITES",         Count,     parse::number,   limits.max_queued_writes),
    var!("KONSUL_SERVICE_TTL",               Duration,  parse::duration, catalog.service_ttl),
    var!("KONSUL_CLEANUP_INTERVAL",          Duration,  parse::duration, catalog.cleanup_interval),
    var!("KONSUL_RAFT_ENABLED",              Bool,      parse::boolean,  raft.enabled),
    var!("KONSUL_RAFT_NODE_ID",              Text,      text,            raft.node_id),
    var!("KONSUL_RAFT_BIND_ADDR",            Text,      text,            raft.bind_addr),
    var!("KONSUL_RAFT_ADVERTISE_ADDR",       Text,      text,            raft.advertise_addr),
    var!("KONSUL_RAFT_DATA_DIR",             Path,      optional_path,   raft.data_dir),
    var!("KONSUL_RAFT_BOOTSTRAP",            Bool,      parse::boolean,  raft.bootstrap),
    var!("KONSUL_RAFT_HEARTBEAT_TIMEOUT",    Duration,  parse::duration, raft.heartbeat_timeout),
    var!("KONSUL_RAFT_ELECTION_TIMEOUT",     Duration,  parse::duration, raft.election_timeout),
    var!("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", Duration,  parse::duration, raft.leader_lease_timeout),
    var!("KONSUL_RAFT_COMMIT_TIMEOUT",       Duration,  parse::duration, raft.commit_timeout),
    var!("KONSUL_RAFT_SNAPSHOT_INTERVAL",    Duration,  parse::duration, raft.snapshot_interval),
    var!("KONSUL_RAFT_SNAPSHOT_THRESHOLD",   Count,     parse::number,   raft.snapshot_threshold),
    var!("KONSUL_RAFT_SNAPSHOT_RETENTION",   Count,     parse::number,   raft.snapshot_retention),
    var!("KONSUL_RAFT_MAX_APPEND_ENTRIES",   Count,     parse::number,   raft.max_append_entries),
    var!("KONSUL_RAFT_TRAILING_LOGS",        Count,     parse::number,   raft.trailing_logs),
    var!("KONSUL_RAFT_LOG_SEGMENT_BYTES",    Count,     parse::number,   raft.log_segment_bytes),
    var!("KONSUL_RAFT_LOG_LEVEL",            LogLevel,  str::parse,      raft.log_level),
    var!("KONSUL_RAFT_JOIN",                 List,      join_list,       raft.join),
    var!("KONSUL_RAFT_ALLOWED_CIDRS",        List,      join_list,       raft.allowed_cidrs),
    var!("KONSUL_RAFT_DISCOVERY_DNS_SERVER", Text,      text,            raft.discovery_dns_server),
];

/// Applies every variable that is set, in [`VARS`] order; the first bad value stops startup.
pub(crate) fn apply(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    for var in VARS {
        if let Some(value) = env(var.name) {
            (var.apply)(config, &value)
                .map_err(|message| Error::Config(format!("{}: {message}", var.name)))?;
        }
    }
    Ok(())
}

/// The variable that sets TOML key `key`, for error messages that name both.
pub(crate) fn var_for_key(key: &str) -> Option<&'static str> {
    VARS.iter().find(|v| v.key == key).map(|v| v.name)
}

/// Returns the `KONSUL_*` names among `names` that Konsul does not know, sorted, so `main`
/// can warn about a misspelt variable (which would otherwise be ignored without a word).
/// Pass it the names of the process environment.
pub fn unknown_env_vars<I, S>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut unknown: Vec<String> = names
        .into_iter()
        .map(|n| n.as_ref().to_string())
        .filter(|n| n.starts_with("KONSUL_"))
        .filter(|n| n != CONFIG_VAR && !VARS.iter().any(|v| v.name == n))
        .collect();
    unknown.sort();
    unknown
}
