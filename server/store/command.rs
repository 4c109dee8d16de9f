//! Command and Response: the closed set of changes the log can carry and their outcomes.
//! (skeleton: filled in by the store work)

use serde::{Deserialize, Serialize};

/// One key of a batch set.
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Upsert one key. `flags == 0` keeps the key's existing flags (Konsul compatibility).
    KvSet { key: String, value: Vec<u8>, flags: u64 },
    /// Remove one key; absent keys are fine.
    KvDelete { key: String },
    /// Write one key if its modify_index equals `expected_index` (0: must be absent).
    /// Existing flags are kept.
    KvSetCas { key: String, value: Vec<u8>, expected_index: u64 },
    /// Remove one key if it exists and its modify_index equals `expected_index`.
    KvDeleteCas { key: String, expected_index: u64 },
    /// Upsert many keys atomically, in order.
    KvBatchSet { items: Vec<KvSetItem> },
    /// Remove many keys atomically.
    KvBatchDelete { keys: Vec<String> },
    /// Write many keys if every condition holds; otherwise change nothing.
    KvBatchSetCas { items: Vec<KvCasItem> },
    /// Remove many keys if every condition holds; otherwise change nothing.
    KvBatchDeleteCas { items: Vec<KvDeleteCasItem> },
}

/// Why a compare-and-swap did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CasFailure {
    /// The key does not exist but the condition needed it to.
    NotFound { key: String },
    /// The key's modify_index differs from the expected one (for create-only, the key exists).
    Conflict { key: String, expected: u64, current: u64 },
}

/// The outcome of applying one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Entries that are not commands (blank, membership).
    #[default]
    None,
    /// A single key was written (KvSet, KvSetCas).
    Written { key: String, flags: u64, create_index: u64, modify_index: u64 },
    /// A single key delete ran (KvDelete, KvDeleteCas); `existed` says if anything was removed.
    Deleted { existed: bool },
    /// A batch write ran (KvBatchSet, KvBatchSetCas); every key now has `modify_index == index`.
    BatchWritten { keys: Vec<String>, index: u64 },
    /// A batch delete ran (KvBatchDelete, KvBatchDeleteCas); how many keys existed.
    BatchDeleted { deleted: u64 },
    /// A CAS condition failed; nothing changed.
    CasFailed(CasFailure),
}
