//! KVService: every key/value call, gRPC first.
//!
//! Writes: validate → `store::Command` → `RaftNode::write` (leader only; quorum fsync) →
//! the state machine's `Response` → protobuf. Reads: `RaftNode::read_until` for the
//! requested consistency and `min_index` → the applied store → protobuf. The REST gateway
//! calls these same methods. A CAS mismatch comes back from the store as a normal response
//! and is turned into ABORTED (or NOT_FOUND for a missing key) here, at the edge.

use std::sync::Arc;

use konsul_proto::v1 as pb;
use konsul_proto::v1::kv_service_server::KvService;
use tokio::time::Instant;
use tonic::{Request, Response as GrpcResponse, Status};

use crate::api::validate::Limits;
use crate::api::{call, convert};
use crate::deps::Clock;
use crate::error::{Error, Result};
use crate::raft::node::RaftNode;
use crate::store::{CasFailure, Command, KvCasItem, KvDeleteCasItem, KvSetItem, Response};

/// Message of NOT_FOUND for a single missing key (the REST contract's text).
pub const KEY_NOT_FOUND: &str = "Key not found";

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

    fn header(&self) -> Option<pb::ResponseHeader> {
        Some(convert::header(self.node.header()))
    }

    /// The header of a read that saw the store at `applied`.
    fn header_at(&self, applied: u64) -> Option<pb::ResponseHeader> {
        Some(convert::header(self.node.header_at(applied)))
    }

    /// Proposes `command` (identified by `id` when given) and waits for its outcome until
    /// `deadline`; a retry the state machine refused as forgotten becomes an error here.
    async fn write(
        &self,
        command: Command,
        id: Option<&pb::RequestId>,
        deadline: Instant,
    ) -> Result<Response> {
        let command = call::identified(command, id, self.clock.as_ref())?;
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
    async fn get_inner(&self, req: pb::GetRequest, deadline: Instant) -> Result<pb::GetResponse> {
        self.limits.key("key", &req.key)?;
        self.node
            .read_until(
                convert::consistency(req.consistency),
                req.min_index,
                deadline,
            )
            .await?;
        let (kv, applied) = self.node.view().read_at(|s| {
            s.get(&req.key)
                .map(|e| convert::key_value(&req.key, e, true))
        });
        let kv = kv.ok_or_else(|| Error::NotFound(KEY_NOT_FOUND.into()))?;
        Ok(pb::GetResponse {
            header: self.header_at(applied),
            kv: Some(kv),
        })
    }

    async fn list_inner(
        &self,
        req: pb::ListRequest,
        deadline: Instant,
    ) -> Result<pb::ListResponse> {
        if req.prefix.len() > self.limits.max_key_bytes {
            return Err(Error::invalid(
                "prefix",
                format!("the limit is {} bytes", self.limits.max_key_bytes),
            ));
        }
        self.node
            .read_until(
                convert::consistency(req.consistency),
                req.min_index,
                deadline,
            )
            .await?;
        let limit = if req.limit == 0 {
            usize::MAX
        } else {
            req.limit as usize
        };
        let ((kvs, more), applied) = self.node.view().read_at(|s| {
            let mut it = s.range_prefix(&req.prefix);
            let kvs: Vec<_> = it
                .by_ref()
                .take(limit)
                .map(|(k, e)| convert::key_value(k, e, !req.keys_only))
                .collect();
            (kvs, it.next().is_some())
        });
        Ok(pb::ListResponse {
            header: self.header_at(applied),
            kvs,
            more,
        })
    }

    async fn put_inner(&self, req: pb::PutRequest, deadline: Instant) -> Result<pb::PutResponse> {
        self.limits.key("key", &req.key)?;
        self.limits.value("value", &req.value)?;
        let command = match req.cas {
            None => Command::KvSet {
                key: req.key,
                value: req.value,
                flags: req.flags,
            },
            Some(expected_index) => Command::KvSetCas {
                key: req.key,
                value: req.value,
                expected_index,
            },
        };
        match self
            .write(command, req.request_id.as_ref(), deadline)
            .await?
        {
            Response::Written {
                key,
                flags,
                create_index,
                modify_index,
            } => Ok(pb::PutResponse {
                header: self.header(),
                kv: Some(pb::KeyValue {
                    key,
                    value: Vec::new(),
                    flags,
                    create_index,
                    modify_index,
                }),
            }),
            Response::CasFailed(f) => Err(cas_error(f, false)),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_inner(
        &self,
        req: pb::DeleteRequest,
        deadline: Instant,
    ) -> Result<pb::DeleteResponse> {
        self.limits.key("key", &req.key)?;
        let id = req.request_id;
        let command = match req.cas {
            None => Command::KvDelete { key: req.key },
            Some(expected_index) => Command::KvDeleteCas {
                key: req.key,
                expected_index,
            },
        };
        match self.write(command, id.as_ref(), deadline).await? {
            Response::Deleted { existed } => Ok(pb::DeleteResponse {
                header: self.header(),
                deleted: existed,
            }),
            Response::CasFailed(f) => Err(cas_error(f, false)),
            other => Err(unexpected(other)),
        }
    }

    async fn batch_get_inner(
        &self,
        req: pb::BatchGetRequest,
        deadline: Instant,
    ) -> Result<pb::BatchGetResponse> {
        self.limits
            .batch("keys", req.keys.iter().map(String::as_str))?;
        self.node
            .read_until(
                convert::consistency(req.consistency),
                req.min_index,
                deadline,
            )
            .await?;
        let ((found, not_found), applied) = self.node.view().read_at(|s| {
            let mut found = Vec::new();
            let mut not_found = Vec::new();
            for k in &req.keys {
                match s.get(k) {
                    Some(e) => found.push(convert::key_value(k, e, true)),
                    None => not_found.push(k.clone()),
                }
            }
            (found, not_found)
        });
        Ok(pb::BatchGetResponse {
            header: self.header_at(applied),
            found,
            not_found,
        })
    }

    async fn batch_put_inner(
        &self,
        req: pb::BatchPutRequest,
        deadline: Instant,
    ) -> Result<pb::BatchPutResponse> {
        self.limits.batch_writes(
            "items",
            req.items
                .iter()
                .map(|i| (i.key.as_str(), i.value.as_slice())),
        )?;
        let items = req
            .items
            .into_iter()
            .map(|i| KvSetItem {
                key: i.key,
                value: i.value,
                flags: i.flags,
            })
            .collect();
        match self
            .write(
                Command::KvBatchSet { items },
                req.request_id.as_ref(),
                deadline,
            )
            .await?
        {
            Response::BatchWritten { keys, index } => Ok(pb::BatchPutResponse {
                header: self.header(),
                keys,
                index,
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn batch_delete_inner(
        &self,
        req: pb::BatchDeleteRequest,
        deadline: Instant,
    ) -> Result<pb::BatchDeleteResponse> {
        self.limits
            .batch("keys", req.keys.iter().map(String::as_str))?;
        let keys = req.keys.clone();
        match self
            .write(
                Command::KvBatchDelete { keys: req.keys },
                req.request_id.as_ref(),
                deadline,
            )
            .await?
        {
            Response::BatchDeleted { deleted } => Ok(pb::BatchDeleteResponse {
                header: self.header(),
                keys,
                deleted,
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn batch_put_cas_inner(
        &self,
        req: pb::BatchPutCasRequest,
        deadline: Instant,
    ) -> Result<pb::BatchPutCasResponse> {
        self.limits.batch_writes(
            "items",
            req.items
                .iter()
                .map(|i| (i.key.as_str(), i.value.as_slice())),
        )?;
        let items = req
            .items
            .into_iter()
            .map(|i| KvCasItem {
                key: i.key,
                value: i.value,
                expected_index: i.expected_index,
            })
            .collect();
        match self
            .write(
                Command::KvBatchSetCas { items },
                req.request_id.as_ref(),
                deadline,
            )
            .await?
        {
            Response::BatchWritten { keys, index } => Ok(pb::BatchPutCasResponse {
                header: self.header(),
                new_indices: keys.into_iter().map(|k| (k, index)).collect(),
            }),
            Response::CasFailed(f) => Err(cas_error(f, true)),
            other => Err(unexpected(other)),
        }
    }

    async fn batch_delete_cas_inner(
        &self,
        req: pb::BatchDeleteCasRequest,
        deadline: Instant,
    ) -> Result<pb::BatchDeleteCasResponse> {
        self.limits
            .batch("items", req.items.iter().map(|i| i.key.as_str()))?;
        let keys: Vec<String> = req.items.iter().map(|i| i.key.clone()).collect();
        let items = req
            .items
            .into_iter()
            .map(|i| KvDeleteCasItem {
                key: i.key,
                expected_index: i.expected_index,
            })
            .collect();
        match self
            .write(
                Command::KvBatchDeleteCas { items },
                req.request_id.as_ref(),
                deadline,
            )
            .await?
        {
            Response::BatchDeleted { .. } => Ok(pb::BatchDeleteCasResponse {
                header: self.header(),
                keys,
            }),
            Response::CasFailed(f) => Err(cas_error(f, true)),
            other => Err(unexpected(other)),
        }
    }
}

/// Runs an inner call and converts its error through the one `Error → Status` mapping.
async fn reply<T>(f: impl Future<Output = Result<T>>) -> Result<GrpcResponse<T>, Status> {
    f.await.map(GrpcResponse::new).map_err(Status::from)
}

#[tonic::async_trait]
impl KvService for KvApi {
    async fn get(
        &self,
        r: Request<pb::GetRequest>,
    ) -> Result<GrpcResponse<pb::GetResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.get_inner(r.into_inner(), deadline)).await
    }

    async fn list(
        &self,
        r: Request<pb::ListRequest>,
    ) -> Result<GrpcResponse<pb::ListResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.list_inner(r.into_inner(), deadline)).await
    }

    async fn put(
        &self,
        r: Request<pb::PutRequest>,
    ) -> Result<GrpcResponse<pb::PutResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.put_inner(r.into_inner(), deadline)).await
    }

    async fn delete(
        &self,
        r: Request<pb::DeleteRequest>,
    ) -> Result<GrpcResponse<pb::DeleteResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.delete_inner(r.into_inner(), deadline)).await
    }

    async fn batch_get(
        &self,
        r: Request<pb::BatchGetRequest>,
    ) -> Result<GrpcResponse<pb::BatchGetResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.batch_get_inner(r.into_inner(), deadline)).await
    }

    async fn batch_put(
        &self,
        r: Request<pb::BatchPutRequest>,
    ) -> Result<GrpcResponse<pb::BatchPutResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.batch_put_inner(r.into_inner(), deadline)).await
    }

    async fn batch_delete(
        &self,
        r: Request<pb::BatchDeleteRequest>,
    ) -> Result<GrpcResponse<pb::BatchDeleteResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.batch_delete_inner(r.into_inner(), deadline)).await
    }

    async fn batch_put_cas(
        &self,
        r: Request<pb::BatchPutCasRequest>,
    ) -> Result<GrpcResponse<pb::BatchPutCasResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.batch_put_cas_inner(r.into_inner(), deadline)).await
    }

    async fn batch_delete_cas(
        &self,
        r: Request<pb::BatchDeleteCasRequest>,
    ) -> Result<GrpcResponse<pb::BatchDeleteCasResponse>, Status> {
        let deadline = call::deadline(&r, self.node.request_timeout());
        reply(self.batch_delete_cas_inner(r.into_inner(), deadline)).await
    }
}
