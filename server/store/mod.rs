//! The deterministic state machine: the bottom of the data flow (DESIGN.md §1).
//!
//! Every node feeds the same committed Raft entries, in the same order, into
//! [`Store::apply`]; because apply reads no clock, no RNG, no environment and does no I/O,
//! every node ends in the same state with the same indices. `create_index` and
//! `modify_index` are the Raft log index passed to `apply`. Expected outcomes such as a CAS
//! mismatch are ordinary [`Response`]s, never errors. This module imports neither openraft
//! nor tonic, so it is tested without any cluster.

mod command;
mod kv;
mod snapshot;

pub use command::{CasFailure, Command, KvCasItem, KvDeleteCasItem, KvSetItem, Response};
pub use kv::KvEntry;

use std::collections::BTreeMap;

/// The in-memory state of one node, rebuilt on restart from the latest snapshot plus a
/// replay of the Raft log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    /// Every key, ordered so that prefix listings are range scans.
    kv: BTreeMap<String, KvEntry>,
}
