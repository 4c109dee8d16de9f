//! Command: the closed set of changes a Raft log entry can carry.
//!
//! The API layer validates a request and builds a [`Command`]; openraft replicates it; on
//! every node `raft/state_machine.rs` hands it to [`super::Store::apply`], which returns a
//! `Response` (`response.rs`) that travels back to the client's API call on the leader.
//! Commands are plain data: the protobuf form lives at the raft/ edge, and this enum never
//! changes meaning for an entry already in a log.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{CheckKind, CheckResult, CheckStatus, RequestId, Service};

/// One key of a batch set. A struct rather than a tuple so the flags rule is documented
/// where the field is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvSetItem {
    /// Key to write.
    pub key: String,
    /// New value.
    pub value: Vec<u8>,
    /// New flags; 0 keeps the existing flags.
    pub flags: u64,
}

/// One key of a CAS batch set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvCasItem {
    /// Key to write.
    pub key: String,
    /// New value.
    pub value: Vec<u8>,
    /// Expected modify_index; 0 means the key must not exist.
    pub expected_index: u64,
}

/// One key of a CAS batch delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvDeleteCasItem {
    /// Key to remove; it must exist.
    pub key: String,
    /// Expected modify_index.
    pub expected_index: u64,
}

/// A change to the state machine, as carried by one Raft log entry.
///
/// Commands carry no indices: the log index of the entry is the only index, so every node
/// stamps the same `create_index` / `modify_index`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Upsert one key. `flags == 0` keeps the key's existing flags (Konsul compatibility).
    KvSet {
        /// Key to write.
        key: String,
        /// New value.
        value: Vec<u8>,
        /// New flags; 0 keeps the existing flags (0 for a new key).
        flags: u64,
    },
    /// Remove one key; absent keys are fine.
    KvDelete {
        /// Key to remove.
        key: String,
    },
    /// Write one key if its modify_index equals `expected_index` (0: must be absent).
    /// Existing flags are kept.
    KvSetCas {
        /// Key to write.
        key: String,
        /// New value.
        value: Vec<u8>,
        /// Expected modify_index; 0 means the key must not exist (create only).
        expected_index: u64,
    },
    /// Remove one key if it exists and its modify_index equals `expected_index`.
    KvDeleteCas {
        /// Key to remove; it must exist.
        key: String,
        /// Expected modify_index; 0 never matches an existing key.
        expected_index: u64,
    },
    /// Upsert many keys atomically, in order; a repeated key ends with its last item.
    KvBatchSet {
        /// Items in request order.
        items: Vec<KvSetItem>,
    },
    /// Remove many keys atomically.
    KvBatchDelete {
        /// Keys to remove; absent ones are fine.
        keys: Vec<String>,
    },
    /// Write many keys if every condition holds; otherwise change nothing. Every condition
    /// is checked against the state before the batch, even for a key that repeats.
    KvBatchSetCas {
        /// Items in request order.
        items: Vec<KvCasItem>,
    },
    /// Remove many keys if every condition holds; otherwise change nothing. Every condition
    /// is checked against the state before the batch, even for a key that repeats.
    KvBatchDeleteCas {
        /// Items in request order.
        items: Vec<KvDeleteCasItem>,
    },
    /// Register (or re-register) one service, optionally guarded by a CAS on its
    /// modify_index. A re-registration keeps `create_index`; the deadline restarts.
    CatalogRegister {
        /// The registration; its catalog key is [`Service::key`].
        service: Service,
        /// `None`: unconditional upsert. `Some(0)`: create only. `Some(n)`: the service must
        /// exist with modify_index `n`.
        expected_index: Option<u64>,
        /// Leader time (ms since the Unix epoch); the deadline is `now_ms + ttl_ms`.
        now_ms: u64,
    },
    /// Remove one service; absent services are fine unless a CAS is given.
    CatalogDeregister {
        /// Catalog key of the service.
        key: String,
        /// `None`: unconditional. `Some(n)`: the service must exist with modify_index `n`.
        expected_index: Option<u64>,
    },
    /// Keep one service alive: its deadline becomes `now_ms + ttl_ms`; indices unchanged.
    /// No longer proposed (heartbeats live in the leader's memory, `leader/heartbeats.rs`);
    /// applied as before, so a log written by an older version replays to the same state.
    CatalogHeartbeat {
        /// Catalog key of the service.
        key: String,
        /// Leader time (ms since the Unix epoch) of the heartbeat.
        now_ms: u64,
    },
    /// Remove every service whose replicated deadline is at or before `now_ms`. No longer
    /// proposed (see [`Command::CatalogExpireServices`]); applied as before, for older logs.
    CatalogExpire {
        /// Leader time (ms since the Unix epoch) the sweep runs at.
        now_ms: u64,
    },
    /// The leader's expiry: remove each listed service that still holds the registration
    /// the leader judged (its `modify_index`), and turn every TTL check due at `now_ms`
    /// critical. Only the leader knows the heartbeats, so it names the services; every node
    /// removes exactly those at the same index.
    CatalogExpireServices {
        /// Leader time (ms since the Unix epoch) the sweep runs at.
        now_ms: u64,
        /// The services the leader found without a heartbeat for a TTL, in key order.
        services: Vec<ExpiredService>,
    },
    /// A new leader's first catalog command: every deadline becomes at least
    /// `now_ms + ttl_ms`, so services whose heartbeats went to the old leader (or were lost
    /// during the election) are not expired by the failover itself.
    CatalogGrace {
        /// The new leader's time (ms since the Unix epoch).
        now_ms: u64,
    },
    /// Register many services atomically at one index, in order; a repeated key ends with
    /// its last registration.
    CatalogBatchRegister {
        /// Registrations in request order.
        services: Vec<Service>,
        /// Leader time (ms since the Unix epoch); each deadline is `now_ms + ttl_ms`.
        now_ms: u64,
    },
    /// Remove many services atomically; absent ones are fine.
    CatalogBatchDeregister {
        /// Catalog keys to remove.
        keys: Vec<String>,
    },
    /// A client's report on a TTL check (`PUT /health/check/{id}`); the check's deadline
    /// becomes `now_ms` + its TTL.
    CheckTtlUpdate {
        /// The check.
        check_id: String,
        /// The reported status.
        status: CheckStatus,
        /// The reported output.
        output: String,
        /// Leader time (ms since the Unix epoch).
        now_ms: u64,
    },
    /// Probe results of HTTP, TCP and gRPC checks, proposed by the leader's check runner.
    CheckResults {
        /// One result per probed check.
        results: Vec<CheckResult>,
        /// Leader time of the probes (ms since the Unix epoch): each check's last_check.
        now_ms: u64,
    },
    /// A client write with a request id: applied at most once (see `store::requests`). A
    /// retry finds the first attempt's outcome and changes nothing.
    Identified {
        /// The client's name for this write.
        request: RequestId,
        /// Leader time (ms since the Unix epoch): the log time that ages remembered
        /// outcomes.
        now_ms: u64,
        /// The write itself (never `Identified` or `Multi`).
        command: Box<Command>,
    },
    /// Independent commands the leader grouped into one log entry so they share one fsync.
    /// Applied in order at the same index, each with its own response. The leader never
    /// groups two commands that touch the same key (see [`Command::keys`]), so a key still
    /// changes at most once per index and CAS on modify_index stays exact.
    Multi {
        /// The grouped commands (never themselves `Multi`).
        commands: Vec<Command>,
    },
}

/// Prefix of the names [`Command::keys`] gives services, so that a service and a KV key
/// with the same text never look like the same key to the write grouping.
pub const SERVICE_KEY_PREFIX: &str = "svc/";

/// Prefix of a check id in [`Command::keys`]; like [`SERVICE_KEY_PREFIX`], never a KV key
/// in practice and never a service key.
pub const CHECK_KEY_PREFIX: &str = "chk/";

/// A one-line summary for logs (openraft's `AppData` needs `Display`): the command's kind and
/// how many keys it touches, never values.
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Command::KvSet { .. } => "KvSet",
            Command::KvDelete { .. } => "KvDelete",
            Command::KvSetCas { .. } => "KvSetCas",
            Command::KvDeleteCas { .. } => "KvDeleteCas",
            Command::KvBatchSet { .. } => "KvBatchSet",
            Command::KvBatchDelete { .. } => "KvBatchDelete",
            Command::KvBatchSetCas { .. } => "KvBatchSetCas",
            Command::KvBatchDeleteCas { .. } => "KvBatchDeleteCas",
            Command::CatalogRegister { .. } => "CatalogRegister",
            Command::CatalogDeregister { .. } => "CatalogDeregister",
            Command::CatalogHeartbeat { .. } => "CatalogHeartbeat",
            Command::CatalogExpire { .. } => "CatalogExpire",
            Command::CatalogExpireServices { .. } => "CatalogExpireServices",
            Command::CatalogGrace { .. } => "CatalogGrace",
            Command::CatalogBatchRegister { .. } => "CatalogBatchRegister",
            Command::CatalogBatchDeregister { .. } => "CatalogBatchDeregister",
            Command::CheckTtlUpdate { .. } => "CheckTtlUpdate",
            Command::CheckResults { .. } => "CheckResults",
            Command::Identified { .. } => "Identified",
            Command::Multi { .. } => "Multi",
        };
        write!(f, "{kind} ({} keys)", self.keys().len())
    }
}

/// One service the leader judged expired (see [`Command::CatalogExpireServices`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredService {
    /// Catalog key.
    pub key: String,
    /// The registration judged; a service re-registered since (another index) is kept.
    pub modify_index: u64,
}

impl Command {
    /// Every key this command reads or writes, for grouping independent commands. KV keys
    /// appear as they are; a service appears as `svc/<catalog key>`.
    ///
    /// The catalog-wide commands (CatalogExpire, CatalogGrace) list no key: they never set a
    /// modify_index, so sharing an entry with a command on one service cannot give two
    /// versions of that service one index, and the in-order apply of a group already yields
    /// the same state as applying its commands one entry at a time.
    pub fn keys(&self) -> Vec<Cow<'_, str>> {
        fn borrowed(k: &str) -> Cow<'_, str> {
            Cow::Borrowed(k)
        }
        fn service(k: String) -> Cow<'static, str> {
            Cow::Owned(format!("{SERVICE_KEY_PREFIX}{k}"))
        }
        fn check(id: &str) -> Cow<'static, str> {
            Cow::Owned(format!("{CHECK_KEY_PREFIX}{id}"))
        }
        match self {
            Command::KvSet { key, .. }
            | Command::KvDelete { key }
            | Command::KvSetCas { key, .. }
            | Command::KvDeleteCas { key, .. } => vec![borrowed(key)],
            Command::KvBatchSet { items } => items.iter().map(|i| borrowed(&i.key)).collect(),
            Command::KvBatchDelete { keys } => keys.iter().map(|k| borrowed(k)).collect(),
            Command::KvBatchSetCas { items } => items.iter().map(|i| borrowed(&i.key)).collect(),
            Command::KvBatchDeleteCas { items } => items.iter().map(|i| borrowed(&i.key)).collect(),
            Command::CatalogRegister { service: s, .. } => vec![service(s.key())],
            Command::CatalogDeregister { key, .. } | Command::CatalogHeartbeat { key, .. } => {
                vec![service(key.clone())]
            }
            Command::CatalogExpire { .. } | Command::CatalogGrace { .. } => Vec::new(),
            Command::CatalogExpireServices { services, .. } => {
                services.iter().map(|s| service(s.key.clone())).collect()
            }
            Command::CatalogBatchRegister { services, .. } => {
                services.iter().map(|s| service(s.key())).collect()
            }
            Command::CatalogBatchDeregister { keys } => {
                keys.iter().map(|k| service(k.clone())).collect()
            }
            // Check updates touch no index, yet two reports on one check in one entry
            // would make one of them invisible; they key on the check id.
            Command::CheckTtlUpdate { check_id, .. } => vec![check(check_id)],
            Command::CheckResults { results, .. } => {
                results.iter().map(|r| check(&r.check_id)).collect()
            }
            Command::Identified { command, .. } => command.keys(),
            Command::Multi { commands } => commands.iter().flat_map(Command::keys).collect(),
        }
    }

    /// Rough encoded size in bytes, to keep grouped entries well under the peer message
    /// limit.
    pub fn approx_size(&self) -> usize {
        const OVERHEAD: usize = 16;
        match self {
            Command::KvSet { key, value, .. } | Command::KvSetCas { key, value, .. } => {
                key.len() + value.len() + OVERHEAD
            }
            Command::KvDelete { key } | Command::KvDeleteCas { key, .. } => key.len() + OVERHEAD,
            Command::KvBatchSet { items } => items
                .iter()
                .map(|i| i.key.len() + i.value.len() + OVERHEAD)
                .sum(),
            Command::KvBatchSetCas { items } => items
                .iter()
                .map(|i| i.key.len() + i.value.len() + OVERHEAD)
                .sum(),
            Command::KvBatchDelete { keys } => keys.iter().map(|k| k.len() + OVERHEAD).sum(),
            Command::KvBatchDeleteCas { items } => {
                items.iter().map(|i| i.key.len() + OVERHEAD).sum()
            }
            Command::CatalogRegister { service, .. } => service_size(service) + OVERHEAD,
            Command::CatalogDeregister { key, .. } | Command::CatalogHeartbeat { key, .. } => {
                key.len() + OVERHEAD
            }
            Command::CatalogExpire { .. } | Command::CatalogGrace { .. } => OVERHEAD,
            Command::CatalogExpireServices { services, .. } => {
                OVERHEAD
                    + services
                        .iter()
                        .map(|s| s.key.len() + OVERHEAD)
                        .sum::<usize>()
            }
            Command::CatalogBatchRegister { services, .. } => {
                services.iter().map(|s| service_size(s) + OVERHEAD).sum()
            }
            Command::CatalogBatchDeregister { keys } => {
                keys.iter().map(|k| k.len() + OVERHEAD).sum()
            }
            Command::CheckTtlUpdate {
                check_id, output, ..
            } => check_id.len() + output.len() + OVERHEAD,
            Command::CheckResults { results, .. } => results
                .iter()
                .map(|r| r.check_id.len() + r.output.len() + OVERHEAD)
                .sum(),
            Command::Identified {
                request, command, ..
            } => request.client_id.len() + OVERHEAD + command.approx_size(),
            Command::Multi { commands } => commands.iter().map(Command::approx_size).sum(),
        }
    }
}

/// Rough encoded size of one registration: its strings plus a few bytes per field.
fn service_size(s: &Service) -> usize {
    const FIELD: usize = 4;
    s.name.len()
        + s.id.as_ref().map_or(0, String::len)
        + s.address.len()
        + s.tags.iter().map(|t| t.len() + FIELD).sum::<usize>()
        + s.meta
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2 * FIELD)
            .sum::<usize>()
        + s.checks
            .iter()
            .map(|c| c.id.len() + c.name.len() + check_kind_size(&c.kind) + 4 * FIELD)
            .sum::<usize>()
        + 4 * FIELD
}

fn check_kind_size(kind: &CheckKind) -> usize {
    match kind {
        CheckKind::Ttl { .. } => 8,
        CheckKind::Http {
            url,
            method,
            headers,
            ..
        } => {
            url.len()
                + method.len()
                + headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        }
        CheckKind::Tcp { address } => address.len(),
        CheckKind::Grpc {
            address, service, ..
        } => address.len() + service.len(),
    }
}
