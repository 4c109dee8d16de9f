//! The last step of loading: [`Config::validate`] checks the assembled tree as a whole, after
//! every layer has had its say, so a rule like "election timeout ≥ heartbeat timeout" is
//! judged on the final values whichever layers set them. It reports every problem at once,
//! each naming the TOML key and its environment variable.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::JoinEntry;
use super::{Config, env, parse::format_duration};
use crate::api::catalog_validate::{MAX_TTL_MS, MIN_TTL_MS};
use crate::{Error, Result};

/// The largest `limits.max_request_bytes`: half the largest peer message
/// (`raft::network::MAX_PEER_MESSAGE_BYTES`), leaving room for an entry's framing.
pub const MAX_REQUEST_BYTES_CAP: usize = crate::raft::network::MAX_PEER_MESSAGE_BYTES / 2;

/// The shortest Raft timer accepted. Below a few milliseconds the timers fire faster than a
/// loaded machine schedules tasks, and the heartbeat interval (a fifth of the heartbeat
/// timeout, in whole milliseconds) would round to zero.
pub(crate) const MIN_RAFT_TIMEOUT: Duration = Duration::from_millis(5);

/// Range of `catalog.service_ttl`: the range a registration's own TTL must fall in, so the
/// default is always a TTL a client could have asked for.
pub(crate) const SERVICE_TTL_RANGE: (Duration, Duration) = (
    Duration::from_millis(MIN_TTL_MS),
    Duration::from_millis(MAX_TTL_MS),
);

/// Range of `catalog.cleanup_interval`: below 100ms the leader would propose an entry per
/// expired service almost as fast as heartbeats arrive; above an hour, dead services would
/// linger in memory and snapshots long after reads stopped showing them.
pub(crate) const CLEANUP_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(3600));

/// Range of `request_timeout`: under 100ms a loaded leader could not commit a write in
/// time; over 10 minutes a client that went away would hold server resources far too long.
pub(crate) const REQUEST_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(600));

/// Largest Raft log segment accepted: a bigger one only makes each preallocation longer.
pub(crate) const MAX_LOG_SEGMENT_BYTES: u64 = 1 << 30;

/// Longest node name, in bytes. The name travels in gRPC metadata and log lines.
pub(crate) const MAX_NODE_ID_BYTES: usize = 64;

impl Config {
    /// Checks that the configuration is complete and consistent; the error lists every
    /// problem found, naming each setting by TOML key and environment variable. Also runs
    /// openraft's own checks on [`Config::to_openraft`]'s result.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Problems::default();
        self.check_listener(&mut problems);
        self.check_limits(&mut problems);
        self.check_catalog(&mut problems);
        self.check_raft_identity(&mut problems);
        self.check_raft_timing(&mut problems);
        if !problems.0.is_empty() {
            return Err(Error::Config(problems.0.join("; ")));
        }
        self.to_openraft().map(|_| ())
    }

    fn check_listener(&self, p: &mut Problems) {
        if self.host.trim().is_empty() {
            p.add(
                "host",
                "must not be empty (use 0.0.0.0 or :: to listen on all interfaces)",
            );
        } else if self.host.contains(char::is_whitespace) {
            p.add("host", format!("{:?} contains whitespace", self.host));
        }
        if !self.advertise_addr.is_empty() && split_host_port(&self.advertise_addr).is_none() {
            p.add(
                "advertise_addr",
                format!(
                    "{:?} is not host:port (e.g. 10.0.0.5:8888 or node1.example:8888)",
                    self.advertise_addr
                ),
            );
        }
        if self.data_dir.as_os_str().is_empty() {
            p.add("data_dir", "must not be empty");
        }
        let (min, max) = REQUEST_TIMEOUT_RANGE;
        if self.request_timeout < min || self.request_timeout > max {
            p.add(
                "request_timeout",
                format!(
                    "{} is out of range: must be between {} and {}",
                    format_duration(self.request_timeout),
                    format_duration(min),
                    format_duration(max)
                ),
            );
        }
    }

    fn check_limits(&self, p: &mut Problems) {
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_key_bytes", l.max_key_bytes),
            ("limits.max_value_bytes", l.max_value_bytes),
            ("limits.max_batch_kv", l.max_batch_kv),
            ("limits.max_batch_services", l.max_batch_services),
            ("limits.max_request_bytes", l.max_request_bytes),
            ("limits.max_queued_writes", l.max_queued_writes),
        ] {
            if value == 0 {
                p.add(key, "must be greater than 0");
            }
        }
        for (key, value) in [
            ("limits.max_key_bytes", l.max_key_bytes),
            ("limits.max_value_bytes", l.max_value_bytes),
        ] {
            if value >= l.max_request_bytes {
                p.add(
                    key,
                    format!(
                        "{value} must be smaller than limits.max_request_bytes ({}), which must \
                         also hold the rest of the request",
                        l.max_request_bytes
                    ),
                );
            }
        }
        // What a request may hold must fit what the node itself can carry: one request is one
        // log entry, which must fit one peer message (with room for its framing), and a key
        // must fit a snapshot record. Higher limits would let a write in that no follower
        // can receive, or that no snapshot can hold.
        if l.max_request_bytes > MAX_REQUEST_BYTES_CAP {
            p.add(
                "limits.max_request_bytes",
                format!(
                    "{} is above {MAX_REQUEST_BYTES_CAP} (half the largest peer message, so one \
                     request always fits one replication message)",
                    l.max_request_bytes
                ),
            );
        }
        if l.max_key_bytes > crate::store::MAX_SNAPSHOT_KEY_LEN {
            p.add(
                "limits.max_key_bytes",
                format!(
                    "{} is above {} (the longest key a snapshot record holds)",
                    l.max_key_bytes,
                    crate::store::MAX_SNAPSHOT_KEY_LEN
                ),
            );
        }
    }

    fn check_catalog(&self, p: &mut Problems) {
        let c = &self.catalog;
        for (key, value, (min, max)) in [
            ("catalog.service_ttl", c.service_ttl, SERVICE_TTL_RANGE),
            (
                "catalog.cleanup_interval",
                c.cleanup_interval,
                CLEANUP_INTERVAL_RANGE,
            ),
        ] {
            if value < min || value > max {
                p.add(
                    key,
                    format!(
                        "{} is out of range: must be between {} and {}",
                        format_duration(value),
                        format_duration(min),
                        format_duration(max)
                    ),
                );
            }
        }
    }

    fn check_raft_identity(&self, p: &mut Problems) {
        let r = &self.raft;
        if r.node_id.is_empty() {
            if r.enabled {
                p.add("raft.node_id", "is required when raft.enabled is true");
            }
        } else if r.node_id.len() > MAX_NODE_ID_BYTES
            || !r
                .node_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            p.add(
                "raft.node_id",
                format!(
                    "{:?} must be 1 to {MAX_NODE_ID_BYTES} letters, digits, '.', '_' or '-'",
                    r.node_id
                ),
            );
        }

        match r.bind_addr.parse::<SocketAddr>() {
            Ok(_) => {}
            Err(_) => p.add(
                "raft.bind_addr",
                format!(
                    "{:?} is not ip:port (e.g. 127.0.0.1:7000 or [::1]:7000)",
                    r.bind_addr
                ),
            ),
        }
        if !r.advertise_addr.is_empty() && split_host_port(&r.advertise_addr).is_none() {
            p.add(
                "raft.advertise_addr",
                format!(
                    "{:?} is not host:port (e.g. 10.0.0.5:7000 or node1.example:7000)",
                    r.advertise_addr
                ),
            );
        }
        if r.enabled {
            let advertised = self.raft_advertise();
            let unspecified = split_host_port(&advertised)
                .and_then(|(host, _)| host.parse::<IpAddr>().ok())
                .is_some_and(|ip| ip.is_unspecified());
            if unspecified {
                p.add(
                    "raft.advertise_addr",
                    format!(
                        "must be set to an address peers can dial: the bind address {advertised} \
                         listens on all interfaces and cannot be dialed"
                    ),
                );
            }
        }
        if r.data_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            p.add(
                "raft.data_dir",
                "must not be empty (leave it unset to use <data_dir>/raft)",
            );
        }
        for entry in &r.join {
            if let Err(message) = JoinEntry::parse(entry) {
                p.add("raft.join", message);
            }
        }
        for entry in &r.allowed_cidrs {
            if let Err(message) = crate::raft::allowlist::parse_network(entry) {
                p.add("raft.allowed_cidrs", message);
            }
        }
        if !r.discovery_dns_server.is_empty()
            && r.discovery_dns_server.parse::<SocketAddr>().is_err()
        {
            p.add(
                "raft.discovery_dns_server",
                format!(
                    "{:?} is not ip:port (e.g. 10.0.0.2:53 or [fd00::2]:53)",
                    r.discovery_dns_server
                ),
            );
        }
    }

    fn check_raft_timing(&self, p: &mut Problems) {
        let r = &self.raft;
        let show = |d: Duration| format_duration(d);
        for (key, value, min) in [
            (
                "raft.heartbeat_timeout",
                r.heartbeat_timeout,
                MIN_RAFT_TIMEOUT,
            ),
            (
                "raft.election_timeout",
                r.election_timeout,
                MIN_RAFT_TIMEOUT,
            ),
            (
                "raft.leader_lease_timeout",
                r.leader_lease_timeout,
                MIN_RAFT_TIMEOUT,
            ),
            (
                "raft.commit_timeout",
                r.commit_timeout,
                Duration::from_millis(1),
            ),
            (
                "raft.snapshot_interval",
                r.snapshot_interval,
                MIN_RAFT_TIMEOUT,
            ),
        ] {
            if value < min {
                p.add(
                    key,
                    format!("{} is below the minimum of {}", show(value), show(min)),
                );
            }
        }
        if r.election_timeout < r.heartbeat_timeout {
            p.add(
                "raft.election_timeout",
                format!(
                    "{} must be at least raft.heartbeat_timeout ({})",
                    show(r.election_timeout),
                    show(r.heartbeat_timeout)
                ),
            );
        }
        // The lease must outlive the gap between heartbeats, or it lapses between them and
        // every `default` read pays a quorum round; and it must stay well inside the time
        // before followers may elect someone else (openraft: 2 × election_timeout).
        let heartbeat_interval = r.heartbeat_timeout / 5;
        if r.leader_lease_timeout > r.heartbeat_timeout {
            p.add(
                "raft.leader_lease_timeout",
                format!(
                    "{} must not exceed raft.heartbeat_timeout ({})",
                    show(r.leader_lease_timeout),
                    show(r.heartbeat_timeout)
                ),
            );
        } else if r.leader_lease_timeout <= heartbeat_interval {
            p.add(
                "raft.leader_lease_timeout",
                format!(
                    "{} must be longer than the heartbeat interval ({}, a fifth of \
                     raft.heartbeat_timeout)",
                    show(r.leader_lease_timeout),
                    show(heartbeat_interval)
                ),
            );
        }
        // A segment must hold the largest entry (a write group of up to the batcher's budget
        // plus one command as large as a request) twice over.
        let largest_entry =
            (crate::raft::batcher::MAX_BYTES + self.limits.max_request_bytes) as u64;
        let min_segment = 2 * largest_entry;
        if !(min_segment..=MAX_LOG_SEGMENT_BYTES).contains(&r.log_segment_bytes) {
            p.add(
                "raft.log_segment_bytes",
                format!(
                    "{} must be between {min_segment} (2 x (4 MiB + limits.max_request_bytes)) \
                     and {MAX_LOG_SEGMENT_BYTES} (1 GiB)",
                    r.log_segment_bytes
                ),
            );
        }
        for (key, value) in [
            ("raft.snapshot_threshold", r.snapshot_threshold),
            ("raft.snapshot_retention", u64::from(r.snapshot_retention)),
            ("raft.max_append_entries", r.max_append_entries),
        ] {
            if value == 0 {
                p.add(key, "must be at least 1");
            }
        }
    }
}

/// Problems found so far, each "key (ENV_VAR) message".
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, key: &str, message: impl std::fmt::Display) {
        match env::var_for_key(key) {
            Some(var) => self.0.push(format!("{key} ({var}) {message}")),
            None => self.0.push(format!("{key} {message}")),
        }
    }
}

/// Splits `host:port` or `[v6]:port`; `None` unless the host is non-empty and the port is
/// 1–65535.
pub(crate) fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None if host.contains(':') => return None,
        None => host,
    };
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some((host, port))
}
