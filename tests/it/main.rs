//! The integration tests, one binary with a module per topic (`cargo test --test it`; one
//! module: `cargo test --test it kv_grpc::`). One binary links the server, the SDK and the
//! test harness once instead of once per file, which is most of what the suite spends
//! building. `common` is the harness: in-process nodes and clusters, the real `konsul`
//! binary in process mode, and the fault tooling (link proxies, a mesh of them).
//!
//! Tests here share one process, so none of them may install anything process-wide: a
//! `metrics` recorder lives in its own binary (`tests/catalog_expiry_metric.rs`), and the
//! one global log subscriber (`discovery`'s captured lines) is shared by picking lines out
//! by a unique string. Failpoints are process-wide too, so tests that set them use process
//! clusters (`common::process_cluster`), whose nodes are separate processes.

mod common;

mod backpressure;
mod catalog_cluster;
mod catalog_grpc;
mod catalog_min_index;
mod catalog_rest;
mod chaos;
mod checks_cluster;
mod checks_grpc;
mod checks_rest;
mod cluster_failover;
mod cluster_membership;
mod cluster_redirect;
mod cluster_wiped;
mod discovery;
mod durability;
mod fault_regressions;
mod grpc_meta;
mod hostile_peer;
mod kv_consistency;
mod kv_grpc;
mod kv_rest;
mod lifecycle;
mod link_proxy;
mod partition;
mod peer_allowlist;
mod recovery;
mod sdk;
mod write_grouping;
