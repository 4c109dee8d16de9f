//! One discovery pass: every `raft.join` entry turned into member client addresses.
//!
//! ```text
//!  join_loop.rs ── Discovery::members() ──► entries: host:port ─► dns.rs (A/AAAA)
//!                                                    srv:       ─► dns.rs (SRV + A/AAAA)
//!                                                    exec:      ─► exec.rs ─► dns.rs per line
//! ```
//!
//! A failing entry is logged and skipped, not fatal: one dead inventory command must not hide
//! the members a DNS name still lists. Addresses come out in entry order, without repeats
//! and without this node's own client address (a node that lists the whole cluster,
//! itself included, in every node's configuration must not ask itself to join).

use std::net::SocketAddr;
use std::time::Duration;

use super::dns::DnsResolver;
use super::exec;
use crate::config::JoinEntry;

/// The configured entries and how to resolve them.
#[derive(Clone, Debug)]
pub struct Discovery {
    entries: Vec<JoinEntry>,
    resolver: DnsResolver,
    exec_timeout: Duration,
    own_client_addr: String,
}

impl Discovery {
    /// Resolves `entries` with `resolver`, running `exec:` commands for at most
    /// `exec_timeout`; `own_client_addr` is left out of every result.
    pub fn new(
        entries: Vec<JoinEntry>,
        resolver: DnsResolver,
        exec_timeout: Duration,
        own_client_addr: String,
    ) -> Self {
        Self {
            entries,
            resolver,
            exec_timeout,
            own_client_addr,
        }
    }

    /// Resolves every entry afresh (nothing is cached between calls) and returns the member
    /// client addresses found. Each failure is logged as a warning naming the entry.
    pub async fn members(&self) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        for entry in &self.entries {
            match self.resolve(entry).await {
                Ok(addrs) => {
                    tracing::debug!(%entry, ?addrs, "join: discovered");
                    for addr in addrs {
                        if !found.contains(&addr) && !self.is_own(&addr) {
                            found.push(addr);
                        }
                    }
                }
                Err(e) => tracing::warn!("join: discovery failed for {entry}: {e}"),
            }
        }
        found
    }

    async fn resolve(&self, entry: &JoinEntry) -> Result<Vec<String>, String> {
        match entry {
            JoinEntry::Address { host, port } => self.resolver.resolve_host(host, *port).await,
            JoinEntry::Srv { name } => self.resolver.resolve_srv(name).await,
            JoinEntry::Exec { command } => {
                let output = exec::run(command, self.exec_timeout).await?;
                for line in &output.rejected {
                    tracing::warn!("join: {entry}: ignoring output line {line:?}: not host:port");
                }
                let mut addrs = Vec::new();
                for address in &output.addresses {
                    let JoinEntry::Address { host, port } = address else {
                        continue;
                    };
                    match self.resolver.resolve_host(host, *port).await {
                        Ok(more) => addrs.extend(more),
                        Err(e) => tracing::warn!("join: {entry}: cannot resolve {address}: {e}"),
                    }
                }
                if addrs.is_empty() {
                    return Err("printed no usable host:port line".to_string());
                }
                Ok(addrs)
            }
        }
    }

    /// Whether `addr` is this node's own client address, compared as socket addresses when
    /// both parse (so `127.0.0.1:8888` and `127.000.000.001:8888` spellings do not matter).
    fn is_own(&self, addr: &str) -> bool {
        match (
            addr.parse::<SocketAddr>(),
            self.own_client_addr.parse::<SocketAddr>(),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => addr == self.own_client_addr,
        }
    }
}
