//! The channel cache: one tonic `Channel` per node address, created lazily on first use and
//! reused by every later call, so a client holds at most one HTTP/2 connection per node.
//!
//! Channels are lazy (`connect_lazy`): creating one dials nothing, and a node that is down
//! costs nothing until a call is routed to it. A failed connection is re-dialled by tonic on
//! the next call through the same channel.

use std::collections::HashMap;
use std::sync::Mutex;

use tonic::transport::{Channel, Endpoint};

use crate::client::Settings;
use crate::error::{Error, Result};

/// Channels keyed by normalized URI (see `routing::address`).
pub(crate) struct Channels {
    settings: Settings,
    cache: Mutex<HashMap<String, Channel>>,
}

impl Channels {
    /// An empty cache whose channels will use `settings` (timeouts, keepalive).
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The channel for `uri`, created on first use. Must run inside a Tokio runtime (tonic
    /// spawns the channel's worker task).
    pub(crate) fn get(&self, uri: &str) -> Result<Channel> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ch) = cache.get(uri) {
            return Ok(ch.clone());
        }
        let s = &self.settings;
        let mut endpoint = Endpoint::from_shared(uri.to_owned())
            .map_err(|e| Error::InvalidArgument(format!("endpoint {uri}: {e}")))?
            .connect_timeout(s.connect_timeout)
            .timeout(s.request_timeout)
            .tcp_nodelay(true);
        if let Some(interval) = s.keepalive_interval {
            endpoint = endpoint
                .http2_keep_alive_interval(interval)
                .keep_alive_timeout(s.keepalive_timeout)
                .keep_alive_while_idle(true);
        }
        let ch = endpoint.connect_lazy();
        cache.insert(uri.to_owned(), ch.clone());
        Ok(ch)
    }
}
