//! REST batch routes (`POST /batch/kv/...`), as views over the typed batch methods
//! of `api::kv::KvApi`. Request and response shapes follow the Konsul REST contract; every
//! batch is one Raft entry, so a batch is applied whole or not at all.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::body::JsonBody;
use crate::gateway::context::Ctx;
use crate::gateway::error::{HttpError, fail};
use crate::gateway::format::text_or_base64;
use crate::gateway::freshness;
use crate::gateway::query::read_options;
use crate::store::{KvCasItem, KvDeleteCasItem, KvSetItem};

/// Body naming keys (batch get and delete).
#[derive(Debug, Deserialize, ToSchema)]
pub struct KeysBody {
    /// The keys, 1 to 1000 by default.
    pub keys: Vec<String>,
}

/// Body of batch set: key → value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ItemsBody {
    /// Key → new value, 1 to 1000 by default.
    pub items: BTreeMap<String, String>,
}

/// Body of batch set-cas.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetCasBody {
    /// Key → new value.
    pub items: BTreeMap<String, String>,
    /// Key → expected modify_index (0: must not exist); one per item.
    #[serde(default)]
    pub expected_indices: HashMap<String, u64>,
}

/// Body of batch delete-cas.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteCasBody {
    /// Keys to remove; each must exist.
    pub keys: Vec<String>,
    /// Key → expected modify_index; one per key.
    #[serde(default)]
    pub expected_indices: HashMap<String, u64>,
}

/// Answer of batch get.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchGetAnswer {
    /// Key → value for the keys that exist (non-UTF-8 values are base64).
    pub found: BTreeMap<String, String>,
    /// Keys that do not exist, in request order.
    pub not_found: Vec<String>,
}

/// Answer of batch set, delete and delete-cas.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchKeysAnswer {
    /// "Successfully set N keys" and the like.
    pub message: String,
    /// The keys of the request.
    pub keys: Vec<String>,
    /// How many keys the request named.
    pub count: usize,
}

/// Answer of batch set-cas.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchCasAnswer {
    /// "Successfully set N keys with CAS".
    pub message: String,
    /// Key → new modify_index.
    pub new_indices: BTreeMap<String, u64>,
    /// How many keys were written.
    pub count: usize,
}

fn expected(ctx: &Ctx, indices: &HashMap<String, u64>, key: &str) -> Result<u64, HttpError> {
    indices.get(key).copied().ok_or_else(|| {
        fail(
            ctx,
            Error::invalid(
                "expected_indices",
                format!("Missing expected index for key: {key}"),
            ),
        )
    })
}

/// Read many keys at once.
#[utoipa::path(post, path = "/batch/kv/get", tag = "batch", request_body = KeysBody,
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
           ("consistent" = Option<bool>, Query, description = "true: linearizable read")),
    responses(
        (status = 200, description = "Found and missing keys", body = BatchGetAnswer),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn get(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody<KeysBody>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let answer =
        g.kv.batch_get(&body.keys, read, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?;
    let body = BatchGetAnswer {
        found: answer
            .value
            .found
            .into_iter()
            .map(|kv| (kv.key, text_or_base64(kv.value).0))
            .collect(),
        not_found: answer.value.not_found,
    };
    Ok(freshness::read_json(&answer.header, body))
}

/// Write many keys atomically (one Raft entry).
#[utoipa::path(post, path = "/batch/kv/set", tag = "batch", request_body = ItemsBody,
    responses(
        (status = 200, description = "All written", body = BatchKeysAnswer),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn set(
    State(g): State<Gateway>,
    ctx: Ctx,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ItemsBody>,
) -> Result<Json<BatchKeysAnswer>, HttpError> {
    let items = body
        .items
        .into_iter()
        .map(|(key, value)| KvSetItem {
            key,
            value: value.into_bytes(),
            flags: 0,
        })
        .collect();
    let id = freshness::request_id(&headers).map_err(|e| fail(&ctx, e))?;
    let resp =
        g.kv.batch_put(items, id, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?
            .value;
    let count = resp.keys.len();
    Ok(Json(BatchKeysAnswer {
        message: format!("Successfully set {count} keys"),
        keys: resp.keys,
        count,
    }))
}

/// Delete many keys atomically; absent keys are not an error.
#[utoipa::path(post, path = "/batch/kv/delete", tag = "batch", request_body = KeysBody,
    responses(
        (status = 200, description = "Deleted", body = BatchKeysAnswer),
        (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope),
    ))]
pub async fn delete(
    State(g): State<Gateway>,
    ctx: Ctx,
    headers: HeaderMap,
    JsonBody(body): JsonBody<KeysBody>,
) -> Result<Json<BatchKeysAnswer>, HttpError> {
    let id = freshness::request_id(&headers).map_err(|e| fail(&ctx, e))?;
    let resp =
        g.kv.batch_delete(body.keys, id, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?
            .value;
    let count = resp.keys.len();
    Ok(Json(BatchKeysAnswer {
        message: format!("Successfully deleted {count} keys"),
        keys: resp.keys,
        count,
    }))
}

/// Write many keys if every expected index matches; all or nothing.
#[utoipa::path(post, path = "/batch/kv/set-cas", tag = "batch", request_body = SetCasBody,
    responses(
        (status = 200, description = "All written", body = BatchCasAnswer),
        (status = 400, description = "Bad input or a missing expected index", body = crate::gateway::error::ErrorEnvelope),
        (status = 404, description = "A key that must exist does not", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "CAS conflict; nothing written", body = crate::gateway::error::ShortError),
    ))]
pub async fn set_cas(
    State(g): State<Gateway>,
    ctx: Ctx,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SetCasBody>,
) -> Result<Json<BatchCasAnswer>, HttpError> {
    let mut items = Vec::with_capacity(body.items.len());
    for (key, value) in body.items {
        let expected_index = expected(&ctx, &body.expected_indices, &key)?;
        items.push(KvCasItem {
            key,
            value: value.into_bytes(),
            expected_index,
        });
    }
    let id = freshness::request_id(&headers).map_err(|e| fail(&ctx, e))?;
    let written =
        g.kv.batch_put_cas(items, id, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?
            .value;
    let index = written.index;
    let new_indices: BTreeMap<String, u64> = written.keys.into_iter().map(|k| (k, index)).collect();
    let count = new_indices.len();
    Ok(Json(BatchCasAnswer {
        message: format!("Successfully set {count} keys with CAS"),
        new_indices,
        count,
    }))
}

/// Delete many keys if every expected index matches; all or nothing.
#[utoipa::path(post, path = "/batch/kv/delete-cas", tag = "batch", request_body = DeleteCasBody,
    responses(
        (status = 200, description = "All deleted", body = BatchKeysAnswer),
        (status = 400, description = "Bad input or a missing expected index", body = crate::gateway::error::ErrorEnvelope),
        (status = 404, description = "A key does not exist; nothing deleted", body = crate::gateway::error::ErrorEnvelope),
        (status = 409, description = "CAS conflict; nothing deleted", body = crate::gateway::error::ShortError),
    ))]
pub async fn delete_cas(
    State(g): State<Gateway>,
    ctx: Ctx,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DeleteCasBody>,
) -> Result<Json<BatchKeysAnswer>, HttpError> {
    let mut items = Vec::with_capacity(body.keys.len());
    for key in body.keys {
        let expected_index = expected(&ctx, &body.expected_indices, &key)?;
        items.push(KvDeleteCasItem {
            key,
            expected_index,
        });
    }
    let id = freshness::request_id(&headers).map_err(|e| fail(&ctx, e))?;
    let keys =
        g.kv.batch_delete_cas(items, id, g.deadline())
            .await
            .map_err(|e| fail(&ctx, e))?
            .value;
    let count = keys.len();
    Ok(Json(BatchKeysAnswer {
        message: format!("Successfully deleted {count} keys with CAS"),
        keys,
        count,
    }))
}
