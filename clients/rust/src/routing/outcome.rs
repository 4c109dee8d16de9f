//! Reads a failed call's `tonic::Status` and decides what it means for routing: a redirect
//! to the leader, an election in progress, a request that never left the client, one that
//! may have reached the server, or a final answer to hand to the caller.
//!
//! The split between "not sent" and "maybe sent" is what makes write retries safe. tonic
//! wraps every failure to establish a connection in `tonic::ConnectError`, so a status whose
//! source chain holds one describes a request that no server ever saw. Any other transport
//! failure (reset stream, closed connection, client-side timeout) may have happened after
//! the server received the request.
//!
//! A server's own answers are classified by the `reason` of their `google.rpc.ErrorInfo`
//! detail (`konsul_proto::errors`), never by message text. A status without one (an older
//! server) falls back to its code and metadata.

use std::error::Error as StdError;

use konsul_proto::errors as reason;
use tonic::metadata::MetadataMap;
use tonic::{Code, ConnectError, Status};
use tonic_types::StatusExt;

pub(crate) use konsul_proto::errors::{LEADER_ADDR_KEY, LEADER_ID_KEY};
/// The message of an UNAVAILABLE answer sent while no leader is known (an election), from
/// servers that predate ErrorInfo reasons.
pub(crate) const NO_LEADER_MESSAGE: &str = "no leader";

/// What a failed attempt means for the next one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A follower answered; nothing was done; the leader is at this client address.
    Redirect(String),
    /// No leader is known (election under way, or the leader's address is not yet known);
    /// nothing was done.
    NoLeader,
    /// The request never reached a server (connection refused, connect timeout).
    NotSent(String),
    /// The request may have reached the server; the answer was lost.
    MaybeSent(String),
    /// A server answered UNAVAILABLE for another reason (quorum lost, Raft stopped).
    Unavailable(String),
    /// The server refused the call before doing anything (its leader lost its quorum, its
    /// write queue is full, it is shutting down): nothing was written, a retry is safe.
    Refused(String),
    /// The server gave up on the call midway (its deadline passed, it was cancelled, or it
    /// failed without saying why): a write may or may not have been applied.
    Interrupted,
    /// A definite answer for the caller.
    Final,
}

/// The ErrorInfo reason of a Konsul server's answer, if it carries one.
pub(crate) fn reason_of(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .filter(|i| i.domain == reason::DOMAIN)
        .map(|i| i.reason)
}

/// Classifies a failed attempt.
pub(crate) fn classify(status: &Status) -> Outcome {
    if let Some(why) = reason_of(status) {
        return match why.as_str() {
            reason::NOT_LEADER => match leader_addr(status.metadata()) {
                Some(addr) => Outcome::Redirect(addr),
                None => Outcome::NoLeader,
            },
            reason::NO_LEADER => Outcome::NoLeader,
            reason::NO_QUORUM | reason::WRITE_QUEUE_FULL | reason::UNAVAILABLE => {
                Outcome::Refused(status.message().to_owned())
            }
            reason::OUTCOME_UNKNOWN => Outcome::MaybeSent(status.message().to_owned()),
            _ => Outcome::Final,
        };
    }
    if let Some(source) = status.source() {
        let what = describe(status.message(), source);
        return if chain_has_connect_error(source) {
            Outcome::NotSent(what)
        } else {
            Outcome::MaybeSent(what)
        };
    }
    match status.code() {
        Code::Unavailable => {}
        Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            return Outcome::Interrupted;
        }
        _ => return Outcome::Final,
    }
    if let Some(addr) = leader_addr(status.metadata()) {
        return Outcome::Redirect(addr);
    }
    if status.message() == NO_LEADER_MESSAGE || status.metadata().contains_key(LEADER_ID_KEY) {
        return Outcome::NoLeader;
    }
    Outcome::Unavailable(status.message().to_owned())
}

/// The leader's client address from not-leader metadata, if present and non-empty.
fn leader_addr(md: &MetadataMap) -> Option<String> {
    let addr = md.get(LEADER_ADDR_KEY)?.to_str().ok()?.trim();
    (!addr.is_empty()).then(|| addr.to_owned())
}

/// The status message followed by every cause in the chain that adds something, so that
/// "transport error" becomes "transport error: connection reset by peer".
fn describe(message: &str, source: &(dyn StdError + 'static)) -> String {
    let mut text = message.to_owned();
    let mut next = Some(source);
    while let Some(err) = next {
        let cause = err.to_string();
        if !cause.is_empty() && !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        next = err.source();
    }
    text
}

fn chain_has_connect_error(mut err: &(dyn StdError + 'static)) -> bool {
    loop {
        if err.is::<ConnectError>() {
            return true;
        }
        match err.source() {
            Some(next) => err = next,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    fn with_reason(code: Code, why: &str) -> Status {
        let details = ErrorDetails::with_error_info(
            why,
            reason::DOMAIN,
            std::collections::HashMap::<String, String>::new(),
        );
        Status::with_error_details(code, "m", details)
    }

    #[test]
    fn reasons_decide_over_codes_and_messages() {
        assert_eq!(
            classify(&with_reason(Code::Unavailable, reason::OUTCOME_UNKNOWN)),
            Outcome::MaybeSent("m".into())
        );
        assert_eq!(
            classify(&with_reason(
                Code::DeadlineExceeded,
                reason::OUTCOME_UNKNOWN
            )),
            Outcome::MaybeSent("m".into())
        );
        assert_eq!(
            classify(&with_reason(Code::Unavailable, reason::NO_QUORUM)),
            Outcome::Refused("m".into())
        );
        assert_eq!(
            classify(&with_reason(
                Code::ResourceExhausted,
                reason::WRITE_QUEUE_FULL
            )),
            Outcome::Refused("m".into())
        );
        assert_eq!(
            classify(&with_reason(Code::Unavailable, reason::NO_LEADER)),
            Outcome::NoLeader
        );
        let mut redirect = with_reason(Code::Unavailable, reason::NOT_LEADER);
        redirect
            .metadata_mut()
            .insert(LEADER_ADDR_KEY, "10.0.0.3:8888".parse().unwrap());
        assert_eq!(
            classify(&redirect),
            Outcome::Redirect("10.0.0.3:8888".into())
        );
        assert_eq!(
            classify(&with_reason(Code::Aborted, reason::CAS_CONFLICT)),
            Outcome::Final
        );
    }

    fn not_leader(addr: &str) -> Status {
        let mut s = Status::unavailable("not leader; leader is n2 at 10.0.0.2:8888");
        s.metadata_mut()
            .insert(LEADER_ID_KEY, "n2".parse().unwrap());
        s.metadata_mut()
            .insert(LEADER_ADDR_KEY, addr.parse().unwrap());
        s
    }

    #[test]
    fn not_leader_metadata_is_a_redirect() {
        assert_eq!(
            classify(&not_leader("10.0.0.2:8888")),
            Outcome::Redirect("10.0.0.2:8888".into())
        );
    }

    #[test]
    fn a_known_leader_without_an_address_is_waited_for() {
        assert_eq!(classify(&not_leader("")), Outcome::NoLeader);
    }

    #[test]
    fn no_leader_is_an_election() {
        assert_eq!(
            classify(&Status::unavailable(NO_LEADER_MESSAGE)),
            Outcome::NoLeader
        );
    }

    #[test]
    fn other_unavailable_and_other_codes() {
        assert_eq!(
            classify(&Status::unavailable("raft stopped: x")),
            Outcome::Unavailable("raft stopped: x".into())
        );
        assert_eq!(classify(&Status::aborted("cas")), Outcome::Final);
        assert_eq!(
            classify(&Status::not_found("Key not found")),
            Outcome::Final
        );
    }

    #[test]
    fn connect_errors_are_not_sent_other_transport_errors_may_be() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let s = Status::from_error(Box::new(ConnectError(Box::new(refused))));
        assert!(matches!(classify(&s), Outcome::NotSent(_)), "{s:?}");

        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let s = Status::from_error(Box::new(reset));
        match classify(&s) {
            Outcome::MaybeSent(m) => assert!(m.contains("reset"), "{m}"),
            other => panic!("{other:?}"),
        }

        let s = Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(matches!(classify(&s), Outcome::MaybeSent(_)), "{s:?}");
    }
}
