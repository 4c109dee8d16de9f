//! [`Client`] and [`ClientBuilder`]: the handle an application keeps, and the knobs it is
//! built with (timeouts, keepalive, retry budget).
//!
//! The client itself is a cheap, cloneable handle over the shared routing state
//! (`routing::Router`); the KV and cluster calls live in `kv.rs` and `cluster.rs`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::request_id::RequestIds;
use crate::routing::Router;

/// Largest response the SDK accepts: a listing or batch read can exceed tonic's 4 MiB
/// default even when every single value is within the server's 1 MiB limit.
pub(crate) const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Timeouts and retry budget, fixed when the client is built.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) retry_deadline: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            keepalive_interval: Some(Duration::from_secs(10)),
            keepalive_timeout: Duration::from_secs(5),
            max_attempts: 10,
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            retry_deadline: Duration::from_secs(30),
        }
    }
}

/// A connection to a Konsul cluster.
///
/// Cloning is cheap and clones share channels and the remembered leader, so one client per
/// process is the intended use. Calls that need the leader (writes, and reads at default,
/// leader or strong consistency) go to the last known leader and follow not-leader
/// redirects; stale reads and a node's view of the cluster go to any endpoint.
#[derive(Clone)]
pub struct Client {
    pub(crate) router: Arc<Router>,
    /// Names every KV write, so a write whose answer was lost can be sent again safely.
    pub(crate) ids: Arc<RequestIds>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.router.endpoints())
            .field("leader", &self.router.leader_hint())
            .finish()
    }
}

impl Client {
    /// A client for the cluster reachable at `endpoints` (`host:port` or `http://host:port`),
    /// with default settings. Nothing is dialled until the first call, so this fails only on
    /// malformed endpoints; an unreachable cluster shows up as an error of that call.
    pub async fn connect(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Result<Client> {
        ClientBuilder::new(endpoints).build()
    }

    /// A builder for a client with non-default settings.
    pub fn builder(endpoints: impl IntoIterator<Item = impl Into<String>>) -> ClientBuilder {
        ClientBuilder::new(endpoints)
    }

    /// The configured endpoints, normalized to URIs.
    pub fn endpoints(&self) -> Vec<String> {
        self.router.endpoints().to_vec()
    }

    /// The client id this client's writes carry in their request ids (see
    /// [`crate::Error::RequestIdExpired`]).
    pub fn client_id(&self) -> &str {
        self.ids.client_id()
    }

    /// The URI of the node this client currently believes leads, learned from a redirect or
    /// a successful leader-only call. `None` until then, and after that node fails.
    pub fn leader_hint(&self) -> Option<String> {
        self.router.leader_hint()
    }
}

/// Settings for a [`Client`]. Every call is bounded: each attempt by the request timeout,
/// and the retries of one call by both an attempt count and a total deadline.
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    endpoints: Vec<String>,
    settings: Settings,
}

impl ClientBuilder {
    /// Settings for a client of the cluster at `endpoints`, all defaults.
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            settings: Settings::default(),
        }
    }

    /// Deadline of one attempt, sent to the server as `grpc-timeout` too. Default 10 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// How long establishing a connection to one node may take. Default 3 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// HTTP/2 keepalive: ping every `interval`, even when idle, and drop the connection when
    /// a ping is not answered within `timeout`, so a dead node is noticed without a call
    /// hanging on it. Default 10 s / 5 s.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.settings.keepalive_interval = Some(interval);
        self.settings.keepalive_timeout = timeout;
        self
    }

    /// Turns HTTP/2 keepalive pings off.
    pub fn no_keepalive(mut self) -> Self {
        self.settings.keepalive_interval = None;
        self
    }

    /// Most attempts one call makes, counting the first, across redirects, elections and
    /// unreachable endpoints. At least 1; default 10.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = attempts.max(1);
        self
    }

    /// Pause before the first retry that waits (an election, a node that cannot serve),
    /// doubling up to `max`. Redirects to a newly named leader do not wait. Default
    /// 50 ms up to 1 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.settings.backoff_initial = initial;
        self.settings.backoff_max = max.max(initial);
        self
    }

    /// Total time one call may spend retrying; no retry starts after it. Default 30 s.
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.settings.retry_deadline = deadline;
        self
    }

    /// Builds the client. Dials nothing; fails with [`Error::InvalidArgument`] when the
    /// endpoint list is empty or an endpoint is malformed.
    pub fn build(self) -> Result<Client> {
        if self.settings.request_timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "request timeout must be positive".into(),
            ));
        }
        let router = Router::new(self.endpoints, self.settings)?;
        Ok(Client {
            router: Arc::new(router),
            ids: Arc::new(RequestIds::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_validates_without_dialling() {
        let c = Client::connect(["127.0.0.1:1", "http://127.0.0.1:2/"])
            .await
            .unwrap();
        assert_eq!(c.endpoints(), ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        assert_eq!(c.leader_hint(), None);
        assert!(Client::connect(Vec::<String>::new()).await.is_err());
        assert!(Client::connect(["https://x:1"]).await.is_err());
    }

    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[tokio::test]
    async fn clients_and_their_calls_can_cross_tasks() {
        assert_send_sync::<Client>();
        let c = Client::connect(["127.0.0.1:1"]).await.unwrap();
        assert_send(&c.put("k", "v"));
        assert_send(&c.get("k"));
        assert_send(&c.batch_put([("k", "v")]));
        assert_send(&c.status());
        assert_send(&c.register(crate::Service::new("s", "h", 1)));
        assert_send(&c.heartbeat("s/i"));
        assert_send(&c.batch_get_services(["s"]));
    }

    #[test]
    fn builder_keeps_bounds_sane() {
        let b = ClientBuilder::new(["a:1"])
            .max_attempts(0)
            .backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(b.settings.max_attempts, 1);
        assert_eq!(b.settings.backoff_max, Duration::from_secs(2));
        assert!(
            ClientBuilder::new(["a:1"])
                .request_timeout(Duration::ZERO)
                .build()
                .is_err()
        );
    }
}
