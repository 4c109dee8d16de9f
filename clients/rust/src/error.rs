//! The SDK's one error type.
//!
//! Every call ends in either a value or an [`Error`]. The routing layer (`routing/`) has
//! already retried what is safe to retry (not-leader redirects, "no leader" elections,
//! endpoints that could not be reached), so what reaches the caller is final for this call.
//! The variant that matters most for correctness is [`Error::Indeterminate`]: a write whose
//! fate is unknown must never be replayed behind the caller's back.

use tonic::{Code, Status};

/// Shorthand for results of SDK calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key (or other named thing) does not exist. Plain reads report a missing key as
    /// `None` instead; this comes from conditional writes and cluster calls.
    #[error("not found: {0}")]
    NotFound(String),
    /// A compare-and-swap condition did not hold; nothing was written. The message names
    /// the key, the expected and the current index as the server reported them.
    #[error("{message}")]
    CasConflict {
        /// The server's explanation.
        message: String,
    },
    /// The server (or the SDK, for a malformed endpoint) rejected an argument; the message
    /// names the field and the limit.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No leader could be reached within the retry budget: an election did not finish, or
    /// redirects did not settle on a node that serves. Nothing was written.
    #[error("no leader reachable after retrying")]
    NoLeader,
    /// The cluster answered but could not serve the read (for example a leader that cannot
    /// reach a quorum), even after retrying on other endpoints.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A write was sent but its outcome is unknown: the connection broke, the request timed
    /// out, or the server gave up on it (deadline, cancellation, Raft stopped) after
    /// accepting it. It may or may not have been applied: read the key (or use a CAS)
    /// before retrying.
    #[error("write outcome unknown at {endpoint}: {message}")]
    Indeterminate {
        /// The address the write was sent to.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// No endpoint could be reached within the retry budget. For a write this means the
    /// request was never delivered (connection refused or not established in time); a write
    /// that may have been delivered reports [`Error::Indeterminate`] instead. For a read it
    /// also covers connections that broke before an answer.
    #[error("transport error at {endpoint}: {message}")]
    Transport {
        /// The last address tried.
        endpoint: String,
        /// The last transport failure.
        message: String,
    },
    /// A retried write named a request id the server no longer remembers (its client sent
    /// many later writes, or ten minutes of leader time passed): it was not applied again,
    /// and whether the first attempt applied can no longer be told.
    #[error("request id expired: {0}")]
    RequestIdExpired(String),
    /// Any other gRPC status, passed through unchanged (for example UNIMPLEMENTED from a
    /// server that predates a call).
    #[error("gRPC status {}: {}", .0.code(), .0.message())]
    Status(Status),
}

impl Error {
    /// Maps a final status from the server (not a transport failure, not a redirect) to the
    /// variant a caller can match on.
    pub(crate) fn from_status(status: Status) -> Self {
        use konsul_proto::errors as reason;
        if let Some(why) = crate::routing::reason_of(&status) {
            let message = status.message().to_owned();
            return match why.as_str() {
                reason::NOT_FOUND => Error::NotFound(message),
                reason::CAS_CONFLICT => Error::CasConflict { message },
                reason::INVALID_ARGUMENT => Error::InvalidArgument(message),
                reason::REQUEST_ID_EXPIRED => Error::RequestIdExpired(message),
                reason::NO_QUORUM | reason::UNAVAILABLE | reason::NO_LEADER => {
                    Error::Unavailable(message)
                }
                _ => Error::Status(status),
            };
        }
        match status.code() {
            Code::NotFound => Error::NotFound(status.message().to_owned()),
            Code::Aborted => Error::CasConflict {
                message: status.message().to_owned(),
            },
            Code::InvalidArgument => Error::InvalidArgument(status.message().to_owned()),
            Code::Unavailable => Error::Unavailable(status.message().to_owned()),
            _ => Error::Status(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_map_to_variants() {
        assert!(matches!(
            Error::from_status(Status::not_found("Key not found")),
            Error::NotFound(m) if m == "Key not found"
        ));
        assert!(matches!(
            Error::from_status(Status::aborted("CAS conflict for key 'a'")),
            Error::CasConflict { message } if message.contains("'a'")
        ));
        assert!(matches!(
            Error::from_status(Status::invalid_argument("key: too long")),
            Error::InvalidArgument(_)
        ));
        assert!(matches!(
            Error::from_status(Status::unimplemented("")),
            Error::Status(s) if s.code() == Code::Unimplemented
        ));
    }
}
