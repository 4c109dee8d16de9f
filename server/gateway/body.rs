//! JSON request bodies: the content type must be `application/json`, the body at most the
//! configured request size, and the JSON must match the route's shape. Anything else is a
//! 400 error envelope (413 when too large) whose message says what was wrong, before any
//! handler runs, so nothing is written.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::gateway::Gateway;
use crate::gateway::context::Ctx;
use crate::gateway::error::envelope;

/// A JSON body parsed strictly (types must match; unknown fields are ignored, as in the
/// contract).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Gateway> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, g: &Gateway) -> Result<Self, Response> {
        let ctx = Ctx::new(req.uri().path(), g);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            let shown = if content_type.is_empty() {
                "none".to_owned()
            } else {
                format!("'{content_type}'")
            };
            return Err(envelope(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON body: Content-Type must be application/json (got {shown})"),
                &ctx,
            ));
        }
        let limit = g.limits.max_request_bytes;
        let bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => b,
            Err(_) => {
                return Err(envelope(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("body: request body is larger than the limit of {limit} bytes"),
                    &ctx,
                ));
            }
        };
        parse(&bytes)
            .map(JsonBody)
            .map_err(|m| envelope(StatusCode::BAD_REQUEST, &m, &ctx).into_response())
    }
}

fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("Invalid JSON body: {e}"))
}
