//! The OpenAPI 3 document of every REST route, generated from the handlers' annotations and
//! served at `GET /openapi.json`. `routes::tests` fails if a route in the table is missing
//! from this document.

use axum::Json;
use axum::extract::State;
use utoipa::OpenApi;

use crate::api::validate::Limits;
use crate::gateway::{
    Gateway, catalog, catalog_batch, checks, cluster, error, health, kv, kv_batch, openapi_rules,
    stages,
};

/// The generated document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Konsul REST API", description = "REST/JSON view of Konsul's gRPC API; see docs/api.md."),
    paths(
        kv::list, kv::list_no_slash, kv::get, kv::put, kv::delete, kv::empty_key, kv::empty_key_delete,
        kv_batch::get, kv_batch::set, kv_batch::delete, kv_batch::set_cas, kv_batch::delete_cas,
        catalog::register, catalog::deregister, catalog::heartbeat, catalog::list,
        catalog::list_no_slash, catalog::get, catalog::query, catalog::query_tags,
        catalog::query_metadata,
        catalog_batch::get, catalog_batch::register, catalog_batch::deregister,
        cluster::status, cluster::leader, cluster::peers, cluster::join, cluster::leave,
        cluster::snapshot,
        health::health, health::live, health::ready,
        checks::list, checks::service, checks::update_ttl,
        openapi_json, stages::stages,
    ),
    components(schemas(error::ErrorEnvelope, error::ShortError, catalog::ServiceWithMeta)),
    tags(
        (name = "kv", description = "Keys and values"),
        (name = "catalog", description = "Service registration and discovery"),
        (name = "batch", description = "Atomic multi-key operations"),
        (name = "cluster", description = "Cluster status and membership"),
        (name = "health", description = "Liveness, readiness, summary and health checks"),
        (name = "meta", description = "This document and the node's write-path counters"),
    )
)]
pub struct ApiDoc;

/// This OpenAPI document, with the rules of `openapi_rules` and this node's limits.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document")))]
pub async fn openapi_json(State(g): State<Gateway>) -> Json<serde_json::Value> {
    Json(document(&g.limits))
}

/// The served document: the generated one with every rule written in.
pub fn document(limits: &Limits) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    openapi_rules::apply(&mut doc, limits);
    doc
}
