//! REST routes for health checks (`/health/checks`, `/health/service/{name}`,
//! `PUT /health/check/{id}`), as views over the typed check calls of `api::catalog::CatalogApi`
//! (`api/checks.rs`). Shapes follow the reference contract §1.4 and §2.3; reads are served
//! `stale` by default like the other REST reads.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::catalog_types::CheckView;

use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::check_json::CheckOut;
use crate::gateway::context::Ctx;
use crate::gateway::error::{HttpError, fail};
use crate::gateway::freshness;
use crate::gateway::query::{passing_param, read_options};
use crate::store::CheckStatus;

/// Answer of PUT /health/check/{id}.
#[derive(Debug, Serialize, ToSchema)]
pub struct TtlUpdateAnswer {
    /// Always "TTL check updated".
    pub message: &'static str,
    /// The check.
    pub check_id: String,
    /// The status recorded.
    pub status: &'static str,
}

fn outs(checks: Vec<CheckView>) -> Vec<CheckOut> {
    checks.into_iter().map(CheckOut::from_view).collect()
}

/// Every check of every live service, TTL checks past their deadline shown critical.
#[utoipa::path(get, path = "/health/checks", tag = "health",
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read")),
    responses((status = 200, description = "Checks", body = Vec<CheckOut>,
        headers(("X-Konsul-Index" = u64, description = "Catalog index")))))]
pub async fn list(
    State(g): State<Gateway>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let answer = g
        .catalog
        .list_checks(read, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(freshness::fresh_json(
        &answer.header,
        answer.value.catalog_index,
        outs(answer.value.checks),
    ))
}

/// The checks of every live instance of one service name; `[]` when it has none (the Go
/// server answered `null`). `?passing` keeps only instances whose every check passes.
#[utoipa::path(get, path = "/health/service/{name}", tag = "health",
    params(("min_index" = Option<u64>, Query, description = "Wait until this node has applied this log index (within the deadline), then read"),
           ("name" = String, Path, description = "Service name"),
           ("passing" = Option<bool>, Query, description = "Only instances whose every check passes")),
    responses((status = 200, description = "Checks", body = Vec<CheckOut>),
              (status = 400, description = "Bad input", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn service(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, HttpError> {
    let read = read_options(&q).map_err(|e| fail(&ctx, e))?;
    let passing_only =
        passing_param(q.get("passing").map(String::as_str)).map_err(|e| fail(&ctx, e))?;
    let answer = g
        .catalog
        .service_checks(&name, passing_only, read, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(freshness::read_json(&answer.header, outs(answer.value)))
}

/// Report on a TTL check: passing by default, or `?status=warning|critical`, with an
/// optional `?output=`. Restarts the check's TTL. 404 for an unknown check (the Go server
/// answered 400), 400 for a check that is not a TTL check.
#[utoipa::path(put, path = "/health/check/{id}", tag = "health",
    params(("id" = String, Path, description = "Check id"),
           ("status" = Option<String>, Query, description = "passing (default), warning or critical"),
           ("output" = Option<String>, Query, description = "Output to record")),
    responses((status = 200, description = "Recorded", body = TtlUpdateAnswer),
              (status = 400, description = "Bad input or not a TTL check", body = crate::gateway::error::ErrorEnvelope),
              (status = 404, description = "No such check", body = crate::gateway::error::ErrorEnvelope)))]
pub async fn update_ttl(
    State(g): State<Gateway>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TtlUpdateAnswer>, HttpError> {
    let (status, name) = match q.get("status").map(String::as_str) {
        None | Some("passing") => (CheckStatus::Passing, "passing"),
        Some("warning") => (CheckStatus::Warning, "warning"),
        Some("critical") => (CheckStatus::Critical, "critical"),
        Some(other) => {
            return Err(fail(
                &ctx,
                Error::invalid(
                    "status",
                    format!("'{other}' is not passing, warning or critical"),
                ),
            ));
        }
    };
    let output = q.get("output").cloned().unwrap_or_default();
    g.catalog
        .update_ttl_check(&id, status, output, g.deadline())
        .await
        .map_err(|e| fail(&ctx, e))?;
    Ok(Json(TtlUpdateAnswer {
        message: "TTL check updated",
        check_id: id,
        status: name,
    }))
}
