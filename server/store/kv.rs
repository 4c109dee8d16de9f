//! KV entries and the KV half of apply. (skeleton: filled in by the store work)

use serde::{Deserialize, Serialize};

/// One stored key's value and metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The value bytes.
    pub value: Vec<u8>,
    /// Opaque client flags.
    pub flags: u64,
    /// Raft log index of the entry that created the key.
    pub create_index: u64,
    /// Raft log index of the entry that last changed the key.
    pub modify_index: u64,
}

impl super::Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one committed command at log `index`. Deterministic; never fails.
    pub fn apply(&mut self, index: u64, command: super::Command) -> super::Response {
        let _ = (index, command);
        todo!("store work")
    }

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
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
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
}
