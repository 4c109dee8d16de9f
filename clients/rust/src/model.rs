//! The KV domain types the SDK hands out and takes in, and their conversion from the wire:
//! thin mirrors of the protobuf messages with `Option`s resolved and names a caller expects.

use std::collections::HashMap;

use konsul_proto::v1 as pb;

use crate::header::ResponseHeader;

/// One stored entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value; empty when the read asked for keys only.
    pub value: Vec<u8>,
    /// Opaque client flags kept with the entry.
    pub flags: u64,
    /// Raft log index of the write that created the key.
    pub create_index: u64,
    /// Raft log index of the write that last changed the key: what a CAS compares with.
    pub modify_index: u64,
}

impl From<pb::KeyValue> for KeyValue {
    fn from(kv: pb::KeyValue) -> Self {
        Self {
            key: kv.key,
            value: kv.value,
            flags: kv.flags,
            create_index: kv.create_index,
            modify_index: kv.modify_index,
        }
    }
}

/// The entry as a single-key write left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutResult {
    /// The key written.
    pub key: String,
    /// The flags the key now has.
    pub flags: u64,
    /// Raft log index of the write that created the key.
    pub create_index: u64,
    /// Raft log index of this write: pass it to a later CAS.
    pub modify_index: u64,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::PutResponse> for PutResult {
    fn from(r: pb::PutResponse) -> Self {
        let kv = r.kv.unwrap_or_default();
        Self {
            key: kv.key,
            flags: kv.flags,
            create_index: kv.create_index,
            modify_index: kv.modify_index,
            header: r.header.into(),
        }
    }
}

/// Options of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Leave values out; keys, flags and indices are still returned.
    pub keys_only: bool,
    /// How fresh the listing must be.
    pub consistency: crate::Consistency,
    /// Most entries to return; 0 means no limit.
    pub limit: u32,
    /// When non-zero, the answering node first waits until it has applied this index (see
    /// [`GetOptions::min_index`]).
    pub min_index: u64,
}

/// Options of a single-key read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// How fresh the read must be.
    pub consistency: crate::Consistency,
    /// When non-zero, the answering node first waits (within the call's deadline) until it
    /// has applied this index. With [`crate::Consistency::Stale`], passing the
    /// `modify_index` a write returned reads your own write from any node, cheaply.
    pub min_index: u64,
}

/// A single-key read with the header that says how fresh it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    /// The entry; `None` when the key does not exist.
    pub kv: Option<KeyValue>,
    /// Who answered, at which applied index, and how recently it heard from the leader.
    pub header: ResponseHeader,
}

/// The entries under a prefix, in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The matching entries.
    pub kvs: Vec<KeyValue>,
    /// True when the limit cut the listing short.
    pub more: bool,
    /// Who answered and at which index.
    pub header: ResponseHeader,
}

impl From<pb::ListResponse> for Listing {
    fn from(r: pb::ListResponse) -> Self {
        Self {
            kvs: r.kvs.into_iter().map(Into::into).collect(),
            more: r.more,
            header: r.header.into(),
        }
    }
}

/// The outcome of a batch read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchGet {
    /// Entries that exist, in request order.
    pub found: Vec<KeyValue>,
    /// Keys that do not exist, in request order.
    pub not_found: Vec<String>,
    /// Who answered and at which index.
    pub header: ResponseHeader,
}

impl From<pb::BatchGetResponse> for BatchGet {
    fn from(r: pb::BatchGetResponse) -> Self {
        Self {
            found: r.found.into_iter().map(Into::into).collect(),
            not_found: r.not_found,
            header: r.header.into(),
        }
    }
}

/// One key of a [`crate::Client::batch_put`]. Built from `(key, value)` pairs too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutItem {
    /// Key to write.
    pub key: String,
    /// New value.
    pub value: Vec<u8>,
    /// New flags; 0 keeps the flags the key already has.
    pub flags: u64,
}

impl PutItem {
    /// An item writing `value` to `key`, keeping its flags.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            flags: 0,
        }
    }

    /// The same item, also setting `flags`.
    pub fn with_flags(mut self, flags: u64) -> Self {
        self.flags = flags;
        self
    }
}

impl<K: Into<String>, V: Into<Vec<u8>>> From<(K, V)> for PutItem {
    fn from((key, value): (K, V)) -> Self {
        PutItem::new(key, value)
    }
}

/// One key of a [`crate::Client::batch_put_cas`]. Built from `(key, value, expected_index)`
/// triples too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CasPutItem {
    /// Key to write.
    pub key: String,
    /// New value.
    pub value: Vec<u8>,
    /// 0: the key must not exist; N: its modify_index must be N.
    pub expected_index: u64,
}

impl<K: Into<String>, V: Into<Vec<u8>>> From<(K, V, u64)> for CasPutItem {
    fn from((key, value, expected_index): (K, V, u64)) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            expected_index,
        }
    }
}

/// One key of a [`crate::Client::batch_delete_cas`]. Built from `(key, expected_index)`
/// pairs too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CasDeleteItem {
    /// Key to remove; it must exist.
    pub key: String,
    /// Its modify_index must equal this.
    pub expected_index: u64,
}

impl<K: Into<String>> From<(K, u64)> for CasDeleteItem {
    fn from((key, expected_index): (K, u64)) -> Self {
        Self {
            key: key.into(),
            expected_index,
        }
    }
}

/// The outcome of a batch write: every key now has `index` as its modify_index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPut {
    /// Keys written, in request order.
    pub keys: Vec<String>,
    /// Raft log index of the batch.
    pub index: u64,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::BatchPutResponse> for BatchPut {
    fn from(r: pb::BatchPutResponse) -> Self {
        Self {
            keys: r.keys,
            index: r.index,
            header: r.header.into(),
        }
    }
}

/// The outcome of a batch delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDelete {
    /// Keys requested for deletion, in request order.
    pub keys: Vec<String>,
    /// How many of them existed and were removed.
    pub deleted: u64,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::BatchDeleteResponse> for BatchDelete {
    fn from(r: pb::BatchDeleteResponse) -> Self {
        Self {
            keys: r.keys,
            deleted: r.deleted,
            header: r.header.into(),
        }
    }
}

/// The outcome of a conditional batch write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPutCas {
    /// New modify_index of every written key.
    pub new_indices: HashMap<String, u64>,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::BatchPutCasResponse> for BatchPutCas {
    fn from(r: pb::BatchPutCasResponse) -> Self {
        Self {
            new_indices: r.new_indices,
            header: r.header.into(),
        }
    }
}

/// The outcome of a conditional batch delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDeleteCas {
    /// Keys removed, in request order.
    pub keys: Vec<String>,
    /// Who answered.
    pub header: ResponseHeader,
}

impl From<pb::BatchDeleteCasResponse> for BatchDeleteCas {
    fn from(r: pb::BatchDeleteCasResponse) -> Self {
        Self {
            keys: r.keys,
            header: r.header.into(),
        }
    }
}
