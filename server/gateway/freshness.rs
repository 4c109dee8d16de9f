//! What a REST read says about its own freshness, and what a REST write says about its
//! identity: the `X-Konsul-*` headers and the `min_index` parameter, in one place for every
//! route.
//!
//! ```text
//!  GET ...?min_index=N ──► the read's min_index ──► api read (waits until N is applied)
//!  the answer's header ──► X-Konsul-Index / X-Konsul-KnownLeader / X-Konsul-LastContact
//!  X-Konsul-Request-Id: <client>/<seq> ──► store::RequestId ──► api write (applied once)
//! ```
//!
//! The names follow Consul's `X-Consul-Index`, `X-Consul-KnownLeader` and
//! `X-Consul-LastContact` (milliseconds since the answering node heard from the leader; where
//! Consul always says 0 on the leader, Konsul says how long ago a quorum acknowledged it, so
//! a cut-off leader does not look fresh).

use std::collections::HashMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Serialize;

use crate::api::call;
use crate::error::Error;
use crate::gateway::context::Ctx;
use crate::gateway::error::fail;
use crate::raft::node::HeaderInfo;
use crate::store::RequestId;

/// The index the answer reflects: the applied index for KV reads, the catalog index for
/// catalog listings.
pub const INDEX_HEADER: &str = "X-Konsul-Index";
/// `true` when the answering node knows a leader.
pub const KNOWN_LEADER_HEADER: &str = "X-Konsul-KnownLeader";
/// Milliseconds since the answering node last heard from the leader (on the leader: since a
/// quorum last acknowledged it).
pub const LAST_CONTACT_HEADER: &str = "X-Konsul-LastContact";
/// A write's request id: `<client-id>/<seq>` (or a bare `<client-id>`).
pub const REQUEST_ID_HEADER: &str = "X-Konsul-Request-Id";

/// The `min_index` query parameter (absent: 0, no wait).
pub fn min_index(q: &HashMap<String, String>) -> Result<u64, Error> {
    min_index_value(q.get("min_index").map(String::as_str))
}

/// The value of a `min_index` query parameter, if one was given (absent: 0, no wait).
pub fn min_index_value(value: Option<&str>) -> Result<u64, Error> {
    match value {
        None => Ok(0),
        Some(v) => v.parse::<u64>().map_err(|_| {
            Error::invalid(
                "min_index",
                format!("'{v}' is not an unsigned 64-bit log index"),
            )
        }),
    }
}

/// The request id a write carries in [`REQUEST_ID_HEADER`], if any.
pub fn request_id(headers: &HeaderMap) -> Result<Option<RequestId>, Error> {
    let Some(value) = headers.get(REQUEST_ID_HEADER) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::invalid(REQUEST_ID_HEADER, "must be ASCII"))?;
    call::parse_request_id_header(value).map(Some)
}

/// What the freshness headers say about an answer, from the typed API's [`HeaderInfo`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Freshness {
    /// The applied index the answer reflects.
    pub applied_index: u64,
    /// Whether the answering node knows a leader.
    pub known_leader: bool,
    /// Milliseconds since it last heard from the leader.
    pub last_contact_ms: u64,
}

impl From<&HeaderInfo> for Freshness {
    fn from(h: &HeaderInfo) -> Self {
        Freshness {
            applied_index: h.applied_index,
            known_leader: h.known_leader,
            last_contact_ms: u64::try_from(h.last_contact.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// A JSON answer with the freshness headers of `header`; `index` is what
/// [`INDEX_HEADER`] says.
pub fn fresh_json<T: Serialize>(header: impl Into<Freshness>, index: u64, body: T) -> Response {
    let mut response = Json(body).into_response();
    add_headers(response.headers_mut(), header.into(), index);
    response
}

/// Sets the freshness headers of `h` on an answer (also on a 404 for a missing key).
pub fn add_headers(headers: &mut HeaderMap, h: Freshness, index: u64) {
    for (name, value) in [
        (INDEX_HEADER, index.to_string()),
        (KNOWN_LEADER_HEADER, h.known_leader.to_string()),
        (LAST_CONTACT_HEADER, h.last_contact_ms.to_string()),
    ] {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// The 404 of a read that found nothing, still saying what it reflected: this node's state
/// after the read.
pub fn not_found(g: &crate::gateway::Gateway, ctx: &Ctx, e: impl Into<tonic::Status>) -> Response {
    let header = Freshness::from(&g.health.header());
    let mut answer = fail(ctx, e).into_response();
    add_headers(answer.headers_mut(), header, header.applied_index);
    answer
}

/// A KV read's answer: [`fresh_json`] with the applied index.
pub fn read_json<T: Serialize>(header: impl Into<Freshness>, body: T) -> Response {
    let header = header.into();
    fresh_json(header, header.applied_index, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_index_is_a_number_or_absent() {
        let mut q = HashMap::new();
        assert_eq!(min_index(&q).unwrap(), 0);
        q.insert("min_index".to_owned(), "42".to_owned());
        assert_eq!(min_index(&q).unwrap(), 42);
        q.insert("min_index".to_owned(), "-1".to_owned());
        let e = min_index(&q).unwrap_err().to_string();
        assert!(e.starts_with("min_index: "), "{e}");
    }

    #[test]
    fn the_headers_say_what_the_read_reflects() {
        let h = HeaderInfo {
            applied_index: 17,
            known_leader: true,
            last_contact: std::time::Duration::from_millis(25),
            ..Default::default()
        };
        let r = read_json(&h, "x");
        assert_eq!(r.headers()[INDEX_HEADER], "17");
        assert_eq!(r.headers()[KNOWN_LEADER_HEADER], "true");
        assert_eq!(r.headers()[LAST_CONTACT_HEADER], "25");
    }
}
