//! The one error type of the server. Every layer returns [`Error`]; `api::status` is the only
//! place that turns it into a gRPC status, and the gateway derives its HTTP status from that
//! gRPC code in one function. Expected outcomes inside the state machine (a CAS mismatch) are
//! `store::Response` values, not errors; they become [`Error::CasConflict`] or
//! [`Error::NotFound`] only at the API edge, when a client must be told.

/// Short code of [`Error::ClusteringDisabled`], the REST contract's `error` field.
pub const CLUSTERING_DISABLED: &str = "clustering not enabled";
/// Detail of [`Error::ClusteringDisabled`], the REST contract's `message` field.
pub const CLUSTERING_DISABLED_DETAIL: &str = "This node is running in standalone mode. \
     Start with KONSUL_RAFT_ENABLED=true to enable clustering.";

/// Convenience alias used across the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while serving a call or running a node.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is malformed or over a limit. The message names the field and the limit.
    #[error("{0}")]
    InvalidArgument(String),
    /// The key (or other named thing) does not exist. The message is shown to clients as is.
    #[error("{0}")]
    NotFound(String),
    /// A compare-and-swap condition did not hold; nothing was written.
    #[error(
        "CAS conflict for key '{key}': expected ModifyIndex {expected}, but current is {current}"
    )]
    CasConflict {
        /// The key whose condition failed.
        key: String,
        /// The modify_index the client expected (0: the key must not exist).
        expected: u64,
        /// The key's actual modify_index.
        current: u64,
    },
    /// A compare-and-swap on a catalog service did not hold; nothing was written.
    #[error(
        "CAS conflict for service '{service}': expected ModifyIndex {expected}, but current is {current}"
    )]
    ServiceCasConflict {
        /// The catalog key whose condition failed.
        service: String,
        /// The modify_index the client expected (0: the service must not exist).
        expected: u64,
        /// The service's actual modify_index.
        current: u64,
    },
    /// This node is not the leader; the call must go to the leader.
    #[error("not leader; leader is {leader_name} at {leader_client_addr}")]
    NotLeader {
        /// The leader's node name.
        leader_name: String,
        /// The leader's client (gRPC and REST) address.
        leader_client_addr: String,
        /// The leader's Raft peer address (what the Go server called leader_addr).
        leader_raft_addr: String,
    },
    /// No leader is known: the cluster is electing, initializing or partitioned.
    #[error("no leader")]
    NoLeader,
    /// This node leads but has not heard from a quorum recently (it is partitioned away, or
    /// its followers are down), so it refused the write before it entered the log: nothing
    /// was written.
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// The write was handed on (to the Raft log, or forwarded to the leader) and then its
    /// answer was lost: it may or may not be applied, now or later. Never returned for a
    /// write that is known not to have been applied. A retry is safe only with the same
    /// request id (see `store::requests`).
    #[error("outcome unknown: {message}")]
    OutcomeUnknown {
        /// What happened after the write was handed on.
        message: String,
        /// True when the call's deadline passed (gRPC DEADLINE_EXCEEDED), false when the
        /// leader or the connection to it was lost (UNAVAILABLE).
        timed_out: bool,
    },
    /// The leader's queue of writes waiting for the log is full; nothing was written.
    #[error("write queue full: {0}")]
    WriteQueueFull(String),
    /// A write named a request id older than the server still remembers for its client:
    /// the server can no longer tell whether the first attempt applied, so it refuses to
    /// apply it again. Nothing was written.
    #[error("{0}")]
    RequestIdExpired(String),
    /// The call conflicts with work in progress (another membership change); retrying once
    /// that is done may work. Not a CAS failure: those are [`Error::CasConflict`].
    #[error("{0}")]
    Conflict(String),
    /// The thing to create exists already in another shape (a node id taken by a member at
    /// another address); the message says what to remove first.
    #[error("{0}")]
    AlreadyExists(String),
    /// Waiting for the cluster took longer than allowed (a learner that did not catch up, a
    /// snapshot that did not finish); whatever was half done has been undone.
    #[error("{0}")]
    Timeout(String),
    /// A cluster call on a node started without `KONSUL_RAFT_ENABLED=true`.
    #[error("{CLUSTERING_DISABLED}: {CLUSTERING_DISABLED_DETAIL}")]
    ClusteringDisabled,
    /// The node cannot serve now (starting, shutting down, overloaded); retrying may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The configuration is invalid; startup stops. The message names the setting.
    #[error("configuration: {0}")]
    Config(String),
    /// A storage failure (disk, corruption). Fatal for the node when it happens in apply.
    #[error("storage: {0}")]
    Storage(String),
    /// A bug or an unexpected failure inside the server.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The stable reason every error status carries in its `google.rpc.ErrorInfo`
    /// (`konsul_proto::errors`): what clients, the gateway and the SDKs classify by.
    pub fn reason(&self) -> &'static str {
        use konsul_proto::errors as r;
        match self {
            Error::InvalidArgument(_) => r::INVALID_ARGUMENT,
            Error::NotFound(_) => r::NOT_FOUND,
            Error::CasConflict { .. } | Error::ServiceCasConflict { .. } => r::CAS_CONFLICT,
            Error::NotLeader { .. } => r::NOT_LEADER,
            Error::NoLeader => r::NO_LEADER,
            Error::NoQuorum(_) => r::NO_QUORUM,
            Error::OutcomeUnknown { .. } => r::OUTCOME_UNKNOWN,
            Error::WriteQueueFull(_) => r::WRITE_QUEUE_FULL,
            Error::RequestIdExpired(_) => r::REQUEST_ID_EXPIRED,
            Error::Conflict(_) => r::MEMBERSHIP_CHANGE_IN_PROGRESS,
            Error::AlreadyExists(_) => r::ALREADY_EXISTS,
            Error::Timeout(_) => r::TIMEOUT,
            Error::ClusteringDisabled => r::CLUSTERING_DISABLED,
            Error::Unavailable(_) => r::UNAVAILABLE,
            Error::Config(_) => r::CONFIG,
            Error::Storage(_) | Error::Internal(_) => r::INTERNAL,
        }
    }

    /// Shorthand for an [`Error::OutcomeUnknown`] after the connection or the leader was lost.
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        Error::OutcomeUnknown {
            message: message.into(),
            timed_out: false,
        }
    }

    /// Shorthand for an [`Error::InvalidArgument`] that names a field.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Error::InvalidArgument(format!("{field}: {message}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Storage(e.to_string())
    }
}
