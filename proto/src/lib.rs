//! Generated protobuf and gRPC types for Konsul.
//!
//! This crate sits at the very edge of the data flow (DESIGN.md §1): `konsul::api`,
//! `konsul::gateway` and `konsul::raft::{network,service}` convert between these wire types
//! and the server's own domain types; the Rust SDK and `konsul-bench` speak them directly.
//! Keeping the generated code in its own crate means an edit to server code never re-runs
//! the protobuf build.

#![allow(missing_docs, clippy::all)]

/// The public API, package `konsul.v1`.
pub mod v1 {
    tonic::include_proto!("konsul.v1");
}

/// The internal Raft peer API and the replicated command, package `konsul.raft.v1`.
pub mod raft {
    /// Version 1 of the internal Raft package.
    pub mod v1 {
        tonic::include_proto!("konsul.raft.v1");
    }
}

/// The encoded `FileDescriptorSet` of every Konsul proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("konsul_descriptor");

/// The error vocabulary shared by the server and the SDKs: every error status the server
/// sends carries a `google.rpc.ErrorInfo` detail whose `domain` is [`errors::DOMAIN`] and
/// whose `reason` is one of these constants, so clients classify errors by data, never by
/// message text. docs/api.md has the table of reason → gRPC code → HTTP status → what a
/// client should do.
pub mod errors {
    /// `ErrorInfo.domain` of every Konsul error.
    pub const DOMAIN: &str = "konsul.io";

    /// The request is malformed or over a limit; nothing was written.
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    /// The key, service, check or member does not exist.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// A compare-and-swap condition did not hold; nothing was written.
    pub const CAS_CONFLICT: &str = "CAS_CONFLICT";
    /// Another membership change is in progress; nothing was changed.
    pub const MEMBERSHIP_CHANGE_IN_PROGRESS: &str = "MEMBERSHIP_CHANGE_IN_PROGRESS";
    /// The thing to create exists already in another shape.
    pub const ALREADY_EXISTS: &str = "ALREADY_EXISTS";
    /// This node is not the leader; nothing was written. The leader is in the metadata.
    pub const NOT_LEADER: &str = "NOT_LEADER";
    /// No leader is known (an election is under way); nothing was written.
    pub const NO_LEADER: &str = "NO_LEADER";
    /// The leader cannot reach a quorum; nothing was written (the write was refused
    /// before it entered the log).
    pub const NO_QUORUM: &str = "NO_QUORUM";
    /// The write may or may not have been applied: it was sent on (to the log, or to the
    /// leader) and then its answer was lost. Retry only with the same request id.
    pub const OUTCOME_UNKNOWN: &str = "OUTCOME_UNKNOWN";
    /// The leader's write queue is full; nothing was written. Retry after a pause.
    pub const WRITE_QUEUE_FULL: &str = "WRITE_QUEUE_FULL";
    /// A request id older than the server still remembers for that client; nothing was
    /// written, because the server can no longer tell whether the first attempt applied.
    pub const REQUEST_ID_EXPIRED: &str = "REQUEST_ID_EXPIRED";
    /// A read or wait did not finish within its deadline; nothing was written.
    pub const TIMEOUT: &str = "TIMEOUT";
    /// A cluster call on a node that runs standalone.
    pub const CLUSTERING_DISABLED: &str = "CLUSTERING_DISABLED";
    /// The node cannot serve now (starting, shutting down); nothing was written.
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// The node's configuration does not allow the call.
    pub const CONFIG: &str = "CONFIG";
    /// A storage failure or a bug on the server.
    pub const INTERNAL: &str = "INTERNAL";

    /// gRPC metadata key (and `ErrorInfo.metadata` key) holding the leader's node name.
    pub const LEADER_ID_KEY: &str = "konsul-leader-id";
    /// gRPC metadata key (and `ErrorInfo.metadata` key) holding the leader's client
    /// (gRPC and REST) address.
    pub const LEADER_ADDR_KEY: &str = "konsul-leader-addr";
    /// gRPC metadata key (and `ErrorInfo.metadata` key) holding the leader's Raft peer
    /// address (the Go server's `leader_addr`).
    pub const LEADER_RAFT_ADDR_KEY: &str = "konsul-leader-raft-addr";
}
