//! Test harness shared by the integration tests: in-process nodes on `127.0.0.1:0` with a
//! temp dir each, a process mode that runs the real `konsul` binary (so SIGKILL, SIGSTOP and
//! restart are real), the fault tooling both use (`link_proxy` and `mesh`: a proxy per link
//! between nodes), and `wait_until`, which polls with a deadline instead of sleeping.

#![allow(dead_code)]

pub mod clock;
pub mod cluster;
pub mod ghost;
pub mod link_proxy;
pub mod mesh;
pub mod process_cluster;
mod process_start;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use konsul::config::Config;
use konsul::deps::{Clock, Deps};
use konsul::{Listeners, RunningServer, Server};
use konsul_proto::v1::kv_service_client::KvServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// How long any wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `DEADLINE`.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {DEADLINE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A configuration for a test node whose data lives in `dir`.
pub fn test_config(dir: &Path) -> Config {
    test_config_with(dir, &[])
}

/// Like [`test_config`], with extra `KONSUL_*` variables that win over the test defaults.
pub fn test_config_with(dir: &Path, extra: &[(&str, &str)]) -> Config {
    let dir = dir.to_string_lossy().to_string();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |k: &str| match k {
        _ if extra.iter().any(|(name, _)| name == k) => extra
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone()),
        "KONSUL_DATA_DIR" => Some(dir.clone()),
        "KONSUL_PORT" => Some("0".into()),
        "KONSUL_RAFT_BIND_ADDR" => Some("127.0.0.1:0".into()),
        // Fast elections keep restarts quick; timing is not asserted anywhere.
        "KONSUL_RAFT_HEARTBEAT_TIMEOUT" => Some("100ms".into()),
        "KONSUL_RAFT_ELECTION_TIMEOUT" => Some("300ms".into()),
        "KONSUL_RAFT_LEADER_LEASE_TIMEOUT" => Some("100ms".into()),
        // The smallest log segment the default limits allow: less to preallocate per node.
        "KONSUL_RAFT_LOG_SEGMENT_BYTES" => Some((16 << 20).to_string()),
        _ => None,
    };
    Config::load(&Default::default(), &env).expect("test config")
}

/// One in-process node with its own temp dir.
pub struct TestNode {
    /// The running server.
    pub server: RunningServer,
    /// Keeps the data dir alive for the test's duration.
    pub dir: tempfile::TempDir,
}

impl TestNode {
    /// Starts a standalone node on fresh loopback ports and waits until it is ready.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = start_in(dir.path()).await;
        Self { server, dir }
    }

    /// Like [`TestNode::start`], with `extra` `KONSUL_*` settings.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config_with(dir.path(), extra);
        let server = start_with_deps(config, deps_with_clock(None))
            .await
            .expect("server starts");
        Self { server, dir }
    }

    /// Like [`TestNode::start`], with `clock` as the node's wall clock (e.g. a
    /// [`clock::ManualClock`]) and `extra` `KONSUL_*` settings.
    pub async fn start_with_clock(clock: Arc<dyn Clock>, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config_with(dir.path(), extra);
        let server = start_with_deps(config, deps_with_clock(Some(clock)))
            .await
            .expect("server starts");
        Self { server, dir }
    }

    /// Base URL for REST calls.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.client_addr())
    }

    /// A gRPC KV client.
    pub async fn kv(&self) -> KvServiceClient<Channel> {
        KvServiceClient::connect(format!("http://{}", self.server.client_addr()))
            .await
            .unwrap()
    }

    /// A gRPC catalog client.
    #[allow(dead_code)] // not every test binary uses the catalog
    pub async fn catalog(
        &self,
    ) -> konsul_proto::v1::catalog_service_client::CatalogServiceClient<Channel> {
        konsul_proto::v1::catalog_service_client::CatalogServiceClient::connect(format!(
            "http://{}",
            self.server.client_addr()
        ))
        .await
        .unwrap()
    }
}

/// Starts a node whose data is in `dir` and waits until it is ready.
pub async fn start_in(dir: &Path) -> RunningServer {
    start_with(test_config(dir)).await.expect("server starts")
}

/// Production deps, with `clock` instead of the system clock when given.
pub fn deps_with_clock(clock: Option<Arc<dyn Clock>>) -> Deps {
    let mut deps = Deps::production();
    if let Some(clock) = clock {
        deps.clock = clock;
    }
    deps
}

/// Starts a node with `config` on fresh loopback ports and waits until it is ready.
pub async fn start_with(config: Config) -> konsul::Result<RunningServer> {
    start_with_deps(config, Deps::production()).await
}

/// Like [`start_with`], with the given seams (e.g. a manual clock).
pub async fn start_with_deps(config: Config, deps: Deps) -> konsul::Result<RunningServer> {
    let listeners = Listeners {
        client: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        raft: TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let server = Server::start(config, deps, listeners).await?;
    let node = server.node().clone();
    wait_until("node ready", || {
        let ready = node.is_ready();
        async move { ready.then_some(()) }
    })
    .await;
    Ok(server)
}

/// A `konsul` process started from the built binary.
pub struct Process {
    /// The child process.
    pub child: tokio::process::Child,
    /// Its client address, read from its startup line.
    pub client_addr: String,
}

/// Starts the `konsul` binary with its data in `data_dir` on fresh ports, reads the startup
/// line for its client address and waits until /health/ready answers 200.
pub async fn spawn_process(data_dir: &Path, extra_env: &[(&str, &str)]) -> Process {
    spawn_process_logging(data_dir, extra_env, Stdio::inherit()).await
}

/// [`spawn_process`] with the process's stderr (its log) sent to `stderr`.
pub async fn spawn_process_logging(
    data_dir: &Path,
    extra_env: &[(&str, &str)],
    stderr: Stdio,
) -> Process {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_konsul"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KONSUL_DATA_DIR", data_dir)
        .env("KONSUL_PORT", "0")
        .env("KONSUL_RAFT_BIND_ADDR", "127.0.0.1:0")
        .env("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "100ms")
        .env("KONSUL_RAFT_ELECTION_TIMEOUT", "300ms")
        .env("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", "100ms")
        .env("KONSUL_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn konsul");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("startup line in time")
        .unwrap()
        .expect("konsul printed its startup line");
    let client_addr = line
        .split("gRPC+REST on ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("unexpected startup line: {line}"))
        .to_owned();
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = format!("http://{client_addr}/health/ready");
    wait_until("process ready", || {
        let url = url.clone();
        async move {
            let r = reqwest::get(&url).await.ok()?;
            (r.status() == 200).then_some(())
        }
    })
    .await;
    Process { child, client_addr }
}

/// The ErrorInfo reason a Konsul error status carries (empty when it has none).
pub fn reason_of(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// A fresh temp dir path inside `root`.
pub fn subdir(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}
