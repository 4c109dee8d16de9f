//! `TestCluster`: N clustered nodes in-process, each on its own `127.0.0.1` listeners with
//! its own temp dir. Node 1 bootstraps; the others start empty and are added through
//! `ClusterService.Join` on the leader, as an operator would. Nodes can be killed and
//! restarted on the same data dir and, when the port is still free, the same addresses, so
//! their membership record stays valid.
//!
//! [`TestCluster::start_faulty`] routes every link between nodes (peer and forwarded calls)
//! through a [`Mesh`] of proxies, and gives each node its own [`OffsetClock`], so a test can
//! partition, delay or blackhole links and skew one node's wall clock.

use openraft::async_runtime::WatchReceiver;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use konsul::config::Config;
use konsul::deps::{Clock, Deps, OffsetClock, Routes};
use konsul::{Listeners, RunningServer, Server};
use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_client::CatalogServiceClient;
use konsul_proto::v1::cluster_service_client::ClusterServiceClient;
use konsul_proto::v1::kv_service_client::KvServiceClient;
use tokio::net::TcpListener;
use tonic::transport::Channel;

use super::link_proxy::Fault;
use super::mesh::{Addrs, Mesh};
use super::{deps_with_clock, test_config_with, wait_until};

/// One member of a [`TestCluster`].
pub struct ClusterNode {
    /// Node name (`KONSUL_RAFT_NODE_ID`), `n1`, `n2`, ...
    pub name: String,
    /// Keeps the data dir alive across kill and restart.
    pub dir: tempfile::TempDir,
    /// The running server; `None` while killed.
    pub server: Option<RunningServer>,
    raft_addr: SocketAddr,
    client_addr: SocketAddr,
    /// Where this node's connections go (through the mesh's proxies, when there is one).
    pub routes: Routes,
    /// This node's own wall clock, when the cluster has a mesh.
    pub clock: Option<Arc<OffsetClock>>,
}

impl ClusterNode {
    /// The running server (panics if killed).
    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("node is running")
    }

    /// Base URL for REST calls.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.client_addr)
    }

    /// A gRPC KV client.
    pub async fn kv(&self) -> KvServiceClient<Channel> {
        KvServiceClient::connect(format!("http://{}", self.client_addr))
            .await
            .unwrap()
    }

    /// A gRPC catalog client.
    pub async fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::connect(format!("http://{}", self.client_addr))
            .await
            .unwrap()
    }

    /// A gRPC cluster client.
    pub async fn cluster(&self) -> ClusterServiceClient<Channel> {
        ClusterServiceClient::connect(format!("http://{}", self.client_addr))
            .await
            .unwrap()
    }

    /// The Raft address the node advertises.
    pub fn raft_addr(&self) -> SocketAddr {
        self.raft_addr
    }

    /// The join request that adds this node.
    pub fn join_request(&self) -> pb::JoinRequest {
        pb::JoinRequest {
            node_id: self.name.clone(),
            address: self.raft_addr.to_string(),
            client_address: self.client_addr.to_string(),
            catch_up_timeout_ms: 0,
        }
    }
}

/// N in-process nodes forming one cluster.
pub struct TestCluster {
    /// The members, index 0 = `n1`.
    pub nodes: Vec<ClusterNode>,
    extra: Vec<(String, String)>,
    /// The wall clock every node gets; `None` = the system clock.
    clock: Option<Arc<dyn Clock>>,
    /// The proxies between the nodes, for [`TestCluster::start_faulty`].
    mesh: Option<Arc<Mesh>>,
}

impl TestCluster {
    /// Starts `n` nodes: `n1` bootstraps, the others join through the leader.
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, &[]).await
    }

    /// Like [`TestCluster::start`], with extra `KONSUL_*` settings for every node.
    pub async fn start_with(n: usize, extra: &[(&str, &str)]) -> Self {
        Self::start_with_clock(n, extra, None).await
    }

    /// Like [`TestCluster::start_with`], with `clock` as every node's wall clock (also after a
    /// restart), e.g. one shared [`super::clock::ManualClock`].
    pub async fn start_with_clock(
        n: usize,
        extra: &[(&str, &str)],
        clock: Option<Arc<dyn Clock>>,
    ) -> Self {
        Self::start_inner(n, extra, clock, None).await
    }

    /// Like [`TestCluster::start_with`], with every link between nodes through a [`Mesh`]
    /// and a wall clock of its own for each node.
    pub async fn start_faulty(n: usize, extra: &[(&str, &str)]) -> Self {
        Self::start_inner(n, extra, None, Some(Arc::new(Mesh::new()))).await
    }

    async fn start_inner(
        n: usize,
        extra: &[(&str, &str)],
        clock: Option<Arc<dyn Clock>>,
        mesh: Option<Arc<Mesh>>,
    ) -> Self {
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            clock,
            mesh,
        };
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    /// The proxies between the nodes (only for [`TestCluster::start_faulty`]).
    pub fn mesh(&self) -> &Mesh {
        self.mesh.as_deref().expect("started with start_faulty")
    }

    /// Splits the cluster into `groups` that cannot reach each other (a silent blackhole
    /// between groups, both ways; clients still reach every node). Every node must be in one
    /// group. Only for [`TestCluster::start_faulty`].
    pub fn partition(&self, groups: &[&[usize]]) {
        self.mesh().partition(groups, Fault::Drop);
    }

    /// Lifts every partition and link fault.
    pub fn heal(&self) {
        self.mesh().heal();
    }

    fn config(&self, name: &str, dir: &std::path::Path, bootstrap: bool) -> Config {
        let mut vars: Vec<(&str, &str)> = vec![
            ("KONSUL_RAFT_ENABLED", "true"),
            ("KONSUL_RAFT_NODE_ID", name),
            (
                "KONSUL_RAFT_BOOTSTRAP",
                if bootstrap { "true" } else { "false" },
            ),
            ("KONSUL_LOG_LEVEL", "warn"),
        ];
        vars.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        test_config_with(dir, &vars)
    }

    /// Starts one more node (`n{len+1}`) and, unless it is the first, joins it through the
    /// leader and waits until it is a ready voter. Returns its index.
    pub async fn add_node(&mut self) -> usize {
        let i = self.spawn_node().await;
        if i > 0 {
            let req = self.nodes[i].join_request();
            self.join(req).await.expect("join succeeds");
        }
        self.wait_ready(i).await;
        i
    }

    /// Starts one more node that waits to be joined, without joining it. Returns its index.
    pub async fn spawn_node(&mut self) -> usize {
        let i = self.nodes.len();
        let name = format!("n{}", i + 1);
        let dir = tempfile::tempdir().unwrap();
        let config = self.config(&name, dir.path(), i == 0);
        let listeners = Listeners {
            client: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            raft: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let (client_addr, raft_addr) = (
            listeners.client.local_addr().unwrap(),
            listeners.raft.local_addr().unwrap(),
        );
        let routes = Routes::default();
        let clock = self.mesh.as_ref().map(|_| OffsetClock::new(0));
        if let Some(mesh) = &self.mesh {
            let addrs = Addrs {
                raft: raft_addr,
                client: client_addr,
            };
            let (mine, theirs) = mesh.add(addrs).await;
            for (from, to) in mine {
                routes.set(&from, Some(&to));
            }
            for (j, list) in theirs {
                for (from, to) in list {
                    self.nodes[j].routes.set(&from, Some(&to));
                }
            }
        }
        let mut node = ClusterNode {
            name,
            dir,
            server: None,
            raft_addr,
            client_addr,
            routes,
            clock,
        };
        let server = Server::start(config, self.deps(&node), listeners)
            .await
            .expect("node starts");
        node.server = Some(server);
        self.nodes.push(node);
        i
    }

    /// The seams node `node` starts with: the cluster's clock, or with a mesh its own clock
    /// and routes.
    fn deps(&self, node: &ClusterNode) -> Deps {
        match &node.clock {
            Some(clock) => Deps::routed(clock.clone(), node.routes.clone()),
            None => deps_with_clock(self.clock.clone()),
        }
    }

    /// Sends `req` to the current leader's ClusterService.Join.
    pub async fn join(
        &self,
        req: pb::JoinRequest,
    ) -> Result<tonic::Response<pb::JoinResponse>, tonic::Status> {
        let leader = self.leader().await;
        self.nodes[leader].cluster().await.join(req).await
    }

    /// Every key and value of node `i`, read from its own state (stale).
    pub async fn contents(&self, i: usize) -> Vec<(String, Vec<u8>)> {
        let mut kv = self.node(i).kv().await;
        kv.list(pb::ListRequest {
            consistency: pb::Consistency::Stale as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .kvs
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &ClusterNode {
        &self.nodes[i]
    }

    /// Whether node `i` is running and sees itself as leader now.
    pub fn leads(&self, i: usize) -> bool {
        self.nodes[i].server.as_ref().is_some_and(|s| {
            s.node().raft().metrics().borrow_watched().state == openraft::ServerState::Leader
        })
    }

    /// Waits until a running node sees itself as leader and returns its index.
    pub async fn leader(&self) -> usize {
        wait_until("a leader", || {
            let found = (0..self.nodes.len()).find(|&i| self.leads(i));
            async move { found }
        })
        .await
    }

    /// Waits until node `i` is ready (leader known, log applied).
    pub async fn wait_ready(&self, i: usize) {
        let node = self.nodes[i].server().node().clone();
        wait_until(&format!("{} ready", self.nodes[i].name), || {
            let ready = node.is_ready();
            async move { ready.then_some(()) }
        })
        .await;
    }

    /// Waits until every running node has applied at least `index`.
    pub async fn wait_applied(&self, index: u64) {
        for n in self.nodes.iter().filter(|n| n.server.is_some()) {
            let node = n.server().node().clone();
            wait_until(&format!("{} applied {index}", n.name), || {
                let applied = node.view().applied_index();
                async move { (applied >= index).then_some(()) }
            })
            .await;
        }
    }

    /// Stops node `i` (its data dir stays).
    pub async fn kill(&mut self, i: usize) {
        if let Some(server) = self.nodes[i].server.take() {
            let _ = server.shutdown().await;
        }
    }

    /// Starts node `i` again on its data dir, on its old ports (waiting for them to be free).
    /// It does not bootstrap again: it has state.
    pub async fn restart(&mut self, i: usize) {
        let (raft_addr, client_addr) = (self.nodes[i].raft_addr, self.nodes[i].client_addr);
        let raft = rebind(raft_addr).await;
        let client = rebind(client_addr).await;
        let config = self.config(&self.nodes[i].name, self.nodes[i].dir.path(), i == 0);
        let deps = self.deps(&self.nodes[i]);
        let server = Server::start(config, deps, Listeners { client, raft })
            .await
            .expect("node restarts");
        self.nodes[i].server = Some(server);
    }
}

/// Binds `addr` again, polling until the old socket has released it.
async fn rebind(addr: SocketAddr) -> TcpListener {
    wait_until(&format!("{addr} free again"), || async move {
        TcpListener::bind(addr).await.ok()
    })
    .await
}

/// How long tests give a join of an unreachable node before it is undone.
pub const SHORT_CATCH_UP: Duration = Duration::from_secs(8);
