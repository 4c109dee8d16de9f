//! The one mapping from [`crate::Error`] to a gRPC status.
//!
//! Every status carries a `google.rpc.ErrorInfo` detail (domain `konsul.io`, reason from
//! [`Error::reason`]) so clients and the REST gateway classify errors by data, never by
//! message text. Not-leader answers also carry the leader in plain gRPC metadata (and in the
//! ErrorInfo metadata) so clients, and the forwarding layer, can go there without another
//! round trip.

use std::collections::HashMap;

use konsul_proto::errors::DOMAIN;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use konsul_proto::errors::{LEADER_ADDR_KEY, LEADER_ID_KEY, LEADER_RAFT_ADDR_KEY};

use crate::error::Error;

/// The gRPC code of each error.
pub fn code(e: &Error) -> Code {
    match e {
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::NotFound(_) => Code::NotFound,
        Error::CasConflict { .. } | Error::ServiceCasConflict { .. } | Error::Conflict(_) => {
            Code::Aborted
        }
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::Timeout(_) => Code::DeadlineExceeded,
        Error::OutcomeUnknown {
            timed_out: true, ..
        } => Code::DeadlineExceeded,
        Error::OutcomeUnknown { .. }
        | Error::NotLeader { .. }
        | Error::NoLeader
        | Error::NoQuorum(_)
        | Error::Unavailable(_) => Code::Unavailable,
        // Join or leave on a standalone node is the caller's mistake, not the server's.
        Error::ClusteringDisabled => Code::FailedPrecondition,
        Error::WriteQueueFull(_) => Code::ResourceExhausted,
        Error::RequestIdExpired(_) | Error::Config(_) => Code::FailedPrecondition,
        Error::Storage(_) | Error::Internal(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let mut info: HashMap<String, String> = HashMap::new();
        let mut leader: Vec<(&str, String)> = Vec::new();
        if let Error::NotLeader {
            leader_name,
            leader_client_addr,
            leader_raft_addr,
        } = &e
        {
            leader = vec![
                (LEADER_ID_KEY, leader_name.clone()),
                (LEADER_ADDR_KEY, leader_client_addr.clone()),
                (LEADER_RAFT_ADDR_KEY, leader_raft_addr.clone()),
            ];
            info.extend(leader.iter().map(|(k, v)| (k.to_string(), v.clone())));
        }
        let details = ErrorDetails::with_error_info(e.reason(), DOMAIN, info);
        let mut status = Status::with_error_details(code(&e), e.to_string(), details);
        let md = status.metadata_mut();
        for (k, v) in leader {
            if let Ok(v) = v.parse() {
                md.insert(k, v);
            }
        }
        status
    }
}

/// The reason of a status built by [`From<Error>`] (or by another Konsul node); `None` for
/// a status without Konsul's ErrorInfo (a transport failure, an older server).
pub fn reason(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .filter(|i| i.domain == DOMAIN)
        .map(|i| i.reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use konsul_proto::errors as r;

    #[test]
    fn every_error_maps_to_its_code_and_reason() {
        let cases = [
            (
                Error::invalid("key", "must not be empty"),
                Code::InvalidArgument,
                r::INVALID_ARGUMENT,
            ),
            (
                Error::NotFound("Key not found".into()),
                Code::NotFound,
                r::NOT_FOUND,
            ),
            (
                Error::CasConflict {
                    key: "a".into(),
                    expected: 1,
                    current: 2,
                },
                Code::Aborted,
                r::CAS_CONFLICT,
            ),
            (
                Error::ServiceCasConflict {
                    service: "web".into(),
                    expected: 0,
                    current: 3,
                },
                Code::Aborted,
                r::CAS_CONFLICT,
            ),
            (Error::NoLeader, Code::Unavailable, r::NO_LEADER),
            (Error::NoQuorum("x".into()), Code::Unavailable, r::NO_QUORUM),
            (
                Error::outcome_unknown("x"),
                Code::Unavailable,
                r::OUTCOME_UNKNOWN,
            ),
            (
                Error::OutcomeUnknown {
                    message: "x".into(),
                    timed_out: true,
                },
                Code::DeadlineExceeded,
                r::OUTCOME_UNKNOWN,
            ),
            (
                Error::WriteQueueFull("x".into()),
                Code::ResourceExhausted,
                r::WRITE_QUEUE_FULL,
            ),
            (
                Error::RequestIdExpired("x".into()),
                Code::FailedPrecondition,
                r::REQUEST_ID_EXPIRED,
            ),
            (
                Error::Conflict("busy".into()),
                Code::Aborted,
                r::MEMBERSHIP_CHANGE_IN_PROGRESS,
            ),
            (
                Error::AlreadyExists("x".into()),
                Code::AlreadyExists,
                r::ALREADY_EXISTS,
            ),
            (
                Error::Timeout("x".into()),
                Code::DeadlineExceeded,
                r::TIMEOUT,
            ),
            (
                Error::ClusteringDisabled,
                Code::FailedPrecondition,
                r::CLUSTERING_DISABLED,
            ),
            (
                Error::Unavailable("x".into()),
                Code::Unavailable,
                r::UNAVAILABLE,
            ),
            (Error::Storage("x".into()), Code::Internal, r::INTERNAL),
            (Error::Internal("x".into()), Code::Internal, r::INTERNAL),
        ];
        for (e, code, why) in cases {
            let s = Status::from(e);
            assert_eq!(s.code(), code);
            assert_eq!(reason(&s).as_deref(), Some(why));
        }
    }

    #[test]
    fn not_leader_carries_the_leader_in_metadata_and_error_info() {
        let s = Status::from(Error::NotLeader {
            leader_name: "node2".into(),
            leader_client_addr: "127.0.0.1:8889".into(),
            leader_raft_addr: "127.0.0.1:7001".into(),
        });
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.metadata().get(LEADER_ID_KEY).unwrap(), "node2");
        assert_eq!(s.metadata().get(LEADER_ADDR_KEY).unwrap(), "127.0.0.1:8889");
        assert_eq!(
            s.metadata().get(LEADER_RAFT_ADDR_KEY).unwrap(),
            "127.0.0.1:7001"
        );
        let info = s.get_details_error_info().unwrap();
        assert_eq!(info.domain, DOMAIN);
        assert_eq!(info.metadata[LEADER_ADDR_KEY], "127.0.0.1:8889");
    }

    #[test]
    fn a_status_without_error_info_has_no_reason() {
        assert_eq!(reason(&Status::unavailable("transport")), None);
    }
}
