//! `ProcessCluster`: N real `konsul` processes on loopback, so that SIGKILL and restart are
//! what an operator would see: no shutdown path runs, and a restarted node recovers only
//! from what it fsynced. Node 1 bootstraps; the others start empty and are joined through
//! the leader with the Rust SDK. The first start takes ports from the OS (port 0) and reads
//! them from each node's startup line; a restart reuses the same ports and data dir, so the
//! node's membership record stays valid and it rejoins without a new Join. Every process is
//! killed when the cluster is dropped, and every wait polls with a deadline.
//!
//! A cluster started with [`ProcessCluster::start_faulty`] also routes every link between
//! its nodes through a [`Mesh`] of proxies (partitions, delays, blackholes), and drives the
//! test-only fault control of each process (`--features failpoints`: failpoints such as a
//! slow fsync, a wall-clock offset) through `PUT /debug/faults`; SIGSTOP and SIGCONT pause
//! and resume a node.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use konsul_client::{Client, ClusterStatus, NodeState};
use tokio::process::Child;

use super::link_proxy::Fault;
use super::mesh::{Addrs, Mesh};
use super::process_start::{owned, routes_env, routes_json, startup_addresses};
use super::wait_until;

/// How long a restart keeps retrying while the old ports are still held.
const REBIND_DEADLINE: Duration = Duration::from_secs(10);

/// Each node's stderr, in its temp dir; printed when a test fails.
const LOG_FILE: &str = "konsul.log";

/// How much of each node's log a failing test prints.
const LOG_TAIL_BYTES: usize = 8 * 1024;

/// One `konsul` process of a [`ProcessCluster`].
pub struct ProcessNode {
    /// Node name (`KONSUL_RAFT_NODE_ID`), `n1`, `n2`, ...
    pub name: String,
    /// The node's own temp dir: its data dir (`data/`, kept across SIGKILL and restart)
    /// and its stderr (`konsul.log`, appended by every start).
    pub dir: tempfile::TempDir,
    /// Client (gRPC and REST) address, from the first startup line.
    pub client_addr: SocketAddr,
    /// Raft peer address, from the first startup line.
    pub raft_addr: SocketAddr,
    /// The running process; `None` while killed.
    child: Option<Child>,
    /// Stopped with SIGSTOP and not yet continued.
    paused: bool,
    /// Settings for this node only, after the cluster's.
    env: Vec<(String, String)>,
}

impl ProcessNode {
    /// True while the process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// True while the process is stopped with SIGSTOP.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Base URL for REST calls.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.client_addr)
    }

    /// An SDK client talking to this node only, making one attempt per call: a probe that
    /// shows what this node says, without the SDK following redirects elsewhere.
    pub fn probe(&self) -> Client {
        Client::builder([self.client_addr.to_string()])
            .max_attempts(1)
            .request_timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .expect("valid endpoint")
    }

    /// This node's view of the cluster, or `None` when it does not answer.
    pub async fn status(&self) -> Option<ClusterStatus> {
        if !self.is_running() || self.paused {
            return None;
        }
        self.probe().status().await.ok()
    }

    /// Sends `request` (a JSON `FaultRequest`: failpoints, clock offset, routes) to this
    /// node's `PUT /debug/faults`; panics unless it is applied.
    pub async fn faults(&self, request: serde_json::Value) {
        let r = reqwest::Client::new()
            .put(self.url("/debug/faults"))
            .timeout(Duration::from_secs(5))
            .json(&request)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: /debug/faults: {e}", self.name));
        let status = r.status();
        assert_eq!(
            status,
            200,
            "{}: /debug/faults: {}",
            self.name,
            r.text().await.unwrap_or_default()
        );
    }
}

/// N `konsul` processes forming one cluster.
pub struct ProcessCluster {
    /// The members, index 0 = `n1`.
    pub nodes: Vec<ProcessNode>,
    extra: Vec<(String, String)>,
    /// The proxies between the nodes, when started with [`ProcessCluster::start_faulty`].
    mesh: Option<Arc<Mesh>>,
}

/// What to bind on a start: fresh ports, or the ones a node had before.
#[derive(Clone, Copy)]
enum Ports {
    Fresh,
    Same {
        client: SocketAddr,
        raft: SocketAddr,
    },
}

impl ProcessCluster {
    /// Starts `n` processes: `n1` bootstraps, the others join through the leader.
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, &[]).await
    }

    /// Like [`ProcessCluster::start`], with extra `KONSUL_*` settings for every node.
    pub async fn start_with(n: usize, extra: &[(&str, &str)]) -> Self {
        Self::start_inner(n, extra, &[], None).await
    }

    /// Like [`ProcessCluster::start_with`], with `per_node[i]` settings for node `i` on top
    /// (forwarding on some nodes only, say), every link between nodes through a [`Mesh`],
    /// and fault control on in every process. Needs a binary built with
    /// `--features failpoints` (the test command does that).
    pub async fn start_faulty(
        n: usize,
        extra: &[(&str, &str)],
        per_node: &[&[(&str, &str)]],
    ) -> Self {
        Self::start_inner(n, extra, per_node, Some(Arc::new(Mesh::new()))).await
    }

    async fn start_inner(
        n: usize,
        extra: &[(&str, &str)],
        per_node: &[&[(&str, &str)]],
        mesh: Option<Arc<Mesh>>,
    ) -> Self {
        let mut cluster = ProcessCluster {
            nodes: Vec::new(),
            extra: owned(extra),
            mesh,
        };
        for i in 0..n {
            let name = format!("n{}", i + 1);
            let dir = tempfile::tempdir().unwrap();
            let env = owned(per_node.get(i).copied().unwrap_or_default());
            let (child, client_addr, raft_addr) = cluster
                .spawn(&name, dir.path(), i == 0, Ports::Fresh, &env, &[])
                .await;
            cluster.nodes.push(ProcessNode {
                name: name.clone(),
                dir,
                client_addr,
                raft_addr,
                child: Some(child),
                paused: false,
                env,
            });
            if let Some(mesh) = cluster.mesh.clone() {
                let addrs = Addrs {
                    raft: raft_addr,
                    client: client_addr,
                };
                let (mine, theirs) = mesh.add(addrs).await;
                if !mine.is_empty() {
                    cluster.nodes[i].faults(routes_json(&mine)).await;
                }
                for (j, routes) in theirs {
                    cluster.nodes[j].faults(routes_json(&routes)).await;
                }
            }
            if i > 0 {
                // Through the members so far; the SDK finds the leader among them.
                let members = cluster.nodes[..i]
                    .iter()
                    .map(|n| n.client_addr.to_string())
                    .collect::<Vec<_>>();
                Client::connect(members)
                    .await
                    .unwrap()
                    .join(&name, raft_addr.to_string(), client_addr.to_string())
                    .await
                    .unwrap_or_else(|e| panic!("join of {name} failed: {e}"));
            }
            cluster.wait_ready(i).await;
        }
        cluster
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &ProcessNode {
        &self.nodes[i]
    }

    /// The proxies between the nodes (only for [`ProcessCluster::start_faulty`]).
    pub fn mesh(&self) -> &Mesh {
        self.mesh.as_deref().expect("started with start_faulty")
    }

    /// Splits the cluster into `groups` that cannot reach each other, as
    /// [`super::cluster::TestCluster::partition`] does. Only for
    /// [`ProcessCluster::start_faulty`].
    pub fn partition(&self, groups: &[&[usize]]) {
        self.mesh().partition(groups, Fault::Drop);
    }

    /// Lifts every partition and link fault.
    pub fn heal(&self) {
        self.mesh().heal();
    }

    /// Stops node `i` with SIGSTOP: it keeps its sockets but answers nothing.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGSTOP);
        self.nodes[i].paused = true;
    }

    /// Continues node `i` after [`Self::pause`].
    pub fn resume(&mut self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGCONT);
        self.nodes[i].paused = false;
    }

    fn signal(&self, i: usize, signal: nix::sys::signal::Signal) {
        let child = self.nodes[i].child.as_ref().expect("node is running");
        let pid = child.id().expect("child has a pid") as i32;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    }

    /// Indices of the running nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running())
            .collect()
    }

    /// An SDK client over every running node, with default settings.
    pub async fn client(&self) -> Client {
        let endpoints: Vec<String> = self
            .live()
            .into_iter()
            .map(|i| self.nodes[i].client_addr.to_string())
            .collect();
        Client::connect(endpoints).await.unwrap()
    }

    /// Polls the running nodes until one reports itself leader and returns its index. When
    /// two do (an old leader that has not heard of the new term yet), the higher term wins.
    pub async fn leader(&self) -> usize {
        wait_until("a leader among the running nodes", || async {
            let mut best: Option<(u64, usize)> = None;
            for i in self.live() {
                if let Some(s) = self.nodes[i].status().await
                    && s.state == NodeState::Leader
                    && best.is_none_or(|(t, _)| s.term > t)
                {
                    best = Some((s.term, i));
                }
            }
            best.map(|(_, i)| i)
        })
        .await
    }

    /// Waits until node `i` has applied at least `index`.
    pub async fn wait_applied(&self, i: usize, index: u64) {
        let node = &self.nodes[i];
        wait_until(&format!("{} applied {index}", node.name), || async {
            let s = node.status().await?;
            (s.applied_index >= index).then_some(())
        })
        .await
    }

    /// Waits until node `i` answers 200 on /health/ready (leader known, log applied).
    pub async fn wait_ready(&self, i: usize) {
        let url = self.nodes[i].url("/health/ready");
        wait_until(&format!("{} ready", self.nodes[i].name), || {
            let url = url.clone();
            async move {
                let r = reqwest::get(&url).await.ok()?;
                (r.status() == 200).then_some(())
            }
        })
        .await
    }

    /// Kills node `i` with SIGKILL (no shutdown path runs) and reaps it. Its data dir stays.
    pub async fn sigkill(&mut self, i: usize) {
        self.nodes[i].paused = false;
        let mut child = self.nodes[i].child.take().expect("node is running");
        let pid = child.id().expect("child has a pid") as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "SIGKILL ends {} abnormally", pid);
    }

    /// Starts node `i` again on its old ports and data dir and waits until it is ready. It
    /// does not bootstrap or join again: its log says it is a member.
    pub async fn restart(&mut self, i: usize) {
        self.restart_with(i, &[]).await;
        self.wait_ready(i).await;
    }

    /// Starts node `i` again like [`Self::restart`], with `extra` settings for this start
    /// only (`FAILPOINTS`, say), and returns as soon as it listens, without waiting for it
    /// to be ready.
    pub async fn restart_with(&mut self, i: usize, extra: &[(&str, &str)]) {
        assert!(!self.nodes[i].is_running(), "restart of a running node");
        let ports = Ports::Same {
            client: self.nodes[i].client_addr,
            raft: self.nodes[i].raft_addr,
        };
        let mut env = self.nodes[i].env.clone();
        if let Some(mesh) = &self.mesh {
            env.push(("KONSUL_FAULT_ROUTES".into(), routes_env(&mesh.routes_of(i))));
        }
        let (child, client_addr, raft_addr) = self
            .spawn(
                &self.nodes[i].name,
                self.nodes[i].dir.path(),
                false,
                ports,
                &env,
                extra,
            )
            .await;
        assert_eq!(
            (client_addr, raft_addr),
            (self.nodes[i].client_addr, self.nodes[i].raft_addr),
            "restarted on its old ports"
        );
        self.nodes[i].child = Some(child);
    }

    /// Starts one `konsul` process and returns it with the addresses from its startup line.
    /// With [`Ports::Same`], a start that fails because a port is still held is retried until
    /// [`REBIND_DEADLINE`].
    async fn spawn(
        &self,
        name: &str,
        dir: &Path,
        bootstrap: bool,
        ports: Ports,
        env: &[(String, String)],
        extra: &[(&str, &str)],
    ) -> (Child, SocketAddr, SocketAddr) {
        let deadline = tokio::time::Instant::now() + REBIND_DEADLINE;
        loop {
            let mut cmd = self.command(name, dir, bootstrap, ports);
            for (k, v) in env {
                cmd.env(k, v);
            }
            for (k, v) in extra {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().unwrap();
            if let Some((client, raft)) = startup_addresses(&mut child).await {
                return (child, client, raft);
            }
            let status = child.wait().await.unwrap();
            if matches!(ports, Ports::Fresh) || tokio::time::Instant::now() > deadline {
                panic!("{name} exited before it was listening: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn command(
        &self,
        name: &str,
        dir: &Path,
        bootstrap: bool,
        ports: Ports,
    ) -> tokio::process::Command {
        let (port, raft_bind) = match ports {
            Ports::Fresh => ("0".to_owned(), "127.0.0.1:0".to_owned()),
            Ports::Same { client, raft } => (client.port().to_string(), raft.to_string()),
        };
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(LOG_FILE))
            .expect("node log file");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_konsul"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KONSUL_DATA_DIR", dir.join("data"))
            .env("KONSUL_HOST", "127.0.0.1")
            .env("KONSUL_PORT", port)
            .env("KONSUL_RAFT_BIND_ADDR", raft_bind)
            .env("KONSUL_RAFT_ENABLED", "true")
            .env("KONSUL_RAFT_NODE_ID", name)
            .env(
                "KONSUL_RAFT_BOOTSTRAP",
                if bootstrap { "true" } else { "false" },
            )
            // Fast elections keep failover quick; timing is not asserted anywhere.
            .env("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "100ms")
            .env("KONSUL_RAFT_ELECTION_TIMEOUT", "300ms")
            .env("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", "100ms")
            .env("KONSUL_LOG_LEVEL", "warn")
            .env("KONSUL_RAFT_LOG_LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }
}

impl Drop for ProcessCluster {
    /// Shows the end of every node's log when the test failed; the processes themselves are
    /// killed when their `Child` handles drop right after.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for n in &self.nodes {
            let log = std::fs::read(n.dir.path().join(LOG_FILE)).unwrap_or_default();
            let tail = &log[log.len().saturating_sub(LOG_TAIL_BYTES)..];
            eprintln!(
                "---- {} ({}) log tail ----\n{}",
                n.name,
                n.client_addr,
                String::from_utf8_lossy(tail)
            );
        }
    }
}
