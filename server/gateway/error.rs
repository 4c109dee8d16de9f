//! The one mapping from a gRPC status to an HTTP answer, with the REST contract's bodies:
//! 409 `{"error":"CAS conflict",...}` (or `conflict` for a busy membership change), 307 to
//! the leader with `Location` and the `leader_*` fields, 503 `no leader` and
//! `clustering not enabled`, and the error envelope for everything else.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tonic::{Code, Status};
use utoipa::ToSchema;

use crate::api::status::{LEADER_ADDR_KEY, LEADER_ID_KEY, LEADER_RAFT_ADDR_KEY};
use crate::error::{CLUSTERING_DISABLED, CLUSTERING_DISABLED_DETAIL};
use crate::gateway::context::Ctx;

/// The contract's error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The HTTP reason ("Bad Request", "Not Found", ...).
    pub error: String,
    /// What went wrong; for bad input it names the field and the limit.
    pub message: String,
    /// Id of this request.
    pub request_id: String,
    /// When the request was handled (RFC 3339).
    pub timestamp: String,
    /// The request path.
    pub path: String,
}

/// A short-form error body (`{"error","message"}` plus leader fields when redirecting).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShortError {
    /// Short error code: "CAS conflict", "conflict", "not leader", "no leader",
    /// "clustering not enabled".
    pub error: String,
    /// Human-readable detail.
    pub message: String,
    /// Leader's Raft peer address (Go Konsul's field); only on 307.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_addr: Option<String>,
    /// Leader's node name; only on 307.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<String>,
    /// Leader's client (REST and gRPC) address; only on 307.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_client_addr: Option<String>,
}

/// An error on its way out of a REST handler.
#[derive(Debug)]
pub struct HttpError {
    status: Status,
    ctx: Ctx,
}

impl HttpError {
    /// Wraps a gRPC status for rendering as HTTP.
    pub fn new(status: Status, ctx: &Ctx) -> Self {
        Self {
            status,
            ctx: ctx.clone(),
        }
    }
}

/// A failed call (a gRPC status, or an API error through its one mapping to a status) as
/// the HTTP answer for the request in `ctx`: what every handler's `map_err` uses.
pub fn fail(ctx: &Ctx, e: impl Into<Status>) -> HttpError {
    HttpError::new(e.into(), ctx)
}

/// The HTTP status for a gRPC code: the only such table in the gateway.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn md(status: &Status, key: &str) -> Option<String> {
    status
        .metadata()
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl ShortError {
    /// A short error without leader fields.
    pub fn new(error: &str, message: &str) -> Self {
        Self {
            error: error.to_owned(),
            message: message.to_owned(),
            leader_addr: None,
            leader_id: None,
            leader_client_addr: None,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let s = &self.status;
        if s.code() == Code::Unavailable {
            if let Some(client_addr) = md(s, LEADER_ADDR_KEY) {
                let mut location = format!("http://{client_addr}{}", self.ctx.path);
                if let Some(q) = &self.ctx.query {
                    location.push('?');
                    location.push_str(q);
                }
                let leader_header = HeaderValue::from_str(&client_addr);
                let body = ShortError {
                    error: "not leader".into(),
                    message:
                        "This node is not the leader. Redirect to leader for write operations."
                            .into(),
                    leader_addr: md(s, LEADER_RAFT_ADDR_KEY),
                    leader_id: md(s, LEADER_ID_KEY),
                    leader_client_addr: Some(client_addr),
                };
                let mut resp = (StatusCode::TEMPORARY_REDIRECT, Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                if let Ok(v) = leader_header {
                    resp.headers_mut().insert(LEADER_ADDR_KEY, v);
                }
                return resp;
            }
            if s.message() == "no leader" {
                let body = ShortError::new(
                    "no leader",
                    "No leader is currently elected. The cluster may be initializing or partitioned.",
                );
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            }
            if s.message().starts_with(CLUSTERING_DISABLED) {
                let body = ShortError::new(CLUSTERING_DISABLED, CLUSTERING_DISABLED_DETAIL);
                return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            }
        }
        if s.code() == Code::Aborted {
            // ABORTED is a failed CAS condition or a membership change refused because
            // another one is in flight; only the first is the contract's "CAS conflict".
            let error = if s.message().starts_with("CAS conflict") {
                "CAS conflict"
            } else {
                "conflict"
            };
            let body = ShortError::new(error, s.message());
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        let code = http_status(s.code());
        envelope(code, s.message(), &self.ctx)
    }
}

/// The contract's error envelope with the given status and message.
pub fn envelope(code: StatusCode, message: &str, ctx: &Ctx) -> Response {
    let body = ErrorEnvelope {
        error: code.canonical_reason().unwrap_or("Error").to_owned(),
        message: message.to_owned(),
        request_id: ctx.request_id.clone(),
        timestamp: ctx.timestamp.clone(),
        path: ctx.path.clone(),
    };
    (code, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_http() {
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(http_status(Code::Aborted), StatusCode::CONFLICT);
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(Code::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
