//! Who may connect to the peer port: `raft.allowed_cidrs` (`KONSUL_RAFT_ALLOWED_CIDRS`).
//! `server.rs` filters the peer listener's accepted connections through [`Allowlist`]; a
//! connection from an address outside every listed network is dropped (closed) before any
//! byte of it is read, so it never reaches the HTTP/2 server, a TLS handshake or openraft.
//! An empty list allows every address. Networks are parsed with `ipnet` (the crate
//! hickory and reqwest use) rather than by hand.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses one entry: a network in CIDR notation (`10.0.0.0/24`, `fd00::/64`) or a single
/// address (`10.0.0.7`, a /32 or /128).
pub fn parse_network(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    if let Ok(net) = entry.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    entry
        .parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{entry:?} is not a network (10.0.0.0/24) or an address (10.0.0.7)"))
}

/// The networks peers may connect from; empty means any.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    networks: Vec<IpNet>,
}

impl Allowlist {
    /// The allowlist of `entries` (already checked by config validation; an entry that does
    /// not parse here is skipped, which only narrows the list).
    pub fn new(entries: &[String]) -> Self {
        Self {
            networks: entries
                .iter()
                .filter_map(|e| parse_network(e).ok())
                .collect(),
        }
    }

    /// Whether a peer at `addr` may connect. IPv4 addresses that arrive mapped into IPv6
    /// (`::ffff:10.0.0.7` on a dual-stack listener) are judged as IPv4.
    pub fn allows(&self, addr: IpAddr) -> bool {
        if self.networks.is_empty() {
            return true;
        }
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.networks.iter().any(|n| n.contains(&addr))
    }

    /// True when every address is allowed.
    pub fn is_open(&self) -> bool {
        self.networks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses_are_allowed_and_nothing_else() {
        let list = Allowlist::new(&[
            "10.0.0.0/24".into(),
            "192.168.1.7".into(),
            "fd00::/64".into(),
        ]);
        assert!(list.allows(ip("10.0.0.200")));
        assert!(list.allows(ip("192.168.1.7")));
        assert!(list.allows(ip("fd00::1234")));
        assert!(list.allows(ip("::ffff:10.0.0.9")), "IPv4 mapped into IPv6");
        assert!(!list.allows(ip("10.0.1.1")));
        assert!(!list.allows(ip("192.168.1.8")));
        assert!(!list.allows(ip("127.0.0.1")));
        assert!(!list.allows(ip("fd01::1")));
        assert!(
            Allowlist::new(&[]).allows(ip("203.0.113.9")),
            "empty: any address"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            parse_network("10.0.0.9/24").unwrap().to_string(),
            "10.0.0.0/24"
        );
        for bad in ["10.0.0.0/33", "ten", "10.0.0/8", ""] {
            let e = parse_network(bad).unwrap_err();
            assert!(e.contains("is not a network"), "{bad}: {e}");
        }
    }
}
