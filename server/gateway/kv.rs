//! REST routes for single keys and listing (`/kv/...`), as views over the typed
//! `api::kv::KvApi`.
//!
//! Reads are served `stale` by default, as the Go server did (any node answers from its own
//! state); `?consistent=true` or `?consistency=strong` asks for a linearizable read and
//! `?consistency=leader` for a leader-lease read.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::kv::Put;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::body::JsonBody;
use crate::gateway::context::Ctx;
use crate::gateway::error::{HttpError, fail};
use crate::gateway::format::text_or_base64;
use crate::gateway::freshness;
use crate::gateway::query::{self, read_options};

/// A value as JSON: UTF-8 text as is; other bytes base64-encoded with `encoding: "base64"`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KvValue {
    /// The key.
    pub key: String,
    /// The value (text, or base64 when `encoding` says so).
    pub value: String,
    /// Present as "base64" only when the stored bytes are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    /// Raft index of the last change (only with `?metadata=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify_index: Option<u64>,
    /// Raft index of the creation (only with `?metadata=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_index: Option<u64>,
    /// Client flags (only with `?metadata=true`; 0 when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
}

/// Body of PUT /kv/{key}.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PutBody {
    /// The new value (a JSON string).
    pub value: String,
    /// New flags; omitted or 0 keeps the existing flags.
    #[serde(default)]
    pub flags: Option<u64>,
    /// Compare-and-swap: 0 = create only, N = only if modify_index is N.
    #[serde(default)]
    pub cas: Option<u64>,
}

/// Answer of PUT /kv/{key}.
#[derive(Debug, Serialize, ToSchema)]
pub struct PutAnswer {
    /// Always "key set".
    pub message: &'static str,
    /// The key.
    pub key: String,
    /// Raft index of this write.
    pub modify_index: u64,
}

/// Answer of DELETE /kv/{key}.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteAnswer {
    /// Always "key deleted".
    pub message: &'static str,
    /// The key.
    pub key: String,
}

/// List every key (optionally under `?prefix=`), as a JSON array of strings.
#[utoipa::path(get, path = "/kv/", tag = "kv",
    params(
        ("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
        ("prefix" = Option<String>, Query, description = "Only keys starting with this prefix"),
        ("consistent" = Option<bool>, Query, description = "true: linearizable read"),
        ("consistency" = Option<String>, Query, description = "stale (default), leader or strong"),
    ),
    responses((status = 200, description = "Keys in order", body = Vec<String>)))]
pub async fn list(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let prefix = q.get("prefix").map_or("", String::as_str);
    let answer =
        g.kv.list(prefix, true, 0, read, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?;
    let keys: Vec<String> = answer.value.entries.into_iter().map(|kv| kv.key).collect();
    Ok(freshness::read_json(&answer.header, keys))
}

/// The same listing at `/kv` (no trailing slash), as the Go server answered both.
#[utoipa::path(get, path = "/kv", tag = "kv",
    responses((status = 200, description = "Keys in order", body = Vec<String>)))]
pub async fn list_no_slash(
    state: State<Gateway>,
    ctx: Ctx,
    query: Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    list(state, ctx, query).await
}

/// Read one key; `?metadata=true` adds indices and flags.
#[utoipa::path(get, path = "/kv/{key}", tag = "kv",
    params(
        ("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
        ("key" = String, Path, description = "The key; may contain slashes"),
        ("metadata" = Option<bool>, Query, description = "true: include indices and flags"),
        ("consistent" = Option<bool>, Query, description = "true: linearizable read"),
        ("consistency" = Option<String>, Query, description = "stale (default), leader or strong"),
    ),
    responses(
        (status = 200, description = "The value", body = KvValue),
        (status = 404, description = "Key not found", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn get(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let answer = match g.kv.get(&key, read, g.deadline()).await {
        Ok(a) => a,
        Err(e @ Error::NotFound(_)) => return Ok(freshness::not_found(&g, &ctx, e)),
        Err(e) => return Err(fail(&ctx, e)),
    };
    let kv = answer.value;
    let metadata = query::flag("metadata", q.get("metadata").map(String::as_str))
        .map_err(|e| fail(&ctx, e))?;
    let (value, encoding) = text_or_base64(kv.value);
    let body = KvValue {
        key: kv.key,
        value,
        encoding,
        modify_index: metadata.then_some(kv.modify_index),
        create_index: metadata.then_some(kv.create_index),
        flags: metadata.then_some(kv.flags),
    };
    Ok(freshness::read_json(&answer.header, body))
}

/// Write one key; `cas` in the body makes it a compare-and-swap.
#[utoipa::path(put, path = "/kv/{key}", tag = "kv",
    params(("key" = String, Path, description = "The key; may contain slashes")),
    request_body = PutBody,
    responses(
        (status = 200, description = "Written", body = PutAnswer),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
        (status = 404, description = "CAS on a missing key", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "CAS conflict", body = crate::gateway::error::ShortError),
        (status = 307, description = "Not the leader", body = crate::gateway::error::ShortError),
    ))]
pub async fn put(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(key): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PutBody>,
) -> Result<Json<PutAnswer>, HttpError> {
    let put = Put {
        key,
        value: body.value.into_bytes(),
        flags: body.flags.unwrap_or(0),
        cas: body.cas,
    };
    let id = freshness::request_id(&headers).map_err(|e| fail(&ctx, e))?;
    let kv =
        g.kv.put(put, id, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?
            .value;
    Ok(Json(PutAnswer {
        message: "key set",
        key: kv.key,
        modify_index: kv.modify_index,
    }))
}

/// Delete one key; `?cas=N` makes it conditional on modify_index N.
#[utoipa::path(delete, path = "/kv/{key}", tag = "kv",
    params(
        ("key" = String, Path, description = "The key; may contain slashes"),
        ("cas" = Option<u64>, Query, description = "Only delete if modify_index equals this"),
    ),
    responses(
        (status = 200, description = "Deleted (or absent, without cas)", body = DeleteAnswer),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
        (status = 404, description = "CAS on a missing key", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "CAS conflict", body = crate::gateway::error::ShortError),
    ))]
pub async fn delete(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(key): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<DeleteAnswer>, HttpError> {
    let cas = match q.get("cas") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            fail(
                &ctx,
                Error::invalid(
                    "cas",
                    format!(
                        "Invalid CAS parameter: expected an unsigned 64-bit integer, got '{v}'"
                    ),
                ),
            )
        })?),
    };
    let id = freshness::request_id(&headers).map_err(|e| fail(&ctx, e))?;
    g.kv.delete(key.clone(), cas, id, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(Json(DeleteAnswer {
        message: "key deleted",
        key,
    }))
}

/// PUT or DELETE on `/kv/` itself: the key is empty, which is bad input.
#[utoipa::path(put, path = "/kv/", tag = "kv",
    responses((status = 400, description = "key: must not be empty", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn empty_key(ctx: Ctx) -> Response {
    fail(&ctx, Error::invalid("key", "must not be empty")).into_response()
}

/// DELETE on `/kv/` itself: the key is empty, which is bad input.
#[utoipa::path(delete, path = "/kv/", tag = "kv",
    responses((status = 400, description = "key: must not be empty", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn empty_key_delete(ctx: Ctx) -> Response {
    empty_key(ctx).await
}
