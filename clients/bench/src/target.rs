//! What the closed loop needs from a server under test: one write and one read of a single
//! key, and the catalog calls (register, pre-register, heartbeat, query; see `catalog.rs`).
//! `konsul.rs` and `etcd.rs` implement it over their own gRPC clients; both share the
//! connection setup here, so the two targets differ only in the messages they send.

use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use anyhow::Context;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};

/// The result of a read that the server answered.
///
/// A missing key is a normal answer on both systems (Konsul says `NOT_FOUND`, etcd returns no
/// entries), so it is counted apart from errors rather than as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The key exists and its entry came back.
    Hit,
    /// The key does not exist.
    Miss,
}

/// A server the benchmark can drive. One value per simulated client; clones share the
/// underlying HTTP/2 connection.
pub trait Target: Clone + Send + Sync + 'static {
    /// Writes `value` under `key`, acknowledged under the server's durability settings.
    fn put(&mut self, key: &str, value: &[u8]) -> impl Future<Output = Result<(), Status>> + Send;
    /// Reads `key` at the consistency level the target was built with.
    fn get(&mut self, key: &str) -> impl Future<Output = Result<Read, Status>> + Send;
    /// Registers the `n`-th new service of a `register` run, with the run's TTL.
    fn register(&mut self, n: u64) -> impl Future<Output = Result<(), Status>> + Send;
    /// Registers the pre-registered services `ns` (at most `catalog::REGISTER_BATCH`), so
    /// that heartbeats and queries find them.
    fn preregister(&mut self, ns: Range<u64>) -> impl Future<Output = Result<(), Status>> + Send;
    /// Renews pre-registered service `n`: `Miss` when it is not (or no longer) registered.
    fn heartbeat(&mut self, n: u64) -> impl Future<Output = Result<Read, Status>> + Send;
    /// Lists the services of group `g`: `Miss` when there are none.
    fn query(&mut self, g: u64) -> impl Future<Output = Result<Read, Status>> + Send;
}

/// Per-connection settings shared by both targets.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Deadline of every request, so that a lost reply can never hang a client.
    pub request_timeout: Duration,
    /// How long to wait for the TCP + HTTP/2 handshake of each connection.
    pub connect_timeout: Duration,
}

/// Opens `connections` HTTP/2 connections, spread round-robin over `endpoints`.
///
/// Each tonic `Channel` made by `Endpoint::connect` is exactly one connection, which is what
/// lets `--connections` control how many streams share a socket. Connecting eagerly makes a
/// wrong address fail here, with its name, instead of as a stream of request errors.
pub async fn connect(
    endpoints: &[String],
    connections: usize,
    opts: ConnectOptions,
) -> anyhow::Result<Vec<Channel>> {
    anyhow::ensure!(!endpoints.is_empty(), "no endpoint given");
    let mut channels = Vec::with_capacity(connections);
    for i in 0..connections {
        let uri = with_scheme(&endpoints[i % endpoints.len()]);
        let endpoint = Endpoint::from_shared(uri.clone())
            .with_context(|| format!("invalid endpoint {uri}"))?
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.request_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        let channel = tokio::time::timeout(opts.connect_timeout, endpoint.connect())
            .await
            .with_context(|| format!("connecting to {uri}: timed out"))?
            .with_context(|| format!("connecting to {uri}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Accepts `host:port` as well as a full `http://host:port` URI.
fn with_scheme(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_host_port_gets_http_scheme() {
        assert_eq!(with_scheme("127.0.0.1:8888"), "http://127.0.0.1:8888");
        assert_eq!(
            with_scheme("http://127.0.0.1:2379"),
            "http://127.0.0.1:2379"
        );
    }
}
