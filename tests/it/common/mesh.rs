//! `Mesh`: every link between the nodes of a test cluster, each through its own
//! [`LinkProxy`], so a test can cut, delay or blackhole traffic between chosen nodes in one
//! or both directions, or isolate one node (the leader, say) into a minority.
//!
//! ```text
//!  node i ──dials j's raft address──► Routes(i) ──► proxy(i→j, raft)   ──► node j peer port
//!  node i ──forwards to j's client──► Routes(i) ──► proxy(i→j, client) ──► node j client port
//! ```
//!
//! Each node dials through its own `konsul::deps::Routes` (in-process: the `Deps` it was
//! started with; a process: `KONSUL_FAULT_ROUTES` at start and `PUT /debug/faults` later),
//! which map the other nodes' real addresses to the proxies of this node's outgoing links.
//! "i cannot reach j" is then the forward direction of proxy(i→j) plus the backward
//! direction of proxy(j→i): i's requests to j vanish, and so do j's answers to i's requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use super::link_proxy::{Direction, Fault, LinkProxy};

/// Which port of the target a link reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Port {
    /// The Raft peer port.
    Raft,
    /// The client port (forwarded calls).
    Client,
}

/// One node's addresses as the cluster knows them.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    /// Peer (Raft) address.
    pub raft: SocketAddr,
    /// Client (gRPC and REST) address.
    pub client: SocketAddr,
}

/// The proxies of a cluster, by (from, to, port).
#[derive(Default)]
pub struct Mesh {
    proxies: Mutex<HashMap<(usize, usize, Port), LinkProxy>>,
    nodes: Mutex<Vec<Addrs>>,
}

/// The routes one node needs: real address → proxy address.
pub type RouteList = Vec<(String, String)>;

impl Mesh {
    /// An empty mesh.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds node `k` (the next index) with its real addresses and creates the proxies of
    /// every link between it and the nodes before it. Returns the routes node `k` dials
    /// through, and for every earlier node `j` the routes it must add to reach `k`.
    pub async fn add(&self, addrs: Addrs) -> (RouteList, Vec<(usize, RouteList)>) {
        let k = {
            let mut nodes = self.nodes.lock().unwrap();
            nodes.push(addrs);
            nodes.len() - 1
        };
        let others: Vec<(usize, Addrs)> = {
            let nodes = self.nodes.lock().unwrap();
            nodes[..k].iter().copied().enumerate().collect()
        };
        let mut mine = Vec::new();
        let mut theirs = Vec::new();
        for (j, other) in others {
            let mut routes_j = Vec::new();
            for port in [Port::Raft, Port::Client] {
                let (to_j, to_k) = match port {
                    Port::Raft => (other.raft, addrs.raft),
                    Port::Client => (other.client, addrs.client),
                };
                let k_to_j = LinkProxy::start(to_j).await;
                let j_to_k = LinkProxy::start(to_k).await;
                mine.push((to_j.to_string(), k_to_j.addr().to_string()));
                routes_j.push((to_k.to_string(), j_to_k.addr().to_string()));
                let mut proxies = self.proxies.lock().unwrap();
                proxies.insert((k, j, port), k_to_j);
                proxies.insert((j, k, port), j_to_k);
            }
            theirs.push((j, routes_j));
        }
        (mine, theirs)
    }

    /// How many nodes the mesh links.
    pub fn len(&self) -> usize {
        self.nodes.lock().unwrap().len()
    }

    /// True before the first node is added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every route node `i` dials through (for restarting a process with the same routes).
    pub fn routes_of(&self, i: usize) -> RouteList {
        let nodes = self.nodes.lock().unwrap();
        let proxies = self.proxies.lock().unwrap();
        let mut routes = Vec::new();
        for (j, addrs) in nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            for (port, real) in [(Port::Raft, addrs.raft), (Port::Client, addrs.client)] {
                if let Some(p) = proxies.get(&(i, j, port)) {
                    routes.push((real.to_string(), p.addr().to_string()));
                }
            }
        }
        routes
    }

    /// Applies `fault` to what `from` sends to `to` (requests on from's links to `to`, and
    /// from's answers on to's links to `from`), on both ports.
    pub fn block(&self, from: usize, to: usize, fault: Fault) {
        let proxies = self.proxies.lock().unwrap();
        for port in [Port::Raft, Port::Client] {
            if let Some(p) = proxies.get(&(from, to, port)) {
                p.set(Direction::Forward, fault);
            }
            if let Some(p) = proxies.get(&(to, from, port)) {
                p.set(Direction::Backward, fault);
            }
        }
    }

    /// Applies `fault` both ways between `a` and `b`.
    pub fn block_both(&self, a: usize, b: usize, fault: Fault) {
        self.block(a, b, fault);
        self.block(b, a, fault);
    }

    /// Cuts `node` off from every other node, both ways, with `fault` (`Drop`: silent
    /// blackhole; `Cut`: resets). Clients still reach it: this is a minority of one.
    pub fn isolate(&self, node: usize, fault: Fault) {
        for other in 0..self.len() {
            if other != node {
                self.block_both(node, other, fault);
            }
        }
    }

    /// Splits the nodes into `groups`: every link between two nodes of different groups
    /// gets `fault`, both ways; links inside a group are untouched. Every node must be in
    /// exactly one group (a test that forgets one would partition it by accident).
    pub fn partition(&self, groups: &[&[usize]], fault: Fault) {
        let mut group_of = vec![None; self.len()];
        for (g, members) in groups.iter().enumerate() {
            for &node in *members {
                assert!(node < self.len(), "partition: no node {node}");
                assert!(
                    group_of[node].is_none(),
                    "partition: node {node} in two groups"
                );
                group_of[node] = Some(g);
            }
        }
        let group_of: Vec<usize> = group_of
            .iter()
            .enumerate()
            .map(|(node, g)| g.unwrap_or_else(|| panic!("partition: node {node} in no group")))
            .collect();
        for a in 0..self.len() {
            for b in (a + 1)..self.len() {
                if group_of[a] != group_of[b] {
                    self.block_both(a, b, fault);
                }
            }
        }
    }

    /// Lifts every fault on every link.
    pub fn heal(&self) {
        for p in self.proxies.lock().unwrap().values() {
            p.heal();
        }
    }

    /// Bytes the proxies of links out of `from` dropped so far (did a fault bite?).
    pub fn dropped_from(&self, from: usize) -> u64 {
        let proxies = self.proxies.lock().unwrap();
        proxies
            .iter()
            .filter(|((f, _, _), _)| *f == from)
            .map(|(_, p)| {
                let s = p.stats();
                s.forward.dropped + s.backward.dropped
            })
            .sum()
    }
}
