//! The OpenAPI 3 document of every REST route, generated from the handlers' annotations and
//! served at `GET /openapi.json`. `routes::tests` fails if a route in the table is missing
//! from this document.

use axum::Json;
use utoipa::OpenApi;

use crate::gateway::{
    catalog, catalog_batch, checks, cluster, error, health, kv, kv_batch, stages,
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
    components(schemas(error::ErrorEnvelope, error::ShortError)),
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

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
