//! REST batch routes for the catalog (`/batch/services/...`, reference contract §1.5), as
//! views over the typed `api::catalog::CatalogApi`.
//!
//! Divergence from the Go server: batch register is one Raft entry, so it is atomic. One
//! invalid service rejects the whole batch with 400 listing every invalid service, instead
//! of registering the valid ones and reporting the rest under `failed`.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::ReadOptions;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::body::JsonBody;
use crate::gateway::catalog::ServiceJson;
use crate::gateway::context::Ctx;
use crate::gateway::error::{HttpError, fail};
use crate::gateway::freshness;
use crate::raft::node::ReadConsistency;

/// Body of POST /batch/services/get and /batch/services/deregister.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NamesBody {
    /// Service names (or `name/id` keys).
    #[serde(default)]
    pub names: Vec<String>,
}

/// Body of POST /batch/services/register.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServicesBody {
    /// The services to register.
    #[serde(default)]
    pub services: Vec<ServiceJson>,
}

/// Answer of POST /batch/services/get.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetAnswer {
    /// Live services found, by name.
    pub found: BTreeMap<String, ServiceJson>,
    /// Names absent or expired.
    pub not_found: Vec<String>,
}

/// Answer of POST /batch/services/register.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRegisterAnswer {
    /// "Registered N services".
    pub message: String,
    /// Catalog keys registered, in request order.
    pub registered: Vec<String>,
    /// Number registered.
    pub count: usize,
}

/// Answer of POST /batch/services/deregister.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeregisterAnswer {
    /// "Deregistered N services".
    pub message: String,
    /// The names asked for.
    pub deregistered: Vec<String>,
    /// Number of names asked for.
    pub count: usize,
}

fn non_empty(ctx: &Ctx, n: usize, message: &str) -> Result<(), HttpError> {
    if n == 0 {
        return Err(fail(ctx, Error::InvalidArgument(message.into())));
    }
    Ok(())
}

/// Read many services at once.
#[utoipa::path(post, path = "/batch/services/get", tag = "batch", request_body = NamesBody,
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read")),
    responses((status = 200, description = "Found and missing", body = GetAnswer),
              (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn get(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody<NamesBody>,
) -> Result<Response, HttpError> {
    non_empty(&ctx, body.names.len(), "Names array cannot be empty")?;
    let read = ReadOptions {
        consistency: ReadConsistency::Stale,
        min_index: freshness::min_index(&q).map_err(|e| fail(&ctx, e))?,
    };
    let answer = g
        .catalog
        .batch_get(&body.names, read, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    let found = answer
        .value
        .found
        .into_iter()
        .map(|v| (v.key, ServiceJson::from_service(v.service)))
        .collect();
    let body = GetAnswer {
        found,
        not_found: answer.value.not_found,
    };
    Ok(freshness::read_json(&answer.header, body))
}

/// Register many services in one Raft entry: all or nothing.
#[utoipa::path(post, path = "/batch/services/register", tag = "batch", request_body = ServicesBody,
    responses((status = 200, description = "Registered", body = BatchRegisterAnswer),
              (status = 400, description = "Bad input; nothing registered", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn register(
    State(g): State<Gateway>,
    ctx: Ctx,
    JsonBody(body): JsonBody<ServicesBody>,
) -> Result<Json<BatchRegisterAnswer>, HttpError> {
    non_empty(&ctx, body.services.len(), "Services array cannot be empty")?;
    let registrations = body
        .services
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.into_registration(&format!("services[{i}]")))
        .collect::<Result<_, _>>()
        .map_err(|e| fail(&ctx, e))?;
    let keys = g
        .catalog
        .batch_register(registrations, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?
        .value
        .keys;
    Ok(Json(BatchRegisterAnswer {
        message: format!("Registered {} services", keys.len()),
        count: keys.len(),
        registered: keys,
    }))
}

/// Remove many services in one Raft entry; absent ones are fine.
#[utoipa::path(post, path = "/batch/services/deregister", tag = "batch", request_body = NamesBody,
    responses((status = 200, description = "Removed", body = DeregisterAnswer),
              (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn deregister(
    State(g): State<Gateway>,
    ctx: Ctx,
    JsonBody(body): JsonBody<NamesBody>,
) -> Result<Json<DeregisterAnswer>, HttpError> {
    non_empty(&ctx, body.names.len(), "Names array cannot be empty")?;
    let keys = g
        .catalog
        .batch_deregister(body.names, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?
        .value
        .keys;
    Ok(Json(DeregisterAnswer {
        message: format!("Deregistered {} services", keys.len()),
        count: keys.len(),
        deregistered: keys,
    }))
}
