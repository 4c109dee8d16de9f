//! The REST/JSON gateway: a view over the typed API of `api/`, on the same listener.
//!
//! A REST call is parsed here (path, query, JSON body) into the arguments of the typed
//! `api/` method that the gRPC service calls too; the answer, or the error through its
//! ErrorInfo reason, is rendered as the JSON of the Konsul REST contract. No protobuf type
//! is involved. There is no second copy of any logic: validation, Raft and the store are
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
pub mod openapi_rules;
pub mod query;
pub mod routes;
pub mod stages;

use std::sync::Arc;

use crate::api::catalog::CatalogApi;
use crate::api::cluster::ClusterApi;
use crate::api::health::HealthApi;
use crate::api::kv::KvApi;
use crate::api::validate::Limits;
use crate::deps::Deps;

/// Everything a REST handler needs, cloned per request (cheap: handles only).
#[derive(Clone)]
pub struct Gateway {
    /// The typed KV API the KV routes call.
    pub kv: KvApi,
    /// The typed catalog API the service and health-check routes call.
    pub catalog: CatalogApi,
    /// The typed cluster API the /cluster routes call.
    pub cluster: ClusterApi,
    /// The typed health API the /health and /debug/stages routes call.
    pub health: HealthApi,
    /// Clock and randomness for timestamps and request ids.
    pub deps: Deps,
    /// Body size limit and friends.
    pub limits: Limits,
    /// When the gateway started (monotonic), for /health's uptime.
    pub started: tokio::time::Instant,
    /// The server version reported by /health.
    pub version: Arc<str>,
}

impl Gateway {
    /// When a REST call must be answered: REST has no `grpc-timeout`, so every call gets the
    /// node's `request_timeout` from now.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.kv.request_timeout()
    }
}
