//! Discovery and auto-join: how a node that is not bootstrapping finds the cluster and asks to
//! be added.
//!
//! ```text
//!  KONSUL_RAFT_JOIN ── config/join_entry.rs (host:port | srv:<name> | exec:<command>)
//!        │                 config/validate.rs rejects a bad entry at startup
//!        ▼
//!  Server::start ── join_loop.rs: rounds until member or shutdown, backoff.rs between rounds
//!        round: resolve.rs ─► dns.rs (A/AAAA, SRV) / exec.rs (sh -c, one host:port a line)
//!               join_call.rs ─► konsul.v1.ClusterService/Join on a member (then its leader)
//! ```
//!
//! The server side of Join lives in `api/`; this module is only the client that calls it.
//! docs/operations.md ("Discovery and auto-join") is the operator's view, with cloud
//! inventory examples for `exec:`.

mod backoff;
mod dns;
mod exec;
mod join_call;
mod join_loop;
mod resolve;

pub use backoff::Backoff;
pub use dns::DnsResolver;
pub use exec::{DEFAULT_EXEC_TIMEOUT, ExecOutput, run as run_command};
pub use join_call::JoinCall;
pub use join_loop::{JoinLoop, JoinOutcome, JoinSettings, is_voter};
pub use resolve::Discovery;
