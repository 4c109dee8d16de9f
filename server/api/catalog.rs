//! The typed catalog API: service registration, heartbeats and discovery as methods on
//! domain types (`catalog_types.rs`), returning `crate::Error`. The gRPC service
//! (`api/grpc/catalog.rs`) and the REST routes (`gateway/catalog*.rs`) are thin adapters
//! over these methods. The health-check calls live in `checks.rs`.
//!
//! Writes: validate (`catalog_validate`) → stamp the leader's wall time from the clock seam
//! into the `store::Command` → `RaftNode::write_until` → the state machine's `Response`,
//! which carries what was written (the answer is built from it, not read back).
//! Heartbeats: `RaftNode::read_until(Leader)` (only the leader answers, while its lease
//! holds; a follower's not-leader answer is forwarded or redirected like a write's) → the
//! service must be in the applied store → `leader::heartbeats::Heartbeats::renew`, in
//! memory: no Raft entry. Reads: `RaftNode::read_until` (the consistency and `min_index`
//! asked, by the call's deadline) → the applied store. A service is shown until the
//! leader's replicated expiry removes it, with the deadline this node knows (the leader's
//! heartbeat table, else the replicated one).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::api::catalog_types::{Registration, ServiceView};
use crate::api::catalog_validate::{self as check, CatalogLimits};
use crate::api::{Answer, BatchDeleted, BatchWritten, ReadOptions};
use crate::deps::Clock;
use crate::error::{Error, Result};
use crate::leader::heartbeats::Heartbeats;
use crate::raft::node::RaftNode;
use crate::raft::reads::ReadConsistency;
use crate::store::{CasFailure, Command, Response, ServiceEntry, service_key};

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

/// Services a listing or query found, and the catalog index of the store they came from.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The services, sorted by name (then key).
    pub services: Vec<ServiceView>,
    /// The catalog index they were read at.
    pub catalog_index: u64,
}

/// What a batch read of services found.
#[derive(Debug, Clone)]
pub struct BatchServices {
    /// The services that exist, in request order.
    pub found: Vec<ServiceView>,
    /// The keys that do not, in request order.
    pub not_found: Vec<String>,
}

/// The filters of a service query; a service must carry every tag and every pair.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Tags that must all be present.
    pub tags: Vec<String>,
    /// Metadata pairs that must all match.
    pub meta: BTreeMap<String, String>,
    /// Only services whose every check passes.
    pub passing_only: bool,
}

/// Which filters a query must be given (the three query calls differ only in this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// At least one tag (QueryTags).
    Tags,
    /// At least one metadata pair (QueryMetadata).
    Metadata,
    /// At least one of either (Query).
    Any,
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

    /// The request timeout: how long a call without a deadline of its own may take.
    pub fn request_timeout(&self) -> std::time::Duration {
        self.node.request_timeout()
    }

    /// `e` (stored under `key`) as a reader at `now_ms` sees it, with the deadline this node
    /// knows: its heartbeat table's when it leads, the replicated one otherwise.
    fn shown(&self, key: &str, e: &ServiceEntry, now_ms: u64) -> ServiceView {
        ServiceView::of(key, e, now_ms, self.heartbeats.deadline(key, e))
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
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

fn matches(e: &ServiceEntry, tags: &[String], meta: &BTreeMap<String, String>) -> bool {
    tags.iter().all(|t| e.service.tags.contains(t))
        && meta.iter().all(|(k, v)| e.service.meta.get(k) == Some(v))
}

impl CatalogApi {
    /// Registered services matching `filter`, sorted by name (then key), read at `read`.
    async fn select(
        &self,
        filter: &ServiceFilter,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<Listing>> {
        read.wait(&self.node, deadline).await?;
        let now = self.now_ms();
        // Catalog keys sort by name first only up to '/'; sort by (name, key) explicitly.
        let ((mut found, catalog_index), applied) = self.node.view().read_at(|s| {
            let found = s
                .services_tagged(&filter.tags)
                .filter(|(_, e)| {
                    matches(e, &filter.tags, &filter.meta)
                        && (!filter.passing_only || e.passing(now))
                })
                .map(|(k, e)| (e.service.name.clone(), k.clone(), self.shown(k, e, now)))
                .collect::<Vec<_>>();
            (found, s.catalog_index())
        });
        found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let services = found.into_iter().map(|(_, _, e)| e).collect();
        Ok(Answer::at(
            &self.node,
            Listing {
                services,
                catalog_index,
            },
            applied,
        ))
    }

    /// Registers (or replaces) a service; with `cas`, only over that modify index (0:
    /// create only). Answers the service as written, check states included.
    pub async fn register(
        &self,
        registration: Registration,
        cas: Option<u64>,
        deadline: Instant,
    ) -> Result<Answer<ServiceView>> {
        let service = registration.validate(&self.limits, "service")?;
        let now = self.now_ms();
        let command = Command::CatalogRegister {
            service: service.clone(),
            expected_index: cas,
            now_ms: now,
        };
        match self.node.write_until(command, deadline).await?.response {
            Response::Registered {
                key,
                create_index,
                modify_index,
                expires_at_ms,
                checks,
            } => {
                let entry = ServiceEntry {
                    service,
                    create_index,
                    modify_index,
                    expires_at_ms,
                    checks,
                };
                Ok(Answer::now(&self.node, self.shown(&key, &entry, now)))
            }
            Response::CasFailed(f) => Err(cas_error(f)),
            Response::CheckIdTaken { check_id, owner } => Err(check_taken(check_id, owner)),
            other => Err(unexpected(other)),
        }
    }

    /// Removes a service (`name`, or instance `name/id`); with `cas`, only at that modify
    /// index. Answers whether it existed.
    pub async fn deregister(
        &self,
        name: &str,
        id: Option<&str>,
        cas: Option<u64>,
        deadline: Instant,
    ) -> Result<Answer<bool>> {
        let key = key_of(name, id)?;
        let command = Command::CatalogDeregister {
            key,
            expected_index: cas,
        };
        match self.node.write_until(command, deadline).await?.response {
            Response::Deleted { existed } => Ok(Answer::now(&self.node, existed)),
            Response::CasFailed(f) => Err(cas_error(f)),
            other => Err(unexpected(other)),
        }
    }

    /// A heartbeat, answered from the leader's memory: this node must lead with its lease
    /// holding (and have applied everything committed before, so a registration the client
    /// saw acknowledged is here); the service must be registered and not already chosen for
    /// expiry. No Raft entry is written. Answers the new deadline.
    pub async fn heartbeat(
        &self,
        name: &str,
        id: Option<&str>,
        deadline: Instant,
    ) -> Result<Answer<u64>> {
        let key = key_of(name, id)?;
        self.node
            .read_until(ReadConsistency::Leader, 0, deadline)
            .await?;
        let now = self.now_ms();
        let (renewed, applied) = self.node.view().read_at(|s| {
            s.service(&key)
                .and_then(|e| self.heartbeats.renew(&key, e, now))
        });
        let expires_at_ms = renewed.ok_or_else(|| Error::NotFound(SERVICE_NOT_FOUND.into()))?;
        Ok(Answer::at(&self.node, expires_at_ms, applied))
    }

    /// One service (`name`, or instance `name/id`), read at `read`.
    pub async fn get(
        &self,
        name: &str,
        id: Option<&str>,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<ServiceView>> {
        let key = key_of(name, id)?;
        read.wait(&self.node, deadline).await?;
        let now = self.now_ms();
        let (entry, applied) = self
            .node
            .view()
            .read_at(|s| s.service(&key).map(|e| self.shown(&key, e, now)));
        let entry = entry.ok_or_else(|| Error::NotFound(SERVICE_NOT_FOUND.into()))?;
        Ok(Answer::at(&self.node, entry, applied))
    }

    /// Every live service (only passing ones with `passing_only`), with the catalog index.
    pub async fn list(
        &self,
        passing_only: bool,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<Listing>> {
        let filter = ServiceFilter {
            passing_only,
            ..ServiceFilter::default()
        };
        self.select(&filter, read, deadline).await
    }

    /// Live services matching `filter`, which must name what `kind` requires.
    pub async fn query(
        &self,
        kind: QueryKind,
        filter: ServiceFilter,
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<Listing>> {
        match kind {
            QueryKind::Tags if filter.tags.is_empty() => {
                return Err(Error::invalid("tags", "At least one tag must be specified"));
            }
            QueryKind::Metadata if filter.meta.is_empty() => {
                return Err(Error::invalid(
                    "meta",
                    "At least one metadata filter must be specified",
                ));
            }
            QueryKind::Any if filter.tags.is_empty() && filter.meta.is_empty() => {
                return Err(Error::invalid(
                    "tags",
                    "At least one tag or metadata filter must be specified",
                ));
            }
            _ => {}
        }
        self.select(&filter, read, deadline).await
    }

    /// Registers many services atomically (one Raft entry): all or nothing, so every
    /// invalid one is reported.
    pub async fn batch_register(
        &self,
        registrations: Vec<Registration>,
        deadline: Instant,
    ) -> Result<Answer<BatchWritten>> {
        self.limits.batch("services", registrations.len())?;
        let mut services = Vec::with_capacity(registrations.len());
        let mut invalid = Vec::new();
        for (i, r) in registrations.into_iter().enumerate() {
            match r.validate(&self.limits, &format!("services[{i}]")) {
                Ok(s) => services.push(s),
                Err(e) => invalid.push(e.to_string()),
            }
        }
        if !invalid.is_empty() {
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
        match self.node.write_until(command, deadline).await?.response {
            Response::BatchWritten { keys, index } => {
                Ok(Answer::now(&self.node, BatchWritten { keys, index }))
            }
            Response::CheckIdTaken { check_id, owner } => Err(check_taken(check_id, owner)),
            other => Err(unexpected(other)),
        }
    }

    /// Removes many services by catalog key atomically; absent ones are fine.
    pub async fn batch_deregister(
        &self,
        keys: Vec<String>,
        deadline: Instant,
    ) -> Result<Answer<BatchDeleted>> {
        self.limits.batch("keys", keys.len())?;
        for (i, k) in keys.iter().enumerate() {
            check::key(&format!("keys[{i}]"), k)?;
        }
        let asked = keys.clone();
        let command = Command::CatalogBatchDeregister { keys };
        match self.node.write_until(command, deadline).await?.response {
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

    /// Many services by catalog key, read at one index.
    pub async fn batch_get(
        &self,
        keys: &[String],
        read: ReadOptions,
        deadline: Instant,
    ) -> Result<Answer<BatchServices>> {
        self.limits.batch("keys", keys.len())?;
        for (i, k) in keys.iter().enumerate() {
            check::key(&format!("keys[{i}]"), k)?;
        }
        read.wait(&self.node, deadline).await?;
        let now = self.now_ms();
        let (batch, applied) = self.node.view().read_at(|s| {
            let mut batch = BatchServices {
                found: Vec::new(),
                not_found: Vec::new(),
            };
            for k in keys {
                match s.service(k) {
                    Some(e) => batch.found.push(self.shown(k, e, now)),
                    None => batch.not_found.push(k.clone()),
                }
            }
            batch
        });
        Ok(Answer::at(&self.node, batch, applied))
    }
}
