//! Konsul: a replicated key/value store on Raft.
//!
//! ```text
//!  client (gRPC / REST / SDK)          one client port (default 8888)
//!     ▼
//!  api/ (gRPC services) ◄── gateway/ (REST routes: thin views over the same api/ calls)
//!     │  validate → store::Command → raft::node (leader) → openraft client_write
//!     ▼
//!  raft/ (log_store on redb, state_machine adapter, network, peer service; port 7000)
//!     ▼
//!  store/ (deterministic state machine: pure apply(index, Command) → Response)
//! ```
//!
//! The server is a library with a thin `main`: [`Server::start`] takes a [`Config`], already
//! bound listeners and the environment seams of [`deps::Deps`], so tests run many nodes in one
//! process on `127.0.0.1:0`.

#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod deps;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod forward;
pub mod gateway;
pub mod leader;
pub mod raft;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use error::{Error, Result};
pub use server::{Listeners, RunningServer, Server};
