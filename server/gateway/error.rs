//! The one mapping from a gRPC status to an HTTP answer, with the REST contract's bodies:
//! 409 `{"error":"CAS conflict",...}` (or `conflict` for a busy membership change), 307 to
//! the leader with `Location` and the `leader_*` fields, 503 `no leader`, `no quorum`,
//! `outcome unknown` and `clustering not enabled`, 429 `write queue full`, and the error
//! envelope for everything else. The choice follows the status's ErrorInfo reason (set by
//! `api::status`), never its message text.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tonic::{Code, Status};
use utoipa::ToSchema;

use konsul_proto::errors as r;

use crate::api::status::{self, LEADER_ADDR_KEY, LEADER_ID_KEY, LEADER_RAFT_ADDR_KEY};
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
    /// Short error code: "CAS conflict", "conflict", "not leader", "no leader", "no quorum",
    /// "outcome unknown", "write queue full", "clustering not enabled".
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
        let reason = status::reason(s);
        match reason.as_deref() {
            Some(r::NOT_LEADER) => {
                if let Some(client_addr) = md(s, LEADER_ADDR_KEY) {
                    return self.redirect(client_addr);
                }
                short(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no leader",
                    NO_LEADER_DETAIL,
                )
            }
            Some(r::NO_LEADER) => short(
                StatusCode::SERVICE_UNAVAILABLE,
                "no leader",
                NO_LEADER_DETAIL,
            ),
            Some(r::CLUSTERING_DISABLED) => short(
                StatusCode::BAD_REQUEST,
                CLUSTERING_DISABLED,
                CLUSTERING_DISABLED_DETAIL,
            ),
            Some(r::OUTCOME_UNKNOWN) => short(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome unknown",
                s.message(),
            ),
            Some(r::NO_QUORUM) => short(StatusCode::SERVICE_UNAVAILABLE, "no quorum", s.message()),
            Some(r::WRITE_QUEUE_FULL) => short(
                StatusCode::TOO_MANY_REQUESTS,
                "write queue full",
                s.message(),
            ),
            Some(r::CAS_CONFLICT) => short(StatusCode::CONFLICT, "CAS conflict", s.message()),
            Some(r::MEMBERSHIP_CHANGE_IN_PROGRESS) => {
                short(StatusCode::CONFLICT, "conflict", s.message())
            }
            Some(r::REQUEST_ID_EXPIRED) => {
                envelope(StatusCode::PRECONDITION_FAILED, s.message(), &self.ctx)
            }
            _ => envelope(http_status(s.code()), s.message(), &self.ctx),
        }
    }
}

/// Detail of the contract's 503 `no leader` body.
const NO_LEADER_DETAIL: &str =
    "No leader is currently elected. The cluster may be initializing or partitioned.";

impl HttpError {
    /// The contract's 307 to the leader: `Location` is the same path and query on the
    /// leader, the body names it, and `konsul-leader-addr` carries its client address.
    fn redirect(&self, client_addr: String) -> Response {
        let s = &self.status;
        let mut location = format!("http://{client_addr}{}", self.ctx.path);
        if let Some(q) = &self.ctx.query {
            location.push('?');
            location.push_str(q);
        }
        let leader_header = HeaderValue::from_str(&client_addr);
        let body = ShortError {
            error: "not leader".into(),
            message: "This node is not the leader. Redirect to leader for write operations.".into(),
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
        resp
    }
}

/// A short-form error body (`{"error","message"}`) with `code`.
pub fn short(code: StatusCode, error: &str, message: &str) -> Response {
    (code, Json(ShortError::new(error, message))).into_response()
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
