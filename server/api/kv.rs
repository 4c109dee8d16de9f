//! The typed KV API: every key/value call as a method on domain types, returning
//! `crate::Error`. The gRPC service (`api/grpc/kv.rs`) and the REST routes
//! (`gateway/kv.rs`, `gateway/kv_batch.rs`) are thin adapters over these methods, so
//! validation, the read barrier, Raft and the store are reached from one place.
//!
//! Writes: validate → `store::Command` → `RaftNode::write_until` (leader only; quorum
//! fsync) → the state machine's `Response`. Reads: `RaftNode::read_until` for the requested
//! consistency and `min_index` → the applied store. A CAS mismatch comes back from the store
//! as a normal response and is turned into `Error::CasConflict` (or `NotFound` for a missing
//! key) here.

use std::sync::Arc;

use tokio::time::Instant;

use crate::api::validate::Limits;
use crate::api::{Answer, BatchDeleted, BatchWritten, ReadOptions, call};
use crate::deps::Clock;
use crate::error::{Error, Result};
use crate::raft::node::RaftNode;
use crate::store::{
    CasFailure, Command, KvCasItem, KvDeleteCasItem, KvEntry, KvSetItem, RequestId, Response,
};

/// Message of NOT_FOUND for a single missing key (the REST contract's text).
pub const KEY_NOT_FOUND: &str = "Key not found";

/// One key as the API shows it. Writes answer with an empty `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (empty where the call leaves values out).
    pub value: Vec<u8>,
    /// Client flags.
    pub flags: u64,
    /// Index of the write that created the key.
    pub create_index: u64,
    /// Index of the last write to the key.
    pub modify_index: u64,
}

impl KeyValue {
    fn of(key: &str, e: &KvEntry, with_value: bool) -> Self {
        KeyValue {
            key: key.to_owned(),
            value: if with_value {
                e.value.clone()
            } else {
                Vec::new()
            },
            flags: e.flags,
            create_index: e.create_index,
            modify_index: e.modify_index,
        }
    }
}

/// A write of one key.
#[derive(Debug, Clone)]
pub struct Put {
    /// The key.
    pub key: String,
    /// The new value.
    pub value: Vec<u8>,
    /// New flags; 0 keeps the existing flags (ignored with `cas`).
    pub flags: u64,
    /// Compare-and-swap: `Some(0)` creates only, `Some(n)` writes only over index `n`.
    pub cas: Option<u64>,
}

/// A listing: the entries in key order, and whether `limit` cut it short.
#[derive(Debug, Clone)]
pub struct Listing {
    /// Entries in key order (values left out with `keys_only`).
    pub entries: Vec<KeyValue>,
    /// True when more keys matched than `limit` allowed.
    pub more: bool,
}

/// What a batch read found.
#[derive(Debug, Clone)]
pub struct BatchRead {
    /// The keys that exist, in request order.
    pub found: Vec<KeyValue>,
    /// The keys that do not, in request order.
    pub not_found: Vec<String>,
}

/// The KV service over one Raft node.
#[derive(Clone)]
pub struct KvApi {
    node: RaftNode,
    limits: Limits,
    clock: Arc<dyn Clock>,
}

impl KvApi {
    /// A KV service for `node`, enforcing `limits`; `clock` stamps identified writes.
    pub fn new(node: RaftNode, limits: Limits, clock: Arc<dyn Clock>) -> Self {
        Self {
            node,
            limits,
            clock,
        }
    }

    /// The request timeout: how long a call without a deadline of its own may take.
    pub fn request_timeout(&self) -> std::time::Duration {
        self.node.request_timeout()
    }

    /// Proposes `command` (identified by `id` when given) and waits for its outcome until
    /// `deadline`; a retry the state machine refused as forgotten becomes an error here.
    async fn write(
        &self,
        command: Command,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Response> {
        let command = call::identified(command, id, self.clock.as_ref());
        let response = self.node.write_until(command, deadline).await?.response;
        match call::expired(&response) {
            Some(e) => Err(e),
            None => Ok(response),
        }
    }
}

/// Turns a failed CAS condition into the client-facing error. Single-key calls use the
/// contract's "Key not found"; batch calls name the key.
fn cas_error(f: CasFailure, batch: bool) -> Error {
    match f {
        CasFailure::NotFound { key } if batch => Error::NotFound(format!("key '{key}' not found")),
        CasFailure::NotFound { .. } => Error::NotFound(KEY_NOT_FOUND.into()),
        CasFailure::Conflict {
            key,
            expected,
            current,
        } => Error::CasConflict {
            key,
            expected,
            current,
        },
    }
}

fn unexpected(r: Response) -> Error {
    Error::Internal(format!("state machine answered {r:?} to a KV command"))
}

impl KvApi {
    /// One key, read at `read`; `NotFound` ("Key not found") when it does not exist.
    pub async fn get(
        &self,
        key: &str,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<KeyValue>> {
        self.limits.key("key", key)?;
        read.wait(&self.node, deadline).await?;
        let (kv, applied) = self
            .node
            .view()
            .read_at(|s| s.get(key).map(|e| KeyValue::of(key, e, true)));
        let kv = kv.ok_or_else(|| Error::NotFound(KEY_NOT_FOUND.into()))?;
        Ok(Answer::at(&self.node, kv, applied))
    }

    /// The keys under `prefix` in order, at most `limit` (0: all), with their values unless
    /// `keys_only`.
    pub async fn list(
        &self,
        prefix: &str,
        keys_only: bool,
        limit: u32,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<Listing>> {
        if prefix.len() > self.limits.max_key_bytes {
            return Err(Error::invalid(
                "prefix",
                format!("the limit is {} bytes", self.limits.max_key_bytes),
            ));
        }
        read.wait(&self.node, deadline).await?;
        let limit = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let ((entries, more), applied) = self.node.view().read_at(|s| {
            let mut it = s.range_prefix(prefix);
            let entries: Vec<_> = it
                .by_ref()
                .take(limit)
                .map(|(k, e)| KeyValue::of(k, e, !keys_only))
                .collect();
            (entries, it.next().is_some())
        });
        Ok(Answer::at(&self.node, Listing { entries, more }, applied))
    }

    /// Writes one key; answers its new version (without the value).
    pub async fn put(
        &self,
        put: Put,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Answer<KeyValue>> {
        self.limits.key("key", &put.key)?;
        self.limits.value("value", &put.value)?;
        let command = match put.cas {
            None => Command::KvSet {
                key: put.key,
                value: put.value,
                flags: put.flags,
            },
            Some(expected_index) => Command::KvSetCas {
                key: put.key,
                value: put.value,
                expected_index,
            },
        };
        match self.write(command, id, deadline).await? {
            Response::Written {
                key,
                flags,
                create_index,
                modify_index,
            } => Ok(Answer::now(
                &self.node,
                KeyValue {
                    key,
                    value: Vec::new(),
                    flags,
                    create_index,
                    modify_index,
                },
            )),
            Response::CasFailed(f) => Err(cas_error(f, false)),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes one key (with `cas`, only at that index); answers whether it existed.
    pub async fn delete(
        &self,
        key: String,
        cas: Option<u64>,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Answer<bool>> {
        self.limits.key("key", &key)?;
        let command = match cas {
            None => Command::KvDelete { key },
            Some(expected_index) => Command::KvDeleteCas {
                key,
                expected_index,
            },
        };
        match self.write(command, id, deadline).await? {
            Response::Deleted { existed } => Ok(Answer::now(&self.node, existed)),
            Response::CasFailed(f) => Err(cas_error(f, false)),
            other => Err(unexpected(other)),
        }
    }

    /// Many keys read at one index.
    pub async fn batch_get(
        &self,
        keys: &[String],
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<BatchRead>> {
        self.limits.batch("keys", keys.iter().map(String::as_str))?;
        read.wait(&self.node, deadline).await?;
        let (batch, applied) = self.node.view().read_at(|s| {
            let mut batch = BatchRead {
                found: Vec::new(),
                not_found: Vec::new(),
            };
            for k in keys {
                match s.get(k) {
                    Some(e) => batch.found.push(KeyValue::of(k, e, true)),
                    None => batch.not_found.push(k.clone()),
                }
            }
            batch
        });
        Ok(Answer::at(&self.node, batch, applied))
    }

    /// Writes many keys atomically at one index.
    pub async fn batch_put(
        &self,
        items: Vec<KvSetItem>,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Answer<BatchWritten>> {
        self.limits.batch_writes(
            "items",
            items.iter().map(|i| (i.key.as_str(), i.value.as_slice())),
        )?;
        match self
            .write(Command::KvBatchSet { items }, id, deadline)
            .await?
        {
            Response::BatchWritten { keys, index } => {
                Ok(Answer::now(&self.node, BatchWritten { keys, index }))
            }
            other => Err(unexpected(other)),
        }
    }

    /// Deletes many keys atomically; absent ones are fine.
    pub async fn batch_delete(
        &self,
        keys: Vec<String>,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Answer<BatchDeleted>> {
        self.limits.batch("keys", keys.iter().map(String::as_str))?;
        let asked = keys.clone();
        match self
            .write(Command::KvBatchDelete { keys }, id, deadline)
            .await?
        {
            Response::BatchDeleted { deleted } => Ok(Answer::now(
                &self.node,
                BatchDeleted {
                    keys: asked,
                    deleted,
                },
            )),
            other => Err(unexpected(other)),
        }
    }

    /// Writes many keys if every CAS condition holds; otherwise changes nothing.
    pub async fn batch_put_cas(
        &self,
        items: Vec<KvCasItem>,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Answer<BatchWritten>> {
        self.limits.batch_writes(
            "items",
            items.iter().map(|i| (i.key.as_str(), i.value.as_slice())),
        )?;
        match self
            .write(Command::KvBatchSetCas { items }, id, deadline)
            .await?
        {
            Response::BatchWritten { keys, index } => {
                Ok(Answer::now(&self.node, BatchWritten { keys, index }))
            }
            Response::CasFailed(f) => Err(cas_error(f, true)),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes many keys if every CAS condition holds; otherwise changes nothing. Answers
    /// the keys deleted, in request order.
    pub async fn batch_delete_cas(
        &self,
        items: Vec<KvDeleteCasItem>,
        id: Option<RequestId>,
        deadline: Instant,
    ) -> Result<Answer<Vec<String>>> {
        self.limits
            .batch("items", items.iter().map(|i| i.key.as_str()))?;
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        match self
            .write(Command::KvBatchDeleteCas { items }, id, deadline)
            .await?
        {
            Response::BatchDeleted { .. } => Ok(Answer::now(&self.node, keys)),
            Response::CasFailed(f) => Err(cas_error(f, true)),
            other => Err(unexpected(other)),
        }
    }
}
