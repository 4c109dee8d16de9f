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
