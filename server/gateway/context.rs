//! Per-request context for error bodies: the request path, a fresh request id and the time,
//! taken once when a handler starts so every error envelope of the contract can carry them.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::gateway::Gateway;

/// What an error envelope needs to know about the request.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The request path, as sent.
    pub path: String,
    /// The raw query string, if any: a not-leader redirect repeats it in `Location`, so the
    /// leader gets the same request (a read's consistency, a delete's `cas`).
    pub query: Option<String>,
    /// A fresh id for this request (UUID v4 format, from the node's entropy seam).
    pub request_id: String,
    /// RFC 3339 time of the request (from the node's clock seam).
    pub timestamp: String,
}

impl Ctx {
    /// Builds the context from the request and the gateway's seams.
    pub fn new(path: &str, g: &Gateway) -> Self {
        let (a, b) = (g.deps.rng.next_u64(), g.deps.rng.next_u64());
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        );
        Self {
            path: path.to_owned(),
            query: None,
            request_id,
            timestamp: crate::gateway::format::rfc3339(g.deps.clock.now()),
        }
    }
}

impl FromRequestParts<Gateway> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, g: &Gateway) -> Result<Self, Infallible> {
        let mut ctx = Ctx::new(parts.uri.path(), g);
        ctx.query = parts.uri.query().map(str::to_owned);
        Ok(ctx)
    }
}
