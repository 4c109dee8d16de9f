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
