//! Response: what applying one Raft log entry produced, returned to the API call that
//! proposed it on the leader (`api/` turns it into an answer or an error). Plain data, and
//! remembered with a request id in the request log and its snapshot records as serde JSON,
//! so a renamed variant or field needs a snapshot version bump; a new field needs
//! `#[serde(default)]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CheckState;

/// Why a compare-and-swap did not apply. A normal outcome, not an error: the API edge
/// turns it into 404 / 409 for the client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CasFailure {
    /// The key does not exist but the condition needed it to.
    NotFound {
        /// The key whose condition failed.
        key: String,
    },
    /// The key's modify_index differs from the expected one (for create-only, the key exists).
    Conflict {
        /// The key whose condition failed.
        key: String,
        /// The modify_index the command expected (0: the key must not exist).
        expected: u64,
        /// The key's modify_index when the command was applied.
        current: u64,
    },
}

/// The outcome of applying one entry, returned to the API call that proposed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Entries that are not commands (blank, membership).
    #[default]
    None,
    /// A single key was written (KvSet, KvSetCas); the entry's metadata after the write.
    Written {
        /// The key written.
        key: String,
        /// The key's flags after the write.
        flags: u64,
        /// Log index of the entry that created the key.
        create_index: u64,
        /// Log index of this entry.
        modify_index: u64,
    },
    /// A single key or service delete ran (KvDelete, KvDeleteCas, CatalogDeregister).
    Deleted {
        /// Whether anything was removed.
        existed: bool,
    },
    /// A service was registered (CatalogRegister); its metadata after the write.
    Registered {
        /// The service's catalog key.
        key: String,
        /// Log index of the entry that created the registration.
        create_index: u64,
        /// Log index of this entry.
        modify_index: u64,
        /// The service's new deadline (leader ms since the Unix epoch).
        expires_at_ms: u64,
        /// The state of each of its checks after the write, by check id (kept states for
        /// checks whose definition did not change, new ones for the rest), so the API
        /// answers with what was written without reading the store back. Absent in
        /// outcomes remembered by older versions.
        #[serde(default)]
        checks: BTreeMap<String, CheckState>,
    },
    /// A heartbeat extended a service's deadline (CatalogHeartbeat).
    Renewed {
        /// The service's catalog key.
        key: String,
        /// The service's new deadline (leader ms since the Unix epoch).
        expires_at_ms: u64,
    },
    /// The command needed an existing entry that is absent (CatalogHeartbeat: a service
    /// key; CheckTtlUpdate: a check id); nothing changed. Not a CAS failure: the API
    /// answers it as a plain 404.
    NotFound {
        /// The key or check id that was looked up.
        key: String,
    },
    /// An expiry sweep ran (CatalogExpireServices, CatalogExpire).
    Expired {
        /// Catalog keys of the removed services, in key order.
        keys: Vec<String>,
        /// Ids of the TTL checks that turned critical, in service-key then id order.
        checks: Vec<String>,
    },
    /// A grace period was applied (CatalogGrace).
    GraceApplied {
        /// How many service and TTL-check deadlines were moved later.
        extended: u64,
    },
    /// A registration (or a batch) named a check id that another service owns, or two
    /// services of one batch share it; nothing changed.
    CheckIdTaken {
        /// The contested check id.
        check_id: String,
        /// Catalog key of the service that owns it.
        owner: String,
    },
    /// A TTL check took a client's report (CheckTtlUpdate).
    CheckUpdated {
        /// The check.
        check_id: String,
        /// Its new deadline (0: none, the check's TTL is 0).
        expires_at_ms: u64,
    },
    /// CheckTtlUpdate named a check that is not a TTL check; nothing changed.
    NotTtlCheck {
        /// The check.
        check_id: String,
    },
    /// Probe results were recorded (CheckResults).
    CheckResultsApplied {
        /// How many checks changed status or output.
        changed: u64,
    },
    /// A batch write ran (KvBatchSet, KvBatchSetCas, CatalogBatchRegister); every key (for
    /// the catalog: every service key) now has `modify_index == index`.
    BatchWritten {
        /// The keys written, in request order (a repeated key appears each time).
        keys: Vec<String>,
        /// Log index of this entry: the modify_index of every written key.
        index: u64,
    },
    /// A batch delete ran (KvBatchDelete, KvBatchDeleteCas, CatalogBatchDeregister).
    BatchDeleted {
        /// How many keys were removed (a repeated key counts once).
        deleted: u64,
    },
    /// A CAS condition failed; nothing changed.
    CasFailed(CasFailure),
    /// The responses of a [`Command::Multi`], in order.
    Multi(Vec<Response>),
    /// A [`Command::Identified`] whose sequence number its client's remembered outcomes
    /// have moved past: whether it applied before can no longer be told, so it was not
    /// applied again. Nothing changed.
    RequestIdExpired {
        /// The request's client.
        client_id: String,
        /// The request's sequence number.
        seq: u64,
        /// The lowest sequence number still remembered for that client.
        floor: u64,
    },
}
