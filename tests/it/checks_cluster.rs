//! Health checks on a 3-node cluster, against real endpoints the test starts and stops: the
//! leader probes HTTP, TCP and gRPC checks (server/leader/checks.rs), their status changes go
//! through the log, so every node holds the same statuses, and `passing_only` reads follow
//! them; after a failover the new leader carries on probing.
//!
//! Nothing sleeps and then asserts: every wait polls with a deadline.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use common::cluster::TestCluster;
use common::wait_until;
use konsul::store::CheckStatus;
use konsul_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Raft timers calmer than the harness's defaults, so a busy 2-core machine does not hold
/// spurious elections in the middle of a test.
const SETTINGS: &[(&str, &str)] = &[
    ("KONSUL_RAFT_HEARTBEAT_TIMEOUT", "300ms"),
    ("KONSUL_RAFT_ELECTION_TIMEOUT", "600ms"),
    ("KONSUL_RAFT_LEADER_LEASE_TIMEOUT", "200ms"),
];

/// An HTTP server answering every request with the status the test sets.
struct HttpEndpoint {
    status: Arc<AtomicU16>,
    url: String,
    task: JoinHandle<()>,
}

impl HttpEndpoint {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(200));
        let answer = status.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let code = answer.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf).await;
                    let reply = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { status, url, task }
    }

    fn set(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}

impl Drop for HttpEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A gRPC server with only the standard health service.
async fn grpc_endpoint() -> (
    tonic_health::server::HealthReporter,
    SocketAddr,
    JoinHandle<()>,
) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("app", tonic_health::ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (reporter, addr, task)
}

fn check(id: &str, kind: pb::check_definition::Kind) -> pb::CheckDefinition {
    pb::CheckDefinition {
        id: id.into(),
        name: String::new(),
        kind: Some(kind),
        interval_ms: 200,
        timeout_ms: 1_000,
    }
}

fn http_check(id: &str, url: &str) -> pb::CheckDefinition {
    check(
        id,
        pb::check_definition::Kind::Http(pb::HttpCheck {
            url: url.into(),
            ..Default::default()
        }),
    )
}

async fn register(c: &TestCluster, leader: usize, checks: Vec<pb::CheckDefinition>) {
    c.node(leader)
        .catalog()
        .await
        .register(pb::RegisterRequest {
            service: Some(pb::Service {
                name: "web".into(),
                address: "127.0.0.1".into(),
                port: 80,
                ttl_ms: 3_600_000,
                checks,
                ..Default::default()
            }),
            cas: None,
        })
        .await
        .expect("register on the leader");
}

/// The replicated status of `check_id` in node `i`'s state machine.
fn status(c: &TestCluster, i: usize, check_id: &str) -> Option<CheckStatus> {
    c.node(i)
        .server()
        .node()
        .view()
        .read(|s| s.check_state(check_id).map(|st| st.status))
}

/// Waits until every running node holds `want` for every check in `ids`.
async fn wait_everywhere(c: &TestCluster, ids: &[&str], want: CheckStatus) {
    for i in (0..c.nodes.len()).filter(|&i| c.nodes[i].server.is_some()) {
        for id in ids {
            wait_until(&format!("{id} {want:?} on {}", c.node(i).name), || {
                let now = status(c, i, id);
                async move { (now == Some(want)).then_some(()) }
            })
            .await;
        }
    }
}

/// How many services node `i` lists with `passing_only`.
async fn passing_services(c: &TestCluster, i: usize) -> usize {
    c.node(i)
        .catalog()
        .await
        .list_services(pb::ListServicesRequest {
            consistency: pb::Consistency::Stale as i32,
            passing_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tcp_and_grpc_checks_flip_with_their_endpoints_on_every_node() {
    let c = TestCluster::start_with(3, SETTINGS).await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;

    let http = HttpEndpoint::start().await;
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let (grpc, grpc_addr, grpc_task) = grpc_endpoint().await;
    register(
        &c,
        leader,
        vec![
            http_check("web-http", &http.url),
            check(
                "web-tcp",
                pb::check_definition::Kind::Tcp(pb::TcpCheck {
                    address: tcp_addr.to_string(),
                }),
            ),
            check(
                "web-grpc",
                pb::check_definition::Kind::Grpc(pb::GrpcCheck {
                    address: grpc_addr.to_string(),
                    service: "app".into(),
                    use_tls: false,
                }),
            ),
        ],
    )
    .await;
    let ids = ["web-http", "web-tcp", "web-grpc"];

    // New checks start critical; the leader's first probes make them pass everywhere.
    wait_everywhere(&c, &ids, CheckStatus::Passing).await;
    assert_eq!(passing_services(&c, follower).await, 1);

    // Take every endpoint down: 503, the listener closed, NOT_SERVING.
    http.set(503);
    drop(tcp);
    grpc.set_service_status("app", tonic_health::ServingStatus::NotServing)
        .await;
    wait_everywhere(&c, &ids, CheckStatus::Critical).await;
    assert_eq!(passing_services(&c, follower).await, 0);
    let outputs = c.node(follower).server().node().view().read(|s| {
        let e = s.service("web").unwrap();
        ids.map(|id| e.checks[id].output.clone())
    });
    assert!(outputs[0].contains("503"), "{outputs:?}");
    assert!(outputs[2].contains("NOT_SERVING"), "{outputs:?}");

    // And back up (the TCP port is bound again).
    http.set(200);
    let _tcp = wait_until("the TCP check's port is free again", || async move {
        TcpListener::bind(tcp_addr).await.ok()
    })
    .await;
    grpc.set_service_status("app", tonic_health::ServingStatus::Serving)
        .await;
    wait_everywhere(&c, &ids, CheckStatus::Passing).await;
    assert_eq!(passing_services(&c, follower).await, 1);

    // A 429 is a warning, and a warning is not passing.
    http.set(429);
    wait_everywhere(&c, &["web-http"], CheckStatus::Warning).await;
    assert_eq!(passing_services(&c, follower).await, 0);
    grpc_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_keeps_probing_after_a_failover() {
    let mut c = TestCluster::start_with(3, SETTINGS).await;
    let leader = c.leader().await;
    let http = HttpEndpoint::start().await;
    register(&c, leader, vec![http_check("web-http", &http.url)]).await;
    wait_everywhere(&c, &["web-http"], CheckStatus::Passing).await;

    c.kill(leader).await;
    let new_leader = c.leader().await;
    assert_ne!(new_leader, leader);
    http.set(500);
    wait_everywhere(&c, &["web-http"], CheckStatus::Critical).await;
    http.set(200);
    wait_everywhere(&c, &["web-http"], CheckStatus::Passing).await;
}
