//! Command and Response: the closed set of changes a Raft log entry can carry, and what
//! applying one produced.
//!
//! The API layer validates a request and builds a [`Command`]; openraft replicates it; on
//! every node `raft/state_machine.rs` hands it to [`super::Store::apply`], which returns a
//! [`Response`] that travels back to the client's API call on the leader. Both types are
//! plain data: the protobuf form lives at the raft/ edge, and these enums never change
//! meaning for an entry already in a log.

use serde::{Deserialize, Serialize};

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
    /// Independent commands the leader grouped into one log entry so they share one fsync.
    /// Applied in order at the same index, each with its own response. The leader never
    /// groups two commands that touch the same key (see [`Command::keys`]), so a key still
    /// changes at most once per index and CAS on modify_index stays exact.
    Multi {
        /// The grouped commands (never themselves `Multi`).
        commands: Vec<Command>,
    },
}

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
    /// A single key delete ran (KvDelete, KvDeleteCas).
    Deleted {
        /// Whether anything was removed.
        existed: bool,
    },
    /// A batch write ran (KvBatchSet, KvBatchSetCas); every key now has `modify_index == index`.
    BatchWritten {
        /// The keys written, in request order (a repeated key appears each time).
        keys: Vec<String>,
        /// Log index of this entry: the modify_index of every written key.
        index: u64,
    },
    /// A batch delete ran (KvBatchDelete, KvBatchDeleteCas).
    BatchDeleted {
        /// How many keys were removed (a repeated key counts once).
        deleted: u64,
    },
    /// A CAS condition failed; nothing changed.
    CasFailed(CasFailure),
    /// The responses of a [`Command::Multi`], in order.
    Multi(Vec<Response>),
}

impl Command {
    /// Every key this command reads or writes, for grouping independent commands.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Command::KvSet { key, .. }
            | Command::KvDelete { key }
            | Command::KvSetCas { key, .. }
            | Command::KvDeleteCas { key, .. } => vec![key.as_str()],
            Command::KvBatchSet { items } => items.iter().map(|i| i.key.as_str()).collect(),
            Command::KvBatchDelete { keys } => keys.iter().map(String::as_str).collect(),
            Command::KvBatchSetCas { items } => items.iter().map(|i| i.key.as_str()).collect(),
            Command::KvBatchDeleteCas { items } => items.iter().map(|i| i.key.as_str()).collect(),
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
            Command::Multi { commands } => commands.iter().map(Command::approx_size).sum(),
        }
    }
}
