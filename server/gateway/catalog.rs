//! REST routes for the service catalog (`/register`, `/deregister`, `/heartbeat`,
//! `/services...`), as views over the typed `api::catalog::CatalogApi`. Shapes follow the reference
//! contract §1.3; reads are served `stale` by default like the KV routes.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::catalog::{Listing, QueryKind, ServiceFilter};
use crate::api::catalog_types::{Registration, ServiceView};
use crate::api::{Answer, ReadOptions};
use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::body::JsonBody;
use crate::gateway::check_json::CheckJson;
use crate::gateway::context::Ctx;
use crate::gateway::error::{HttpError, fail};
use crate::gateway::format::rfc3339;
use crate::gateway::freshness;
use crate::gateway::query::{flag, last_min_index, last_passing, passing_param, read_options};
use crate::raft::node::ReadConsistency;
use crate::store::{Service, service_key};

/// A service as JSON (contract §2.2, plus the optional instance `id` and `ttl_ms`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ServiceJson {
    /// Service name.
    #[serde(default)]
    pub name: String,
    /// Optional instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Address clients should dial.
    #[serde(default)]
    pub address: String,
    /// Port clients should dial.
    #[serde(default)]
    pub port: u32,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Metadata pairs.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Time to live in ms; omitted or 0 means the server's KONSUL_SERVICE_TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// Health checks (contract §2.3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckJson>,
}

impl ServiceJson {
    /// The registration the typed API takes; `field` names it in errors (`service`,
    /// `services[2]`).
    pub fn into_registration(self, field: &str) -> Result<Registration, Error> {
        let key = service_key(&self.name, self.id.as_deref());
        let owner = [self.name.as_str(), key.as_str()];
        let checks = self
            .checks
            .into_iter()
            .enumerate()
            .map(|(i, c)| c.into_raw(&format!("{field}.checks[{i}]"), &owner))
            .collect::<Result<_, _>>()?;
        Ok(Registration {
            name: self.name,
            id: self.id,
            address: self.address,
            port: self.port,
            tags: self.tags,
            meta: self.meta,
            ttl_ms: self.ttl_ms.unwrap_or(0),
            checks,
        })
    }

    /// The JSON view of a stored service.
    pub fn from_service(s: Service) -> Self {
        let key = s.key();
        Self {
            checks: s
                .checks
                .iter()
                .map(|c| CheckJson::from_definition(c, &key))
                .collect(),
            name: s.name,
            id: s.id,
            address: s.address,
            port: u32::from(s.port),
            tags: s.tags,
            meta: s.meta,
            ttl_ms: Some(s.ttl_ms),
        }
    }
}

/// Body of PUT /register: a service plus an optional top-level `cas`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    /// The service fields.
    #[serde(flatten)]
    pub service: ServiceJson,
    /// Compare-and-swap: 0 = create only, N = only if modify_index is N.
    #[serde(default)]
    pub cas: Option<u64>,
}

/// Answer of PUT /register.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterAnswer {
    /// Always "service registered".
    pub message: &'static str,
    /// The registered service as stored (defaults such as check ids filled in).
    pub service: ServiceJson,
    /// Raft index of this write.
    pub modify_index: u64,
}

/// Answer of GET /services/{name}?metadata=true.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceWithMeta {
    /// The service.
    pub service: ServiceJson,
    /// RFC 3339 deadline.
    pub expires_at: String,
    /// Raft index of the last registration.
    pub modify_index: u64,
    /// Raft index of the first registration.
    pub create_index: u64,
}

/// Answer of the /services/query* routes.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryAnswer {
    /// Number of matches.
    pub count: usize,
    /// The matches, sorted by name.
    pub services: Vec<ServiceJson>,
    /// The filters applied.
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
}

/// The optional `?id=<instance>` of the single-service routes. An empty or malformed id is
/// passed on as given, so the API's own check answers 400 naming `id`.
fn instance_id(q: &HashMap<String, String>) -> Option<String> {
    q.get("id").cloned()
}

/// The `name` of an answer, plus `id` when the call named an instance.
fn named(message: &str, name_field: &str, name: String, id: Option<String>) -> serde_json::Value {
    let mut v = serde_json::json!({ "message": message, name_field: name });
    if let Some(id) = id {
        v["id"] = serde_json::Value::String(id);
    }
    v
}

fn services(found: Vec<ServiceView>) -> Vec<ServiceJson> {
    found
        .into_iter()
        .map(|v| ServiceJson::from_service(v.service))
        .collect()
}

/// The contract's query routes read the node's own state (stale), waiting for `min_index`.
fn stale(min_index: u64) -> ReadOptions {
    ReadOptions {
        consistency: ReadConsistency::Stale,
        min_index,
    }
}

/// Register (or replace) a service; `cas` makes it a compare-and-swap.
#[utoipa::path(put, path = "/register", tag = "catalog", request_body = RegisterBody,
    responses(
        (status = 200, description = "Registered", body = RegisterAnswer),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
        (status = 404, description = "CAS on a missing service", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "CAS conflict", body = crate::gateway::error::ShortError),
    ))]
pub async fn register(
    State(g): State<Gateway>,
    ctx: Ctx,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<Json<RegisterAnswer>, HttpError> {
    let registration = body
        .service
        .into_registration("service")
        .map_err(|e| fail(&ctx, e))?;
    let entry = g
        .catalog
        .register(registration, body.cas, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?
        .value;
    // The stored service: the request with defaults filled in (TTL, check ids).
    Ok(Json(RegisterAnswer {
        message: "service registered",
        modify_index: entry.modify_index,
        service: ServiceJson::from_service(entry.service),
    }))
}

/// Remove a service (or, with `?id=`, one instance of it); `?cas=N` makes it a
/// compare-and-swap.
#[utoipa::path(delete, path = "/deregister/{name}", tag = "catalog",
    params(("name" = String, Path, description = "Service name"),
           ("id" = Option<String>, Query, description = "Instance id: the catalog key is name/id"),
           ("cas" = Option<u64>, Query, description = "Expected modify_index")),
    responses(
        (status = 200, description = "Removed (or absent)"),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
        (status = 404, description = "CAS on a missing service", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "CAS conflict", body = crate::gateway::error::ShortError),
    ))]
pub async fn deregister(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let cas = match q.get("cas") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| fail(&ctx, Error::InvalidArgument("Invalid CAS parameter".into())))?,
        ),
    };
    let id = instance_id(&q);
    g.catalog
        .deregister(&name, id.as_deref(), cas, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(Json(named("service deregistered", "name", name, id)))
}

/// Keep a service (or, with `?id=`, one instance of it) alive for another TTL.
#[utoipa::path(put, path = "/heartbeat/{name}", tag = "catalog",
    params(("name" = String, Path, description = "Service name"),
           ("id" = Option<String>, Query, description = "Instance id: the catalog key is name/id")),
    responses(
        (status = 200, description = "Renewed"),
        (status = 404, description = "Service not found", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn heartbeat(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let id = instance_id(&q);
    g.catalog
        .heartbeat(&name, id.as_deref(), g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(Json(named("heartbeat updated", "service", name, id)))
}

/// Every live service, sorted by name; `?passing` keeps only services whose every check
/// passes. `X-Konsul-Index` carries the catalog index (see `ListServicesResponse`).
#[utoipa::path(get, path = "/services/", tag = "catalog",
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
           ("passing" = Option<bool>, Query, description = "Only services whose every check passes")),
    responses((status = 200, description = "Live services", body = Vec<ServiceJson>,
        headers(("X-Konsul-Index" = u64, description = "Catalog index")))))]
pub async fn list(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let passing_only =
        passing_param(q.get("passing").map(String::as_str)).map_err(|e| fail(&ctx, e))?;
    let answer = g
        .catalog
        .list(passing_only, read, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(freshness::fresh_json(
        &answer.header,
        answer.value.catalog_index,
        services(answer.value.services),
    ))
}

/// The same listing at `/services` (no trailing slash).
#[utoipa::path(get, path = "/services", tag = "catalog",
    responses((status = 200, description = "Live services", body = Vec<ServiceJson>)))]
pub async fn list_no_slash(
    state: State<Gateway>,
    ctx: Ctx,
    query: Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    list(state, ctx, query).await
}

/// One live service (or, with `?id=`, one instance of it); `?metadata=true` adds indices
/// and the deadline.
#[utoipa::path(get, path = "/services/{name}", tag = "catalog",
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
           ("name" = String, Path, description = "Service name"),
           ("id" = Option<String>, Query, description = "Instance id: the catalog key is name/id"),
           ("metadata" = Option<bool>, Query, description = "true: include indices and expiry")),
    responses(
        (status = 200, description = "The service", body = ServiceJson),
        (status = 404, description = "Service not found", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn get(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let id = instance_id(&q);
    let answer = match g
        .catalog
        .get(&name, id.as_deref(), read, g.deadline())
        .await
    {
        Ok(a) => a,
        Err(e @ Error::NotFound(_)) => return Ok(freshness::not_found(&g, &ctx, e)),
        Err(e) => return Err(fail(&ctx, e)),
    };
    let e = answer.value;
    let service = ServiceJson::from_service(e.service);
    let metadata = flag("metadata", q.get("metadata").map(String::as_str));
    let value = if metadata.map_err(|e| fail(&ctx, e))? {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.expires_at_ms);
        serde_json::to_value(ServiceWithMeta {
            service,
            expires_at: rfc3339(at),
            modify_index: e.modify_index,
            create_index: e.create_index,
        })
    } else {
        serde_json::to_value(service)
    };
    Ok(freshness::read_json(
        &answer.header,
        value.unwrap_or_default(),
    ))
}

fn tag_params(pairs: &[(String, String)]) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for (k, v) in pairs {
        if (k == "tags" || k == "tag") && !tags.contains(v) {
            tags.push(v.clone());
        }
    }
    tags
}

/// The contract's query answer: the matches, their count, and the filters as understood,
/// with the freshness headers of `header`.
fn query_answer(answer: Answer<Listing>, query: serde_json::Value) -> Response {
    let services = services(answer.value.services);
    let body = QueryAnswer {
        count: services.len(),
        services,
        query,
    };
    freshness::read_json(&answer.header, body)
}

/// Live services carrying every `tags=` (or `tag=`) value.
#[utoipa::path(get, path = "/services/query/tags", tag = "catalog",
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
           ("tags" = Vec<String>, Query, description = "Tags that must all match"),
           ("passing" = Option<bool>, Query, description = "Only services whose every check passes")),
    responses((status = 200, description = "Matches", body = QueryAnswer),
              (status = 400, description = "No tag given", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn query_tags(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, HttpError> {
    let tags = tag_params(&pairs);
    let filter = ServiceFilter {
        tags: tags.clone(),
        meta: BTreeMap::new(),
        passing_only: last_passing(&pairs).map_err(|e| fail(&ctx, e))?,
    };
    let read = stale(last_min_index(&pairs).map_err(|e| fail(&ctx, e))?);
    let answer = g
        .catalog
        .query(QueryKind::Tags, filter, read, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(query_answer(answer, serde_json::json!({ "tags": tags })))
}

/// Live services carrying every `k=v` query pair as metadata.
#[utoipa::path(get, path = "/services/query/metadata", tag = "catalog",
    responses((status = 200, description = "Matches", body = QueryAnswer),
              (status = 400, description = "No filter given", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn query_metadata(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, HttpError> {
    let meta: BTreeMap<String, String> = pairs.into_iter().collect();
    // Every query pair is a metadata filter here (the Go contract), so this route takes no
    // `min_index`; `/services/query?meta.<k>=v&min_index=N` does.
    let filter = ServiceFilter {
        tags: Vec::new(),
        meta: meta.clone(),
        passing_only: false,
    };
    let answer = g
        .catalog
        .query(QueryKind::Metadata, filter, stale(0), g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(query_answer(
        answer,
        serde_json::json!({ "metadata": meta }),
    ))
}

/// Live services matching every `tags=`/`tag=` value and every `meta.<k>=v` pair.
#[utoipa::path(get, path = "/services/query", tag = "catalog",
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
           ("passing" = Option<bool>, Query, description = "Only services whose every check passes")),
    responses((status = 200, description = "Matches", body = QueryAnswer),
              (status = 400, description = "No filter given", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn query(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, HttpError> {
    let tags = tag_params(&pairs);
    let passing_only = last_passing(&pairs).map_err(|e| fail(&ctx, e))?;
    let min_index = last_min_index(&pairs).map_err(|e| fail(&ctx, e))?;
    let meta: BTreeMap<String, String> = pairs
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("meta.").map(|k| (k.to_owned(), v)))
        .collect();
    let filter = ServiceFilter {
        tags: tags.clone(),
        meta: meta.clone(),
        passing_only,
    };
    let answer = g
        .catalog
        .query(QueryKind::Any, filter, stale(min_index), g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(query_answer(
        answer,
        serde_json::json!({ "tags": tags, "metadata": meta }),
    ))
}
