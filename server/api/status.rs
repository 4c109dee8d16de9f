//! The one mapping from [`crate::Error`] to a gRPC status.
//!
//! Not-leader answers carry the leader in metadata so clients (and the REST gateway, which
//! turns them into a 307) can go there without another round trip.

use tonic::{Code, Status};

use crate::error::Error;

/// gRPC metadata key holding the leader's node name.
pub const LEADER_ID_KEY: &str = "konsul-leader-id";
/// gRPC metadata key holding the leader's client (gRPC and REST) address.
pub const LEADER_ADDR_KEY: &str = "konsul-leader-addr";
/// gRPC metadata key holding the leader's Raft peer address (the Go server's `leader_addr`).
pub const LEADER_RAFT_ADDR_KEY: &str = "konsul-leader-raft-addr";

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::CasConflict { .. } | Error::ServiceCasConflict { .. } | Error::Conflict(_) => {
                Code::Aborted
            }
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::Timeout(_) => Code::DeadlineExceeded,
            Error::NotLeader { .. }
            | Error::NoLeader
            | Error::Unavailable(_)
            | Error::ClusteringDisabled => Code::Unavailable,
            Error::Config(_) => Code::FailedPrecondition,
            Error::Storage(_) | Error::Internal(_) => Code::Internal,
        };
        let mut status = Status::new(code, e.to_string());
        if let Error::NotLeader {
            leader_name,
            leader_client_addr,
            leader_raft_addr,
        } = &e
        {
            let md = status.metadata_mut();
            for (k, v) in [
                (LEADER_ID_KEY, leader_name),
                (LEADER_ADDR_KEY, leader_client_addr),
                (LEADER_RAFT_ADDR_KEY, leader_raft_addr),
            ] {
                if let Ok(v) = v.parse() {
                    md.insert(k, v);
                }
            }
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_code() {
        let cases = [
            (
                Error::invalid("key", "must not be empty"),
                Code::InvalidArgument,
            ),
            (Error::NotFound("Key not found".into()), Code::NotFound),
            (
                Error::CasConflict {
                    key: "a".into(),
                    expected: 1,
                    current: 2,
                },
                Code::Aborted,
            ),
            (
                Error::ServiceCasConflict {
                    service: "web".into(),
                    expected: 0,
                    current: 3,
                },
                Code::Aborted,
            ),
            (Error::NoLeader, Code::Unavailable),
            (Error::Conflict("busy".into()), Code::Aborted),
            (Error::AlreadyExists("x".into()), Code::AlreadyExists),
            (Error::Timeout("x".into()), Code::DeadlineExceeded),
            (Error::ClusteringDisabled, Code::Unavailable),
            (Error::Unavailable("x".into()), Code::Unavailable),
            (Error::Storage("x".into()), Code::Internal),
            (Error::Internal("x".into()), Code::Internal),
        ];
        for (e, code) in cases {
            assert_eq!(Status::from(e).code(), code);
        }
    }

    #[test]
    fn not_leader_carries_the_leader_in_metadata() {
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
    }
}
