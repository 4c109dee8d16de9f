//! The gRPC services: thin tonic adapters over the typed API of `api/` (one file per
//! service). Each takes the deadline from the call's envelope, converts protobuf to domain
//! arguments and back, and maps errors through `api/status.rs`; the typed methods they call
//! are the same ones the REST gateway calls.

pub mod catalog;
pub mod cluster;
pub mod kv;
