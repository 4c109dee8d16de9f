//! The dialing seam of the peer network (DESIGN.md §4): how this node opens a channel to
//! another member. `network.rs` asks a [`Dialer`] once per peer address and shares the
//! channel; production dials plain TCP with [`TcpDialer`], fault tests route each link
//! through a proxy ([`TcpDialer::routed`]), and a deterministic simulation can hand in a
//! dialer of its own.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::deps::Routes;

/// HTTP/2 flow-control window of one peer call, in both directions (the dialer's channels
/// and the peer port's server set it). Pipelined replication keeps up to
/// `network::MAX_INFLIGHT_BYTES` (8 MiB) unanswered on one stream; a window below that would
/// make the sender wait for window updates instead of the follower's answers. hyper's default
/// (1-2 MiB) is sized for request/response calls.
pub const PEER_STREAM_WINDOW: u32 = 16 * 1024 * 1024;

/// HTTP/2 flow-control window of one peer connection: room for a replication stream's
/// window plus a snapshot stream and the unary calls beside it.
pub const PEER_CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;

/// Opens channels to peers: the dialing seam. Production uses [`TcpDialer`]; a deterministic
/// simulation supplies a dialer whose channels run over its simulated network (for example
/// through `Endpoint::connect_with_connector_lazy`).
pub trait Dialer: Send + Sync + 'static {
    /// Returns a channel to the peer at `addr` (host:port). It must connect lazily: this is
    /// called while openraft sets up replication and must not wait for the peer.
    fn dial(&self, addr: &str) -> crate::Result<Channel>;
}

/// Dials peers over plain TCP with tonic. The settings keep a dead peer from hanging a call:
/// a bounded connect, and HTTP/2 pings that notice a silently dropped connection.
#[derive(Debug, Clone)]
pub struct TcpDialer {
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// How often an HTTP/2 ping is sent on a connection, busy or idle.
    pub keepalive_interval: Duration,
    /// How long to wait for a ping's answer before dropping the connection.
    pub keepalive_timeout: Duration,
    /// When set, every (re)connection looks its address up here first (fault tests send each
    /// link through a proxy); `None` connects straight to the peer.
    pub routes: Option<Routes>,
}

impl Default for TcpDialer {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(500),
            keepalive_interval: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(2),
            routes: None,
        }
    }
}

impl TcpDialer {
    /// The default dialer, connecting through `routes`.
    pub fn routed(routes: Routes) -> Self {
        Self {
            routes: Some(routes),
            ..Self::default()
        }
    }
}

impl Dialer for TcpDialer {
    fn dial(&self, addr: &str) -> crate::Result<Channel> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| crate::Error::Config(format!("peer address '{addr}': {e}")))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .initial_stream_window_size(PEER_STREAM_WINDOW)
            .initial_connection_window_size(PEER_CONNECTION_WINDOW)
            .http2_keep_alive_interval(self.keepalive_interval)
            .keep_alive_timeout(self.keepalive_timeout)
            .keep_alive_while_idle(true);
        let Some(routes) = self.routes.clone() else {
            return Ok(endpoint.connect_lazy());
        };
        let (addr, timeout) = (addr.to_owned(), self.connect_timeout);
        let connector = tower::service_fn(move |_: http::Uri| {
            let target = routes.resolve(&addr);
            async move {
                let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&target))
                    .await
                    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
                tcp.set_nodelay(true)?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tcp))
            }
        });
        Ok(endpoint.connect_with_connector_lazy(connector))
    }
}
