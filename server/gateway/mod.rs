//! The REST/JSON gateway: a view over the gRPC services of `api/`, on the same listener.
//!
//! A REST call is parsed here (path, query, JSON body), turned into the protobuf request of
//! the matching gRPC method, and answered by calling that very method on the `api/`
//! service; the result (or the gRPC status) is rendered as the JSON of the Konsul REST
//! contract. There is no second copy of any logic: validation, Raft and the store are
//! reached only through `api/`. [`routes`] holds the one route table, from which both the
//! axum router and the OpenAPI document's coverage test are derived.

pub mod body;
pub mod catalog;
pub mod catalog_batch;
pub mod check_json;
pub mod checks;
pub mod cluster;
pub mod context;
#[cfg(feature = "failpoints")]
pub mod debug;
pub mod error;
pub mod format;
pub mod freshness;
pub mod health;
pub mod kv;
pub mod kv_batch;
pub mod openapi;
pub mod query;
pub mod routes;
pub mod stages;

use std::sync::Arc;

use crate::api::catalog::CatalogApi;
use crate::api::cluster::ClusterApi;
use crate::api::kv::KvApi;
use crate::api::validate::Limits;
use crate::deps::Deps;
use crate::raft::node::RaftNode;

/// Everything a REST handler needs, cloned per request (cheap: handles only).
#[derive(Clone)]
pub struct Gateway {
    /// The KV gRPC service the KV routes call.
    pub kv: KvApi,
    /// The catalog gRPC service the service routes call.
    pub catalog: CatalogApi,
    /// The cluster gRPC service the /cluster routes call.
    pub cluster: ClusterApi,
    /// The node, for health and readiness.
    pub node: RaftNode,
    /// Clock and randomness for timestamps and request ids.
    pub deps: Deps,
    /// Body size limit and friends.
    pub limits: Limits,
    /// When the gateway started (monotonic), for /health's uptime.
    pub started: tokio::time::Instant,
    /// The server version reported by /health.
    pub version: Arc<str>,
}
