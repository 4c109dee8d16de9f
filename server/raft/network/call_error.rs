//! How one outbound peer call failed, and how that becomes the error openraft expects: a
//! deadline is `RPCError::Timeout`, anything else `Unreachable` (openraft then backs off).
//! Shared by the unary calls and snapshots (`network.rs`) and the replication stream
//! (`network/append_stream.rs`).

use std::time::Duration;

use openraft::AnyError;
use openraft::error::{RPCError, Timeout, Unreachable};
use openraft::network::RPCTypes;

use crate::raft::{NodeId, TypeConfig};

/// How one peer call failed, before it is shaped into the error type of its RPC.
pub(super) enum CallError {
    /// The deadline passed (locally, or the peer said so).
    Timeout(Duration),
    /// Anything else: the peer is treated as unreachable for a while.
    Unreachable(String),
}

impl CallError {
    pub(super) fn from_status(status: tonic::Status, ttl: Duration) -> Self {
        // tonic enforces the grpc-timeout we set and reports it as CANCELLED.
        let local_deadline = status.code() == tonic::Code::Cancelled
            && status.message() == tonic::TimeoutExpired(()).to_string();
        match status.code() {
            tonic::Code::DeadlineExceeded => CallError::Timeout(ttl),
            _ if local_deadline => CallError::Timeout(ttl),
            code => CallError::Unreachable(format!("{code:?}: {}", status.message())),
        }
    }

    pub(super) fn unreachable(self) -> Unreachable<TypeConfig> {
        let message = match self {
            CallError::Timeout(d) => format!("timed out after {d:?}"),
            CallError::Unreachable(m) => m,
        };
        Unreachable::new(&AnyError::error(message))
    }

    /// The error of `action` from `local` to `target`.
    pub(super) fn into_rpc_error(
        self,
        local: NodeId,
        target: NodeId,
        action: RPCTypes,
    ) -> RPCError<TypeConfig> {
        match self {
            CallError::Timeout(ttl) => RPCError::Timeout(timeout(local, target, action, ttl)),
            e => RPCError::Unreachable(e.unreachable()),
        }
    }
}

/// openraft's record of `action` from `local` to `target` running out of `ttl`.
pub(super) fn timeout(
    local: NodeId,
    target: NodeId,
    action: RPCTypes,
    ttl: Duration,
) -> Timeout<TypeConfig> {
    Timeout {
        action,
        id: local,
        target,
        timeout: ttl,
    }
}
