//! Rust SDK for Konsul, a Raft-replicated key/value store and service catalog: KV, catalog
//! and cluster calls over gRPC that find the leader by themselves.
//!
//! In Konsul's data flow this crate is the client at the very top: it speaks the public
//! gRPC API (`konsul.v1`, generated in `konsul-proto`) to the client port of any node.
//!
//! # Usage
//!
//! ```no_run
//! use konsul_client::{Client, Consistency, Error};
//!
//! # async fn demo() -> Result<(), Error> {
//! let client = Client::connect(["10.0.0.1:8888", "10.0.0.2:8888", "10.0.0.3:8888"]).await?;
//!
//! let written = client.put("config/db/url", "postgres://db:5432").await?;
//! if let Some(kv) = client.get("config/db/url").await? {
//!     assert_eq!(kv.value, b"postgres://db:5432");
//! }
//!
//! // Optimistic concurrency: only replace the value nobody has changed since we wrote it.
//! match client.put_cas("config/db/url", "postgres://db2:5432", written.modify_index).await {
//!     Ok(new) => println!("now at index {}", new.modify_index),
//!     Err(Error::CasConflict { message }) => println!("lost the race: {message}"),
//!     Err(e) => return Err(e),
//! }
//!
//! // A read any node may answer, possibly stale; keeps working during an election.
//! let keys = client.list_keys("config/").await?;
//! let local = client.get_with("config/db/url", Consistency::Stale).await?;
//! # let _ = (keys, local);
//! # Ok(())
//! # }
//! ```
//!
//! # Service catalog
//!
//! ```no_run
//! use std::time::Duration;
//! use konsul_client::{Client, Error, Service, ServiceQuery};
//!
//! # async fn demo() -> Result<(), Error> {
//! # let client = Client::connect(["10.0.0.1:8888"]).await?;
//! // Two instances of one service, each under its own key `web/<id>`.
//! for (id, addr) in [("web-1", "10.0.0.7"), ("web-2", "10.0.0.8")] {
//!     let web = Service::new("web", addr, 8080)
//!         .with_id(id)
//!         .with_tags(["http"])
//!         .with_ttl(Duration::from_secs(10));
//!     client.register(web).await?;
//! }
//! // Each instance keeps itself alive; a key is `"name/id"` or `("name", "id")`.
//! client.heartbeat(("web", "web-1")).await?;
//! let http = client.query_services(ServiceQuery::new().tag("http")).await?;
//! assert_eq!(http.entries.len(), 2);
//! client.deregister("web/web-2").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Health checks
//!
//! ```no_run
//! use std::time::Duration;
//! use konsul_client::{Check, CheckStatus, Client, Error, Service, ServiceQuery};
//!
//! # async fn demo() -> Result<(), Error> {
//! # let client = Client::connect(["10.0.0.1:8888"]).await?;
//! // A TTL check the service reports on, and an HTTP check the leader probes.
//! let web = Service::new("web", "10.0.0.7", 8080)
//!     .with_tags(["http"])
//!     .with_check(Check::ttl(Duration::from_secs(15)).with_id("web-ttl"))
//!     .with_check(Check::http("http://10.0.0.7:8080/health").with_interval(Duration::from_secs(5)));
//! let registered = client.register(web).await?;
//! // Checks without an id get one from the server (`service:web:2` here).
//! assert_eq!(registered.entry.checks[1].id(), "service:web:2");
//! client.update_ttl_check("web-ttl").await?;
//! client.update_ttl_check_status("web-ttl", CheckStatus::Warning, "queue is long").await?;
//! // Only instances whose every check passes.
//! let healthy = client.list_services_passing().await?;
//! let http = client.query_services(ServiceQuery::new().tag("http").passing_only()).await?;
//! for check in client.service_checks("web").await?.checks {
//!     println!("{}: {} {}", check.id(), check.status, check.output);
//! }
//! # let _ = (healthy, http);
//! # Ok(())
//! # }
//! ```
//!
//! # Routing and retries
//!
//! Writes and reads at [`Consistency::Default`], [`Consistency::Leader`] or
//! [`Consistency::Strong`] must be served by the leader. The client sends them to the last
//! node known to lead; a follower answers `UNAVAILABLE` with the leader's client address in
//! metadata, and the client resends the same request there and remembers it. While an
//! election is under way ("no leader") it retries with capped exponential backoff. An
//! endpoint that refuses the connection is skipped for the next one. Every call is bounded
//! by [`ClientBuilder::max_attempts`], [`ClientBuilder::retry_deadline`] and, per attempt,
//! [`ClientBuilder::request_timeout`].
//!
//! Those replays are safe because a redirect, a "no leader" answer and a refused connection
//! all mean nothing was written. A write that fails *after* it may have reached a server
//! (broken connection, timeout) is never replayed: it ends with [`Error::Indeterminate`],
//! and the caller decides (typically: read the key, or retry with a CAS).
//!
//! Channels are created lazily, one per node address, and reused by every call and every
//! clone of the client; each has HTTP/2 keepalive so a dead node is noticed without hanging.

#![warn(missing_docs)]

mod catalog;
mod catalog_model;
mod check_model;
mod client;
mod cluster;
mod error;
mod header;
mod kv;
mod model;
mod request_id;
mod routing;

pub use catalog_model::{
    BatchDeregister, BatchGetServices, BatchRegister, Heartbeat, Registered, Service, ServiceEntry,
    ServiceKey, ServiceQuery, Services,
};
pub use check_model::{Check, CheckKind, CheckState, CheckStatus, CheckUpdated, Checks};
pub use client::{Client, ClientBuilder};
pub use cluster::{ClusterStatus, Joined, LeaderInfo, NodeState, Peer, Snapshot, Suffrage};
pub use error::{Error, Result};
pub use header::{Consistency, ResponseHeader};
pub use model::{
    BatchDelete, BatchDeleteCas, BatchGet, BatchPut, BatchPutCas, CasDeleteItem, CasPutItem,
    GetOptions, Got, KeyValue, ListOptions, Listing, PutItem, PutResult,
};
