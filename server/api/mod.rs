//! The API: the top of the data flow (DESIGN.md §1).
//!
//! A call enters a typed service here (one file per service: methods on domain types that
//! return `crate::Error`), is validated against the configured limits, becomes a
//! `store::Command` handed to `raft::node` (writes) or a read of the applied store after the
//! read barrier the client asked for. The gRPC services ([`grpc`]) and the REST gateway are
//! thin adapters over those same methods; neither has a copy of the logic, and security
//! and metrics hook in at this one surface. Errors leave through [`status`], the one
//! `Error → tonic::Status` mapping.

pub mod call;
pub mod catalog;
pub mod catalog_types;
pub mod catalog_validate;
pub mod check_validate;
pub mod checks;
pub mod cluster;
pub mod convert;
pub mod grpc;
pub mod health;
pub mod kv;
pub mod status;
pub mod validate;

use crate::raft::node::{HeaderInfo, RaftNode, ReadConsistency};

/// An answer and the header facts of the state it came from: for a read, the applied state
/// it read; for a write, this node just after the write was applied.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    /// What the call returns.
    pub value: T,
    /// Applied index, term, leader and contact facts (the response header).
    pub header: HeaderInfo,
}

impl<T> Answer<T> {
    /// `value` with `node`'s header facts now (the answer of a write, or of a call that reads
    /// no store).
    pub(crate) fn now(node: &RaftNode, value: T) -> Self {
        Answer {
            value,
            header: node.header(),
        }
    }

    /// `value`, read from the store at `applied`, with `node`'s header facts.
    pub(crate) fn at(node: &RaftNode, value: T, applied: u64) -> Self {
        Answer {
            value,
            header: node.header_at(applied),
        }
    }
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// stale, leader (lease) or strong (ReadIndex).
    pub consistency: ReadConsistency,
    /// Wait until this node has applied at least this index (0: no wait).
    pub min_index: u64,
}

impl ReadOptions {
    /// Makes a following read of `node`'s store as fresh as asked, by `deadline`.
    pub(crate) async fn wait(
        self,
        node: &RaftNode,
        deadline: tokio::time::Instant,
    ) -> crate::error::Result<()> {
        node.read_until(self.consistency, self.min_index, deadline)
            .await
    }
}

/// What a batch write wrote: its keys, all at one index.
#[derive(Debug, Clone)]
pub struct BatchWritten {
    /// The keys written (or deleted), in request order.
    pub keys: Vec<String>,
    /// The log index of the batch.
    pub index: u64,
}

/// What a batch delete removed.
#[derive(Debug, Clone)]
pub struct BatchDeleted {
    /// The keys asked for, in request order.
    pub keys: Vec<String>,
    /// How many of them existed.
    pub deleted: u64,
}
