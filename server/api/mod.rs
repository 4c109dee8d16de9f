//! The gRPC API: the top of the data flow (DESIGN.md §1).
//!
//! A call enters a service here (one file per service), is validated against the configured
//! limits, becomes a `store::Command` handed to `raft::node` (writes) or a read of the
//! applied store after the read barrier the client asked for, and leaves as a protobuf
//! response. The REST gateway calls these same service methods; it never has its own copy
//! of the logic. Errors leave through [`status`], the one `Error → tonic::Status` mapping.

pub mod call;
pub mod catalog;
pub mod catalog_validate;
pub mod check_validate;
pub mod checks;
pub mod cluster;
pub mod convert;
pub mod health;
pub mod kv;
pub mod status;
pub mod validate;
