//! Endpoint addresses: what a user writes (`host:port` or `http://host:port`) and what a
//! follower's redirect carries (`host:port`), turned into the one URI form that keys the
//! channel cache, so that the same node is never dialled twice under two spellings.

use tonic::transport::Endpoint;

use crate::error::{Error, Result};

/// Turns a configured endpoint into a URI: `host:port` gains `http://`, a trailing `/` is
/// dropped. TLS is not part of this first cut, so `https://` is refused with a clear message
/// rather than failing later on the first call.
pub(crate) fn normalize(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let (scheme, authority) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("http", raw),
    };
    let authority = authority.trim_end_matches('/');
    if scheme == "https" {
        return Err(Error::InvalidArgument(format!(
            "endpoint {raw}: TLS endpoints are not supported by this SDK version yet"
        )));
    }
    if scheme != "http" {
        return Err(Error::InvalidArgument(format!(
            "endpoint {raw}: unsupported scheme {scheme:?}, use host:port or http://host:port"
        )));
    }
    if authority.is_empty() || authority.contains('/') {
        return Err(Error::InvalidArgument(format!(
            "endpoint {raw:?}: expected host:port"
        )));
    }
    let uri = format!("http://{authority}");
    Endpoint::from_shared(uri.clone())
        .map_err(|e| Error::InvalidArgument(format!("endpoint {raw}: {e}")))?;
    Ok(uri)
}

/// The URI to dial for a leader's client address taken from redirect metadata.
pub(crate) fn leader_uri(leader_addr: &str) -> Result<String> {
    normalize(leader_addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_gains_a_scheme() {
        assert_eq!(
            normalize("127.0.0.1:8888").unwrap(),
            "http://127.0.0.1:8888"
        );
        assert_eq!(normalize(" node1:8888/ ").unwrap(), "http://node1:8888");
        assert_eq!(
            normalize("http://127.0.0.1:8888").unwrap(),
            "http://127.0.0.1:8888"
        );
        assert_eq!(leader_uri("10.0.0.2:8888").unwrap(), "http://10.0.0.2:8888");
    }

    #[test]
    fn bad_endpoints_are_invalid_arguments() {
        for raw in ["", "  ", "https://a:1", "ftp://a:1", "http://", "a b:1"] {
            assert!(
                matches!(normalize(raw), Err(Error::InvalidArgument(_))),
                "{raw:?} should be rejected"
            );
        }
    }
}
