//! Leader forwarding: the one tower layer that decides what a follower does with a call
//! only the leader can serve.
//!
//! Every leader-only call (any write, and reads at leader or strong consistency) fails on a
//! follower with `Error::NotLeader`, which the single error mappings render as gRPC
//! UNAVAILABLE with `konsul-leader-*` metadata or REST 307 with `Location` and the leader in
//! the body; both also carry the leader's client address in the `konsul-leader-addr`
//! header. Handlers contain no leader logic at all. With `KONSUL_FORWARD_TO_LEADER=true`
//! this layer, wrapped around the whole client port, buffers each request (bounded by the
//! request size limit), and when the local answer says "not leader", replays it to the
//! leader and returns the leader's answer instead: the caller never sees the redirect. A
//! not-leader answer guarantees nothing was written locally, so the replay cannot apply a
//! write twice. Forwarded requests are marked so they are never forwarded again.
//!
//! Once the request has gone out to the leader, the follower can no longer promise that
//! nothing was written: if the connection breaks or the leader does not answer in time
//! (`request_timeout`), the answer is "outcome unknown" (gRPC UNAVAILABLE, REST 503, reason
//! `OUTCOME_UNKNOWN`), never "not leader". Only a connection that was never established
//! proves the leader saw nothing; then the local not-leader answer stands. If the leader
//! itself answers "not leader" (it lost leadership meanwhile; it wrote nothing), the call
//! follows that answer to the next leader, at most [`MAX_HOPS`] times.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::{Layer, Service, ServiceExt};

use crate::api::status::LEADER_ADDR_KEY;
use crate::deps::Routes;
use crate::error::Error;

/// Header set on a forwarded request so the receiver never forwards it again.
pub const FORWARDED_HEADER: &str = "konsul-forwarded";

/// How many leaders one call may be sent to in turn.
pub const MAX_HOPS: usize = 3;

/// Time a leader gets beyond `request_timeout` to deliver an answer it has (its own
/// deadline ends its work at `request_timeout`).
const ANSWER_SLACK: Duration = Duration::from_secs(1);

/// Wraps the client-port service with leader forwarding when `enabled`.
#[derive(Clone)]
pub struct ForwardLayer {
    enabled: bool,
    max_body: usize,
    timeout: Duration,
    routes: Routes,
    http1: Client<HttpConnector, Body>,
    http2: Client<HttpConnector, Body>,
}

impl ForwardLayer {
    /// A layer that forwards not-leader answers to the leader when `enabled`; request
    /// bodies above `max_body` bytes are refused before they reach the service. A forwarded
    /// call may take `timeout` (plus a little for the answer to travel); leader addresses go
    /// through `routes`.
    pub fn new(enabled: bool, max_body: usize, timeout: Duration, routes: Routes) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let http1 = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector.clone());
        // HTTP/2 keepalive pings need a timer: without one hyper panics on the first request.
        let http2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .http2_keep_alive_interval(Some(Duration::from_secs(10)))
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        Self {
            enabled,
            max_body,
            timeout,
            routes,
            http1,
            http2,
        }
    }
}

impl<S> Layer<S> for ForwardLayer {
    type Service = Forward<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Forward {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`ForwardLayer`].
#[derive(Clone)]
pub struct Forward<S> {
    inner: S,
    layer: ForwardLayer,
}

/// The leader's client address when `resp` is a not-leader answer (gRPC or REST).
pub fn not_leader_target(resp: &Response) -> Option<String> {
    let addr = resp
        .headers()
        .get(LEADER_ADDR_KEY)?
        .to_str()
        .ok()?
        .to_owned();
    let grpc_unavailable = resp
        .headers()
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"14");
    (grpc_unavailable || resp.status() == StatusCode::TEMPORARY_REDIRECT).then_some(addr)
}

impl<S> Service<Request<Body>> for Forward<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let layer = self.layer.clone();
        if !layer.enabled || req.headers().contains_key(FORWARDED_HEADER) {
            return Box::pin(inner.oneshot(req));
        }
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes: Bytes = match axum::body::to_bytes(body, layer.max_body).await {
                Ok(b) => b,
                Err(_) => {
                    return Ok((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "request body is larger than the limit of {} bytes",
                            layer.max_body
                        ),
                    )
                        .into_response());
                }
            };
            let local = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
            let resp = inner.oneshot(local).await?;
            let Some(leader) = not_leader_target(&resp) else {
                return Ok(resp);
            };
            Ok(layer.forward(parts, bytes, leader, resp).await)
        })
    }
}

/// How one forwarding attempt ended.
enum Hop {
    /// The leader answered (possibly "not leader" itself).
    Answer(Response),
    /// No connection to the leader could be made: it saw nothing.
    NotSent(String),
    /// The request went out and no answer came back.
    Lost(String),
}

impl ForwardLayer {
    /// Sends the request to `leader`, following not-leader answers for up to [`MAX_HOPS`]
    /// leaders; `local` is this node's own not-leader answer.
    async fn forward(
        &self,
        parts: http::request::Parts,
        bytes: Bytes,
        mut leader: String,
        local: Response,
    ) -> Response {
        let is_grpc = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let deadline = tokio::time::Instant::now() + self.timeout + ANSWER_SLACK;
        let mut last = local;
        for _ in 0..MAX_HOPS {
            match self
                .send(&parts, bytes.clone(), &leader, is_grpc, deadline)
                .await
            {
                Hop::Answer(answer) => match not_leader_target(&answer) {
                    Some(next) if next != leader => {
                        leader = next;
                        last = answer;
                    }
                    _ => return answer,
                },
                Hop::NotSent(e) => {
                    tracing::warn!(%leader, "could not connect to the leader to forward: {e}");
                    return last;
                }
                Hop::Lost(e) => {
                    tracing::warn!(%leader, "forwarded call lost: {e}");
                    return outcome_unknown(&leader, &e, is_grpc);
                }
            }
        }
        last
    }

    /// One attempt at `leader`.
    async fn send(
        &self,
        parts: &http::request::Parts,
        bytes: Bytes,
        leader: &str,
        is_grpc: bool,
        deadline: tokio::time::Instant,
    ) -> Hop {
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let target = self.routes.resolve(leader);
        let Ok(uri) = format!("http://{target}{path}").parse::<Uri>() else {
            return Hop::NotSent(format!("'{target}' is not a valid address"));
        };
        let mut fwd = Request::from_parts(parts.clone(), Body::from(bytes));
        *fwd.uri_mut() = uri;
        fwd.headers_mut().remove(http::header::HOST);
        fwd.headers_mut()
            .insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
        let client = if is_grpc { &self.http2 } else { &self.http1 };
        match tokio::time::timeout_at(deadline, client.request(fwd)).await {
            Ok(Ok(answer)) => Hop::Answer(answer.map(Body::new)),
            Ok(Err(e)) if e.is_connect() => Hop::NotSent(e.to_string()),
            Ok(Err(e)) => Hop::Lost(e.to_string()),
            Err(_) => Hop::Lost(format!(
                "no answer within {:?}",
                self.timeout + ANSWER_SLACK
            )),
        }
    }
}

/// The answer for a call whose forwarded copy may or may not have been applied.
fn outcome_unknown(leader: &str, why: &str, is_grpc: bool) -> Response {
    let message = format!(
        "the call was forwarded to the leader at {leader} and its answer was lost ({why}); \
         a write may or may not have been applied"
    );
    if is_grpc {
        tonic::Status::from(Error::outcome_unknown(message)).into_http()
    } else {
        crate::gateway::error::short(StatusCode::SERVICE_UNAVAILABLE, "outcome unknown", &message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: StatusCode, headers: &[(&str, &str)]) -> Response {
        let mut r = Response::builder().status(status);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::empty()).unwrap()
    }

    #[test]
    fn recognises_only_not_leader_answers() {
        let leader = "127.0.0.1:9999";
        let grpc = resp(
            StatusCode::OK,
            &[("grpc-status", "14"), (LEADER_ADDR_KEY, leader)],
        );
        assert_eq!(not_leader_target(&grpc).as_deref(), Some(leader));
        let rest = resp(StatusCode::TEMPORARY_REDIRECT, &[(LEADER_ADDR_KEY, leader)]);
        assert_eq!(not_leader_target(&rest).as_deref(), Some(leader));
        // Other failures, or a leader header on a success, are not forwarded.
        assert_eq!(
            not_leader_target(&resp(StatusCode::OK, &[(LEADER_ADDR_KEY, leader)])),
            None
        );
        assert_eq!(
            not_leader_target(&resp(StatusCode::OK, &[("grpc-status", "14")])),
            None,
            "no leader known: nothing to forward to"
        );
        assert_eq!(
            not_leader_target(&resp(
                StatusCode::OK,
                &[("grpc-status", "5"), (LEADER_ADDR_KEY, leader)]
            )),
            None
        );
        assert_eq!(
            not_leader_target(&resp(StatusCode::SERVICE_UNAVAILABLE, &[])),
            None
        );
    }
}
