//! `PUT /debug/faults`: the fault suite's handle on a running `konsul` process (failpoints,
//! the clock offset, dial routes; see `faults.rs`). Compiled only with the `failpoints`
//! feature and mounted only when the process was started with fault control, so it is in
//! no release build and in no OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::faults::FaultRequest;
use crate::gateway::Gateway;
use crate::gateway::error::short;

/// Applies a [`FaultRequest`]: 200 `{"applied":true}`, or 400 naming the bad failpoint.
pub async fn faults(State(g): State<Gateway>, Json(req): Json<FaultRequest>) -> Response {
    let Some(control) = g.deps.faults.as_ref() else {
        return short(StatusCode::NOT_FOUND, "not found", "fault control is off");
    };
    match control.apply(&req) {
        Ok(()) => Json(serde_json::json!({ "applied": true })).into_response(),
        Err(e) => short(StatusCode::BAD_REQUEST, "Bad Request", &e),
    }
}
