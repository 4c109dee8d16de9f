//! CatalogService: service registration, heartbeats and discovery, gRPC first.
//!
//! Writes: validate (`catalog_validate`) → stamp the leader's wall time from the clock seam
//! into the `store::Command` → `RaftNode::write` → the state machine's `Response` →
//! protobuf. Heartbeats: `RaftNode::read_until(Leader)` (only the leader answers, while its
//! lease holds; a follower's not-leader answer is forwarded or redirected like a write's) →
//! the service must be in the applied store → `leader::heartbeats::Heartbeats::renew`, in
//! memory: no Raft entry. Reads: `RaftNode::read_until` (the consistency and `min_index`
//! asked, by the call's deadline) → the applied store. A service is shown until the
//! leader's replicated expiry removes it, with the deadline this node knows (the leader's
//! heartbeat table, else the replicated one). The REST gateway calls these same methods.
//! The health-check calls live in `checks.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_server::CatalogService;
use tokio::time::Instant;
use tonic::{Request, Response as GrpcResponse, Status};

use crate::api::catalog_validate::{self as check, CatalogLimits};
use crate::api::convert::{entry_to_pb, service_from_pb};
use crate::api::{call, convert};
use crate::deps::Clock;
use crate::error::{Error, Result};
use crate::leader::heartbeats::Heartbeats;
use crate::raft::node::RaftNode;
use crate::raft::reads::ReadConsistency;
use crate::store::{CasFailure, CheckState, Command, Response, ServiceEntry, service_key};

/// Message of NOT_FOUND for a missing or expired service (the REST contract's text), and for
/// a heartbeat of a service the leader has chosen to expire.
pub const SERVICE_NOT_FOUND: &str = "Service not found";

/// The catalog service over one Raft node.
#[derive(Clone)]
pub struct CatalogApi {
    pub(crate) node: RaftNode,
    clock: Arc<dyn Clock>,
    heartbeats: Arc<Heartbeats>,
    limits: CatalogLimits,
}

impl CatalogApi {
    /// A catalog service for `node`; `clock` stamps write and heartbeat times and judges TTL
    /// checks on reads; heartbeats are recorded in `heartbeats`, which the leader's expiry
    /// task reads.
    pub fn new(
        node: RaftNode,
        clock: Arc<dyn Clock>,
        heartbeats: Arc<Heartbeats>,
        limits: CatalogLimits,
    ) -> Self {
        Self {
            node,
            clock,
            heartbeats,
            limits,
        }
    }

    /// `e` (stored under `key`) as a reader at `now_ms` sees it, with the deadline this node
    /// knows: its heartbeat table's when it leads, the replicated one otherwise.
    fn shown(&self, key: &str, e: &ServiceEntry, now_ms: u64) -> pb::ServiceEntry {
        pb::ServiceEntry {
            expires_at_ms: self.heartbeats.deadline(key, e),
            ..entry_to_pb(key, e, now_ms)
        }
    }

    pub(crate) fn header(&self) -> Option<pb::ResponseHeader> {
        Some(convert::header(self.node.header()))
    }

    /// The header of a read that saw the store at `applied`.
    pub(crate) fn header_at(&self, applied: u64) -> Option<pb::ResponseHeader> {
        Some(convert::header(self.node.header_at(applied)))
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// When call `r` must be answered (its `grpc-timeout`, at most `request_timeout`).
    pub(crate) fn deadline<T>(&self, r: &Request<T>) -> Instant {
        call::deadline(r, self.node.request_timeout())
    }

    /// Makes a following read as fresh as the request asks: `min_index` applied here first
    /// (when non-zero), then `consistency`, both by `deadline`.
    pub(crate) async fn fresh(
        &self,
        consistency: i32,
        min_index: u64,
        deadline: Instant,
    ) -> Result<()> {
        self.node
            .read_until(convert::consistency(consistency), min_index, deadline)
            .await
    }
}

fn key_of(name: &str, id: Option<&str>) -> Result<String> {
    check::name("name", name)?;
    if let Some(id) = id {
        check::name("id", id)?;
    }
    Ok(service_key(name, id))
}

fn cas_error(f: CasFailure) -> Error {
    match f {
        CasFailure::NotFound { .. } => Error::NotFound(SERVICE_NOT_FOUND.into()),
        CasFailure::Conflict {
            key,
            expected,
            current,
        } => Error::ServiceCasConflict {
            service: key,
            expected,
            current,
        },
    }
}

fn check_taken(check_id: String, owner: String) -> Error {
    Error::AlreadyExists(format!(
        "check id '{check_id}' already belongs to service '{owner}'"
    ))
}

pub(crate) fn unexpected(r: Response) -> Error {
    Error::Internal(format!("state machine answered {r:?} to a catalog command"))
}

/// What [`CatalogApi::select`] found, and what it reflects.
struct Selected {
    entries: Vec<pb::ServiceEntry>,
    /// The catalog index of the store the entries were read from.
    catalog_index: u64,
    /// The response header, with the applied index the entries were read at.
    header: Option<pb::ResponseHeader>,
}

fn matches(e: &ServiceEntry, tags: &[String], meta: &BTreeMap<String, String>) -> bool {
    tags.iter().all(|t| e.service.tags.contains(t))
        && meta.iter().all(|(k, v)| e.service.meta.get(k) == Some(v))
}

impl CatalogApi {
    /// Registered services matching every tag and pair (and passing every check, with
    /// `passing_only`), sorted by name (then key), and the catalog index they were read at.
    /// The caller makes the read as fresh as asked first ([`Self::fresh`]).
    fn select(
        &self,
        tags: &[String],
        meta: &BTreeMap<String, String>,
        passing_only: bool,
    ) -> Selected {
        let now = self.now_ms();
        // Catalog keys sort by name first only up to '/'; sort by (name, key) explicitly.
        let ((mut found, catalog_index), applied) = self.node.view().read_at(|s| {
            let found = s
                .services_tagged(tags)
                .filter(|(_, e)| matches(e, tags, meta) && (!passing_only || e.passing(now)))
                .map(|(k, e)| (e.service.name.clone(), k.clone(), self.shown(k, e, now)))
                .collect::<Vec<_>>();
            (found, s.catalog_index())
        });
        found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Selected {
            entries: found.into_iter().map(|(_, _, e)| e).collect(),
            catalog_index,
            header: self.header_at(applied),
        }
    }

    async fn register_inner(&self, req: pb::RegisterRequest) -> Result<pb::RegisterResponse> {
        let service = service_from_pb(
            &self.limits,
            "service",
            req.service
                .ok_or_else(|| Error::invalid("service", "is required"))?,
        )?;
        let now = self.now_ms();
        let command = Command::CatalogRegister {
            service: service.clone(),
            expected_index: req.cas,
            now_ms: now,
        };
        match self.node.write(command).await?.response {
            Response::Registered {
                key,
                create_index,
                modify_index,
                expires_at_ms,
            } => {
                // The applied entry carries the checks' states (kept ones included); a
                // later write may already have replaced it, then new-check states stand in.
                let entry = self
                    .node
                    .view()
                    .read(|s| {
                        s.service(&key)
                            .filter(|e| e.modify_index == modify_index)
                            .map(|e| self.shown(&key, e, now))
                    })
                    .unwrap_or_else(|| {
                        let checks = service
                            .checks
                            .iter()
                            .map(|d| (d.id.clone(), CheckState::new_check()))
                            .collect();
                        let entry = ServiceEntry {
                            service,
                            create_index,
                            modify_index,
                            expires_at_ms,
                            checks,
                        };
                        entry_to_pb(&key, &entry, now)
                    });
                Ok(pb::RegisterResponse {
                    header: self.header(),
                    entry: Some(entry),
                })
            }
            Response::CasFailed(f) => Err(cas_error(f)),
            Response::CheckIdTaken { check_id, owner } => Err(check_taken(check_id, owner)),
            other => Err(unexpected(other)),
        }
    }

    async fn deregister_inner(&self, req: pb::DeregisterRequest) -> Result<pb::DeregisterResponse> {
        let key = key_of(&req.name, req.id.as_deref())?;
        let command = Command::CatalogDeregister {
            key,
            expected_index: req.cas,
        };
        match self.node.write(command).await?.response {
            Response::Deleted { existed } => Ok(pb::DeregisterResponse {
                header: self.header(),
                deleted: existed,
            }),
            Response::CasFailed(f) => Err(cas_error(f)),
            other => Err(unexpected(other)),
        }
    }

    /// A heartbeat, answered from the leader's memory: this node must lead with its lease
    /// holding (and have applied everything committed before, so a registration the client
    /// saw acknowledged is here); the service must be registered and not already chosen for
    /// expiry. No Raft entry is written.
    async fn heartbeat_inner(
        &self,
        req: pb::HeartbeatRequest,
        deadline: Instant,
    ) -> Result<pb::HeartbeatResponse> {
        let key = key_of(&req.name, req.id.as_deref())?;
        self.node
            .read_until(ReadConsistency::Leader, 0, deadline)
            .await?;
        let now = self.now_ms();
        let (renewed, applied) = self.node.view().read_at(|s| {
            s.service(&key)
                .and_then(|e| self.heartbeats.renew(&key, e, now))
        });
        let expires_at_ms = renewed.ok_or_else(|| Error::NotFound(SERVICE_NOT_FOUND.into()))?;
        Ok(pb::HeartbeatResponse {
            header: self.header_at(applied),
            expires_at_ms,
        })
    }

    async fn get_inner(
        &self,
        req: pb::GetServiceRequest,
        deadline: Instant,
    ) -> Result<pb::GetServiceResponse> {
        let key = key_of(&req.name, req.id.as_deref())?;
        self.fresh(req.consistency, req.min_index, deadline).await?;
        let now = self.now_ms();
        let (entry, applied) = self
            .node
            .view()
            .read_at(|s| s.service(&key).map(|e| self.shown(&key, e, now)));
        let entry = entry.ok_or_else(|| Error::NotFound(SERVICE_NOT_FOUND.into()))?;
        Ok(pb::GetServiceResponse {
            header: self.header_at(applied),
            entry: Some(entry),
        })
    }

    async fn batch_register_inner(
        &self,
        req: pb::BatchRegisterRequest,
    ) -> Result<pb::BatchRegisterResponse> {
        self.limits.batch("services", req.services.len())?;
        let mut services = Vec::with_capacity(req.services.len());
        let mut invalid = Vec::new();
        for (i, s) in req.services.into_iter().enumerate() {
            match service_from_pb(&self.limits, &format!("services[{i}]"), s) {
                Ok(s) => services.push(s),
                Err(e) => invalid.push(e.to_string()),
            }
        }
        if !invalid.is_empty() {
            // Atomic: one Raft entry for all or nothing, so report every bad service.
            return Err(Error::InvalidArgument(format!(
                "{} invalid service(s), nothing registered: {}",
                invalid.len(),
                invalid.join("; ")
            )));
        }
        let command = Command::CatalogBatchRegister {
            services,
            now_ms: self.now_ms(),
        };
        match self.node.write(command).await?.response {
            Response::BatchWritten { keys, index } => Ok(pb::BatchRegisterResponse {
                header: self.header(),
                keys,
                index,
            }),
            Response::CheckIdTaken { check_id, owner } => Err(check_taken(check_id, owner)),
            other => Err(unexpected(other)),
        }
    }

    async fn batch_deregister_inner(
        &self,
        req: pb::BatchDeregisterRequest,
    ) -> Result<pb::BatchDeregisterResponse> {
        self.limits.batch("keys", req.keys.len())?;
        for (i, k) in req.keys.iter().enumerate() {
            check::key(&format!("keys[{i}]"), k)?;
        }
        let keys = req.keys.clone();
        match self
            .node
            .write(Command::CatalogBatchDeregister { keys: req.keys })
            .await?
            .response
        {
            Response::BatchDeleted { deleted } => Ok(pb::BatchDeregisterResponse {
                header: self.header(),
                keys,
                deleted,
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn batch_get_inner(
        &self,
        req: pb::BatchGetServicesRequest,
        deadline: Instant,
    ) -> Result<pb::BatchGetServicesResponse> {
        self.limits.batch("keys", req.keys.len())?;
        for (i, k) in req.keys.iter().enumerate() {
            check::key(&format!("keys[{i}]"), k)?;
        }
        self.fresh(req.consistency, req.min_index, deadline).await?;
        let now = self.now_ms();
        let ((found, not_found), applied) = self.node.view().read_at(|s| {
            let (mut found, mut not_found) = (Vec::new(), Vec::new());
            for k in &req.keys {
                match s.service(k) {
                    Some(e) => found.push(self.shown(k, e, now)),
                    None => not_found.push(k.clone()),
                }
            }
            (found, not_found)
        });
        Ok(pb::BatchGetServicesResponse {
            header: self.header_at(applied),
            found,
            not_found,
        })
    }
}

/// Runs an inner call and converts its error through the one `Error → Status` mapping.
async fn reply<T>(f: impl Future<Output = Result<T>>) -> Result<GrpcResponse<T>, Status> {
    f.await.map(GrpcResponse::new).map_err(Status::from)
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn register(
        &self,
        r: Request<pb::RegisterRequest>,
    ) -> Result<GrpcResponse<pb::RegisterResponse>, Status> {
        reply(self.register_inner(r.into_inner())).await
    }

    async fn deregister(
        &self,
        r: Request<pb::DeregisterRequest>,
    ) -> Result<GrpcResponse<pb::DeregisterResponse>, Status> {
        reply(self.deregister_inner(r.into_inner())).await
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<GrpcResponse<pb::HeartbeatResponse>, Status> {
        let deadline = self.deadline(&r);
        reply(self.heartbeat_inner(r.into_inner(), deadline)).await
    }

    async fn get_service(
        &self,
        r: Request<pb::GetServiceRequest>,
    ) -> Result<GrpcResponse<pb::GetServiceResponse>, Status> {
        let deadline = self.deadline(&r);
        reply(self.get_inner(r.into_inner(), deadline)).await
    }

    async fn list_services(
        &self,
        r: Request<pb::ListServicesRequest>,
    ) -> Result<GrpcResponse<pb::ListServicesResponse>, Status> {
        let deadline = self.deadline(&r);
        let req = r.into_inner();
        reply(async {
            self.fresh(req.consistency, req.min_index, deadline).await?;
            let found = self.select(&[], &BTreeMap::new(), req.passing_only);
            Ok(pb::ListServicesResponse {
                entries: found.entries,
                header: found.header,
                catalog_index: found.catalog_index,
            })
        })
        .await
    }

    async fn query_tags(
        &self,
        r: Request<pb::QueryTagsRequest>,
    ) -> Result<GrpcResponse<pb::QueryTagsResponse>, Status> {
        let deadline = self.deadline(&r);
        let req = r.into_inner();
        reply(async {
            if req.tags.is_empty() {
                return Err(Error::invalid("tags", "At least one tag must be specified"));
            }
            self.fresh(req.consistency, req.min_index, deadline).await?;
            let found = self.select(&req.tags, &BTreeMap::new(), req.passing_only);
            Ok(pb::QueryTagsResponse {
                entries: found.entries,
                header: found.header,
            })
        })
        .await
    }

    async fn query_metadata(
        &self,
        r: Request<pb::QueryMetadataRequest>,
    ) -> Result<GrpcResponse<pb::QueryMetadataResponse>, Status> {
        let deadline = self.deadline(&r);
        let req = r.into_inner();
        reply(async {
            if req.meta.is_empty() {
                return Err(Error::invalid(
                    "meta",
                    "At least one metadata filter must be specified",
                ));
            }
            self.fresh(req.consistency, req.min_index, deadline).await?;
            let found = self.select(&[], &req.meta, req.passing_only);
            Ok(pb::QueryMetadataResponse {
                entries: found.entries,
                header: found.header,
            })
        })
        .await
    }

    async fn query(
        &self,
        r: Request<pb::QueryRequest>,
    ) -> Result<GrpcResponse<pb::QueryResponse>, Status> {
        let deadline = self.deadline(&r);
        let req = r.into_inner();
        reply(async {
            if req.tags.is_empty() && req.meta.is_empty() {
                return Err(Error::invalid(
                    "tags",
                    "At least one tag or metadata filter must be specified",
                ));
            }
            self.fresh(req.consistency, req.min_index, deadline).await?;
            let found = self.select(&req.tags, &req.meta, req.passing_only);
            Ok(pb::QueryResponse {
                entries: found.entries,
                header: found.header,
            })
        })
        .await
    }

    async fn batch_register(
        &self,
        r: Request<pb::BatchRegisterRequest>,
    ) -> Result<GrpcResponse<pb::BatchRegisterResponse>, Status> {
        reply(self.batch_register_inner(r.into_inner())).await
    }

    async fn batch_deregister(
        &self,
        r: Request<pb::BatchDeregisterRequest>,
    ) -> Result<GrpcResponse<pb::BatchDeregisterResponse>, Status> {
        reply(self.batch_deregister_inner(r.into_inner())).await
    }

    async fn batch_get_services(
        &self,
        r: Request<pb::BatchGetServicesRequest>,
    ) -> Result<GrpcResponse<pb::BatchGetServicesResponse>, Status> {
        let deadline = self.deadline(&r);
        reply(self.batch_get_inner(r.into_inner(), deadline)).await
    }

    async fn update_ttl_check(
        &self,
        r: Request<pb::UpdateTtlCheckRequest>,
    ) -> Result<GrpcResponse<pb::UpdateTtlCheckResponse>, Status> {
        reply(self.update_ttl_check_inner(r.into_inner())).await
    }

    async fn list_checks(
        &self,
        r: Request<pb::ListChecksRequest>,
    ) -> Result<GrpcResponse<pb::ListChecksResponse>, Status> {
        let deadline = self.deadline(&r);
        reply(self.list_checks_inner(r.into_inner(), deadline)).await
    }

    async fn service_checks(
        &self,
        r: Request<pb::ServiceChecksRequest>,
    ) -> Result<GrpcResponse<pb::ServiceChecksResponse>, Status> {
        let deadline = self.deadline(&r);
        reply(self.service_checks_inner(r.into_inner(), deadline)).await
    }
}
