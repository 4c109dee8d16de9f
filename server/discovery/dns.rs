//! DNS for discovery: turns a `host:port` name or an `srv:` name from `raft.join` into member
//! client addresses.
//!
//! ```text
//!  join_loop.rs ── resolve_host / resolve_srv ──► hickory-resolver ──► nameserver (UDP, TCP)
//! ```
//!
//! The nameserver is the system's (`/etc/resolv.conf`) unless
//! `raft.discovery_dns_server` names one. Every call builds a fresh resolver: nothing is cached
//! across join attempts, so a member added to DNS (or a changed resolv.conf) is seen on the
//! next round. Discovery runs a few times at startup, so the cost does not matter.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::{Resolver, TokioResolver};

/// How long one DNS query waits for an answer before trying again or giving up.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Queries per nameserver before a lookup fails.
const QUERY_ATTEMPTS: usize = 2;

/// Resolves discovery names; cheap to clone and to keep, since it holds only where to ask.
#[derive(Clone, Debug, Default)]
pub struct DnsResolver {
    nameserver: Option<SocketAddr>,
}

impl DnsResolver {
    /// Asks `nameserver` (UDP, with TCP for truncated answers) or, when `None`, the servers
    /// of `/etc/resolv.conf`.
    pub fn new(nameserver: Option<SocketAddr>) -> Self {
        Self { nameserver }
    }

    /// The `ip:port` client addresses of `host`: the IP itself when `host` is one, else one
    /// address per A and AAAA record of the name, each with `port`. Sorted, without repeats.
    pub async fn resolve_host(&self, host: &str, port: u16) -> Result<Vec<String>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port).to_string()]);
        }
        let resolver = self.resolver()?;
        let ips = lookup_ips(&resolver, host).await?;
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port).to_string())
            .collect())
    }

    /// The `ip:port` client addresses named by the SRV records of `name`: each record's target
    /// resolved to its A and AAAA records (taken from the answer's additional section when the
    /// server sent them there, else looked up), with the record's port. A target of `.` ("no
    /// service here", RFC 2782) is skipped. Sorted, without repeats.
    pub async fn resolve_srv(&self, name: &str) -> Result<Vec<String>, String> {
        let resolver = self.resolver()?;
        let lookup = resolver
            .srv_lookup(name)
            .await
            .map_err(|e| format!("SRV lookup of {name}: {e}"))?;
        let mut addrs = BTreeSet::new();
        for record in lookup.answers() {
            let RData::SRV(srv) = &record.data else {
                continue;
            };
            if srv.target.is_root() {
                continue;
            }
            let mut ips = additional_ips(lookup.additionals(), &srv.target);
            if ips.is_empty() {
                ips = lookup_ips(&resolver, &srv.target.to_ascii()).await?;
            }
            addrs.extend(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, srv.port).to_string()),
            );
        }
        if addrs.is_empty() {
            return Err(format!("SRV lookup of {name}: no usable records"));
        }
        Ok(addrs.into_iter().collect())
    }

    /// A new resolver for one round of lookups.
    fn resolver(&self) -> Result<TokioResolver, String> {
        let mut builder = match self.nameserver {
            Some(server) => {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut ns.connections {
                    connection.port = server.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio()
                .map_err(|e| format!("reading the system DNS configuration: {e}"))?,
        };
        let opts = builder.options_mut();
        opts.timeout = QUERY_TIMEOUT;
        opts.attempts = QUERY_ATTEMPTS;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.cache_size = 0;
        builder
            .build()
            .map_err(|e| format!("building the DNS resolver: {e}"))
    }
}

/// Every A and AAAA address of `host`, sorted, without repeats.
async fn lookup_ips(resolver: &TokioResolver, host: &str) -> Result<Vec<IpAddr>, String> {
    let lookup = resolver
        .lookup_ip(host)
        .await
        .map_err(|e| format!("A/AAAA lookup of {host}: {e}"))?;
    let ips: BTreeSet<IpAddr> = lookup.iter().collect();
    if ips.is_empty() {
        return Err(format!("A/AAAA lookup of {host}: no addresses"));
    }
    Ok(ips.into_iter().collect())
}

/// The A and AAAA addresses the additional section gives for `target`.
fn additional_ips(
    additionals: &[hickory_resolver::proto::rr::Record],
    target: &Name,
) -> Vec<IpAddr> {
    additionals
        .iter()
        .filter(|r| r.name == *target)
        .filter_map(|r| r.data.ip_addr())
        .collect()
}
