//! What every API call takes from its envelope before it does its job: its deadline, and
//! for writes the client's request id.
//!
//! ```text
//!  tonic Request (grpc-timeout metadata) ──► deadline: min(grpc-timeout, request_timeout)
//!  pb::RequestId ──► validated store::RequestId ──► Command::Identified { request, now_ms, .. }
//! ```
//!
//! The REST gateway has no `grpc-timeout`, so its calls get `request_timeout`, and it turns
//! the `X-Konsul-Request-Id` header into the same validated `store::RequestId` (see
//! [`parse_request_id_header`]).

use std::time::Duration;

use konsul_proto::v1 as pb;
use tokio::time::Instant;
use tonic::Request;

use crate::deps::Clock;
use crate::error::{Error, Result};
use crate::store::{Command, RequestId, Response};

/// The gRPC metadata key of a call's deadline.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Longest client id in a request id.
pub const MAX_CLIENT_ID_BYTES: usize = 128;

/// When the call must be answered: its own `grpc-timeout` when that is sooner, else
/// `default` from now.
pub fn deadline<T>(request: &Request<T>, default: Duration) -> Instant {
    let asked = request
        .metadata()
        .get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout);
    Instant::now() + asked.map_or(default, |d| d.min(default))
}

/// The `grpc-timeout` of an HTTP request, if it names a valid one.
pub fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(GRPC_TIMEOUT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
}

/// Parses a `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Checks a request id: `client_id` 1 to [`MAX_CLIENT_ID_BYTES`] bytes of letters, digits
/// and `.-_:`.
pub fn request_id(id: &pb::RequestId) -> Result<RequestId> {
    let c = &id.client_id;
    if c.is_empty() {
        return Err(Error::invalid(
            "request_id.client_id",
            "must not be empty when a request id is given",
        ));
    }
    if c.len() > MAX_CLIENT_ID_BYTES {
        return Err(Error::invalid(
            "request_id.client_id",
            format!(
                "is {} bytes, the limit is {MAX_CLIENT_ID_BYTES} bytes",
                c.len()
            ),
        ));
    }
    if let Some(bad) = c
        .chars()
        .find(|ch| !(ch.is_ascii_alphanumeric() || ".-_:".contains(*ch)))
    {
        return Err(Error::invalid(
            "request_id.client_id",
            format!("contains {bad:?}; only letters, digits and \".-_:\" are allowed"),
        ));
    }
    Ok(RequestId {
        client_id: c.clone(),
        seq: id.seq,
    })
}

/// `command`, wrapped with its request id when the client gave one (stamped with the
/// leader's time, the log time that ages remembered outcomes).
pub fn identified(command: Command, id: Option<RequestId>, clock: &dyn Clock) -> Command {
    match id {
        None => command,
        Some(request) => Command::Identified {
            request,
            now_ms: clock.now_ms(),
            command: Box::new(command),
        },
    }
}

/// The error for a write the state machine refused as a forgotten retry.
pub fn expired(response: &Response) -> Option<Error> {
    match response {
        Response::RequestIdExpired {
            client_id,
            seq,
            floor,
        } => Some(Error::RequestIdExpired(format!(
            "request id {client_id}/{seq} is older than the oldest one still remembered for \
             that client ({client_id}/{floor}); the write was not applied, and whether an \
             earlier attempt was can no longer be told: read the key before writing again"
        ))),
        _ => None,
    }
}

/// Parses the REST header `X-Konsul-Request-Id`: `<client-id>/<seq>`, or a bare
/// `<client-id>` (sequence 0: a one-off id such as a UUID).
pub fn parse_request_id_header(value: &str) -> Result<RequestId> {
    let field = "X-Konsul-Request-Id";
    let (client_id, seq) = match value.rsplit_once('/') {
        Some((client, seq)) => {
            let seq = seq.parse::<u64>().map_err(|_| {
                Error::invalid(
                    field,
                    format!("'{seq}' after the last '/' is not an unsigned 64-bit sequence number"),
                )
            })?;
            (client, seq)
        }
        None => (value, 0),
    };
    let id = pb::RequestId {
        client_id: client_id.to_owned(),
        seq,
    };
    request_id(&id).map_err(|e| match e {
        Error::InvalidArgument(m) => {
            Error::InvalidArgument(m.replacen("request_id.client_id", field, 1))
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(parse_grpc_timeout("10n"), Some(Duration::from_nanos(10)));
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None, "more than 8 digits");
        assert_eq!(parse_grpc_timeout("5x"), None);
    }

    #[test]
    fn a_short_grpc_timeout_wins_over_the_default_and_a_long_one_does_not() {
        let mut r = Request::new(());
        r.set_timeout(Duration::from_millis(200));
        let d = deadline(&r, Duration::from_secs(10));
        assert!(d <= Instant::now() + Duration::from_millis(200));
        let mut r = Request::new(());
        r.set_timeout(Duration::from_secs(100));
        let d = deadline(&r, Duration::from_secs(10));
        assert!(d <= Instant::now() + Duration::from_secs(10));
    }

    #[test]
    fn request_ids_are_checked_and_named() {
        let ok = pb::RequestId {
            client_id: "sdk-1f3a:7".into(),
            seq: 9,
        };
        assert_eq!(request_id(&ok).unwrap().seq, 9);
        for (client_id, part) in [
            ("", "must not be empty"),
            ("a b", "contains ' '"),
            ("a/b", "contains '/'"),
        ] {
            let e = request_id(&pb::RequestId {
                client_id: client_id.into(),
                seq: 1,
            })
            .unwrap_err()
            .to_string();
            assert!(e.starts_with("request_id.client_id: "), "{e}");
            assert!(e.contains(part), "{e}");
        }
        let long = "x".repeat(MAX_CLIENT_ID_BYTES + 1);
        let e = request_id(&pb::RequestId {
            client_id: long,
            seq: 1,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("the limit is 128 bytes"), "{e}");
    }

    #[test]
    fn the_rest_header_takes_client_and_sequence() {
        let id = parse_request_id_header("app-7/42").unwrap();
        assert_eq!((id.client_id.as_str(), id.seq), ("app-7", 42));
        let id = parse_request_id_header("0b9c6f0e-1d2e-4c3b-9a8f-2e1d0c9b8a7f").unwrap();
        assert_eq!(id.seq, 0);
        let e = parse_request_id_header("app/x").unwrap_err().to_string();
        assert!(e.starts_with("X-Konsul-Request-Id: "), "{e}");
        let e = parse_request_id_header("a b/1").unwrap_err().to_string();
        assert!(e.starts_with("X-Konsul-Request-Id: "), "{e}");
    }
}
