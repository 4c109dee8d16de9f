//! Routing: which node a call goes to, and what happens when that node cannot serve it.
//!
//! Every KV and cluster call goes through [`Router::call`] with a [`Route`] saying whether
//! it needs the leader and whether it writes. The router picks an address (the remembered
//! leader, else a configured endpoint), follows not-leader redirects, waits out elections
//! with backoff, skips endpoints it cannot reach, and refuses to replay a write that may
//! already have reached a server.

mod address;
mod backoff;
mod channels;
mod leader;
mod outcome;
mod router;

pub(crate) use outcome::reason_of;
pub(crate) use router::{Route, Router};
