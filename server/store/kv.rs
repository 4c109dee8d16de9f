//! The KV half of the state machine: stored entries, the KV commands' apply logic and the
//! KV reads.
//!
//! [`super::Store::apply`] (driven by `raft/state_machine.rs` for each committed entry)
//! dispatches KV commands here; the API layer reads through [`super::Store::get`] and
//! [`super::Store::range_prefix`]. Every write stamps the entry's Raft log index, so a
//! batch gives all its keys one index and indices agree on every node.

use std::collections::btree_map::Entry;

use serde::{Deserialize, Serialize};

use super::{CasFailure, KvCasItem, KvDeleteCasItem, KvSetItem, Response, Store};

/// One stored key's value and metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The value bytes.
    pub value: Vec<u8>,
    /// Opaque client flags.
    pub flags: u64,
    /// Raft log index of the entry that created the key.
    pub create_index: u64,
    /// Raft log index of the entry that last changed the key; what a CAS compares with.
    pub modify_index: u64,
}

/// Which kind of CAS a condition guards; they differ only for an absent key.
#[derive(Clone, Copy)]
enum CasOp {
    /// A write: expected 0 means "create only", so absence satisfies it.
    Set,
    /// A delete: the key must exist whatever was expected.
    Delete,
}

impl Store {
    /// Reads one key.
    pub fn get(&self, key: &str) -> Option<&KvEntry> {
        self.kv.get(key)
    }

    /// Every key starting with `prefix`, in key order.
    pub fn range_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a KvEntry)> + 'a {
        self.kv
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.kv.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.kv.is_empty()
    }

    /// KvSet: upsert, answering with the entry's state after the write.
    pub(super) fn kv_set(
        &mut self,
        index: u64,
        key: String,
        value: Vec<u8>,
        flags: u64,
    ) -> Response {
        let entry = self.write(index, key.clone(), value, flags);
        written(key, entry)
    }

    /// KvDelete: absent keys are fine.
    pub(super) fn kv_delete(&mut self, key: &str) -> Response {
        Response::Deleted {
            existed: self.kv.remove(key).is_some(),
        }
    }

    /// KvSetCas: write if the condition holds; a CAS write never changes flags.
    pub(super) fn kv_set_cas(
        &mut self,
        index: u64,
        key: String,
        value: Vec<u8>,
        expected_index: u64,
    ) -> Response {
        if let Err(failure) = self.check_cas(&key, expected_index, CasOp::Set) {
            return Response::CasFailed(failure);
        }
        let entry = self.write(index, key.clone(), value, 0);
        written(key, entry)
    }

    /// KvDeleteCas: remove if the key exists with the expected modify_index.
    pub(super) fn kv_delete_cas(&mut self, key: &str, expected_index: u64) -> Response {
        if let Err(failure) = self.check_cas(key, expected_index, CasOp::Delete) {
            return Response::CasFailed(failure);
        }
        Response::Deleted {
            existed: self.kv.remove(key).is_some(),
        }
    }

    /// KvBatchSet: items in request order, so a repeated key ends with its last item.
    pub(super) fn kv_batch_set(&mut self, index: u64, items: Vec<KvSetItem>) -> Response {
        let mut keys = Vec::with_capacity(items.len());
        for item in items {
            keys.push(item.key.clone());
            self.write(index, item.key, item.value, item.flags);
        }
        Response::BatchWritten { keys, index }
    }

    /// KvBatchDelete: counts the keys actually removed (a repeated key counts once).
    pub(super) fn kv_batch_delete(&mut self, keys: &[String]) -> Response {
        let deleted = keys
            .iter()
            .filter(|key| self.kv.remove(key.as_str()).is_some())
            .count();
        Response::BatchDeleted {
            deleted: deleted as u64,
        }
    }

    /// KvBatchSetCas: all conditions are checked against the pre-batch state before any
    /// write, so either every item applies or nothing changes. A key that repeats has each
    /// of its conditions checked against that same pre-batch state, then its items are
    /// written in order (the last value wins).
    pub(super) fn kv_batch_set_cas(&mut self, index: u64, items: Vec<KvCasItem>) -> Response {
        let first_failure = items.iter().find_map(|item| {
            self.check_cas(&item.key, item.expected_index, CasOp::Set)
                .err()
        });
        if let Some(failure) = first_failure {
            return Response::CasFailed(failure);
        }
        let mut keys = Vec::with_capacity(items.len());
        for item in items {
            keys.push(item.key.clone());
            self.write(index, item.key, item.value, 0);
        }
        Response::BatchWritten { keys, index }
    }

    /// KvBatchDeleteCas: all-or-nothing like [`Self::kv_batch_set_cas`]. A key that repeats
    /// is checked twice against the pre-batch state and removed once (counted once).
    pub(super) fn kv_batch_delete_cas(&mut self, items: &[KvDeleteCasItem]) -> Response {
        let first_failure = items.iter().find_map(|item| {
            self.check_cas(&item.key, item.expected_index, CasOp::Delete)
                .err()
        });
        if let Some(failure) = first_failure {
            return Response::CasFailed(failure);
        }
        let deleted = items
            .iter()
            .filter(|item| self.kv.remove(&item.key).is_some())
            .count();
        Response::BatchDeleted {
            deleted: deleted as u64,
        }
    }

    /// Upserts one key at `index`. `flags == 0` keeps the existing flags (a new key gets 0);
    /// an update keeps `create_index`.
    fn write(&mut self, index: u64, key: String, value: Vec<u8>, flags: u64) -> &KvEntry {
        match self.kv.entry(key) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.value = value;
                if flags != 0 {
                    entry.flags = flags;
                }
                entry.modify_index = index;
                entry
            }
            Entry::Vacant(vacant) => vacant.insert(KvEntry {
                value,
                flags,
                create_index: index,
                modify_index: index,
            }),
        }
    }

    /// Checks one CAS condition against the current state.
    ///
    /// Expected 0 on a write means "create only"; on a delete it can never match, because a
    /// delete needs an existing key and 0 is not the index of any write a client saw.
    fn check_cas(&self, key: &str, expected: u64, op: CasOp) -> Result<(), CasFailure> {
        match (self.kv.get(key), op) {
            (None, CasOp::Set) if expected == 0 => Ok(()),
            (None, _) => Err(CasFailure::NotFound {
                key: key.to_owned(),
            }),
            (Some(entry), _) if expected != 0 && entry.modify_index == expected => Ok(()),
            (Some(entry), _) => Err(CasFailure::Conflict {
                key: key.to_owned(),
                expected,
                current: entry.modify_index,
            }),
        }
    }
}

/// The response for a single-key write: the entry as it now stands.
fn written(key: String, entry: &KvEntry) -> Response {
    Response::Written {
        key,
        flags: entry.flags,
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}
