//! The client address a node advertises: what a follower puts in its redirects and
//! not-leader metadata when this node leads, read from the membership record the node
//! writes when it starts (`Server::start` ──► `RaftNode::start`).
//!
//! `advertise_addr` when set; otherwise where the client listener listens, unless that is
//! every interface (`0.0.0.0`, `::`), which no client can dial: then the host peers dial
//! (the node's advertised peer address) with the client port, when that host is a dialable
//! one.

use std::net::{IpAddr, SocketAddr};

use super::{Config, join_host_port, split_host_port};

/// See the module docs. `listening` is the client listener's bound address, `peer` the
/// address this node advertises to its peers.
pub(super) fn client(config: &Config, listening: SocketAddr, peer: &str) -> String {
    if !config.advertise_addr.is_empty() {
        return config.advertise_addr.clone();
    }
    if !listening.ip().is_unspecified() {
        return listening.to_string();
    }
    match split_host_port(peer) {
        Some((host, _)) if !host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified()) => {
            join_host_port(host, listening.port())
        }
        _ => listening.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(advertise: &str) -> Config {
        Config {
            advertise_addr: advertise.into(),
            ..Config::default()
        }
    }

    fn at(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    #[test]
    fn the_setting_wins_then_the_listener_unless_it_listens_everywhere() {
        let set = config("clients.example:443");
        let peer = "127.0.0.1:7000";
        assert_eq!(
            client(&set, at("0.0.0.0:8888"), peer),
            "clients.example:443"
        );
        assert_eq!(
            client(&config(""), at("127.0.0.1:8888"), peer),
            "127.0.0.1:8888"
        );
    }

    #[test]
    fn listening_everywhere_borrows_the_host_peers_dial() {
        let c = config("");
        let everywhere = at("0.0.0.0:8888");
        assert_eq!(
            client(&c, everywhere, "node1.example:7000"),
            "node1.example:8888"
        );
        assert_eq!(client(&c, everywhere, "10.0.0.5:7000"), "10.0.0.5:8888");
        assert_eq!(
            client(&c, at("[::]:8888"), "[fd00::5]:7000"),
            "[fd00::5]:8888"
        );
        // Nothing dialable anywhere (a standalone node on 0.0.0.0): the listener as it is.
        assert_eq!(client(&c, everywhere, "0.0.0.0:7000"), "0.0.0.0:8888");
    }
}
