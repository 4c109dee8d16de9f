//! Assembles one Konsul node from already-bound listeners: the Raft node, the gRPC services
//! and the REST gateway on the client listener, the Raft peer service on the peer
//! listener, and the supervisor of leader-only tasks (`leader/`). No global state: tests start
//! many servers in one process.
//!
//! gRPC and REST share the client port: a request whose content type is `application/grpc`
//! goes to the tonic services, anything else to the REST router.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::serve::ListenerExt;
use futures::future::BoxFuture;
use http::Request;
use konsul_proto::v1::catalog_service_server::CatalogServiceServer;
use konsul_proto::v1::cluster_service_server::ClusterServiceServer;
use konsul_proto::v1::kv_service_server::KvServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::{Layer, Service, ServiceExt};

use crate::api::catalog::CatalogApi;
use crate::api::catalog_validate::CatalogLimits;
use crate::api::cluster::ClusterApi;
use crate::api::health::{HealthApi, follow_readiness};
use crate::api::kv::KvApi;
use crate::config::Config;
use crate::deps::Deps;
use crate::discovery::JoinLoop;
use crate::error::{Error, Result};
use crate::forward::ForwardLayer;
use crate::gateway::{self, Gateway};
use crate::leader::heartbeats::Heartbeats;
use crate::leader::{self, LeaderSettings};
use crate::raft::allowlist::Allowlist;
use crate::raft::dial::{PEER_CONNECTION_WINDOW, PEER_STREAM_WINDOW};
use crate::raft::node::RaftNode;
use crate::raft::service::RaftPeerService;

/// Room above the request limit for a forwarded request's framing (gRPC message headers,
/// JSON around a maximal value), so the handler, not the forwarder, reports the limit.
const FORWARD_BODY_SLACK: usize = 64 * 1024;

/// Server version reported by /health and the startup line.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The two listeners a node serves on, bound by the caller (main binds the configured
/// addresses; tests bind `127.0.0.1:0`).
pub struct Listeners {
    /// Client port: gRPC and REST.
    pub client: TcpListener,
    /// Peer port: the internal Raft service.
    pub raft: TcpListener,
}

impl Listeners {
    /// Binds the addresses the configuration names.
    pub async fn bind(config: &Config) -> Result<Self> {
        let client_addr = config.client_addr();
        let client = TcpListener::bind(&client_addr).await.map_err(|e| {
            Error::Config(format!(
                "cannot listen on {client_addr} (KONSUL_HOST/KONSUL_PORT): {e}"
            ))
        })?;
        let raft = TcpListener::bind(&config.raft.bind_addr)
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "cannot listen on {} (KONSUL_RAFT_BIND_ADDR): {e}",
                    config.raft.bind_addr
                ))
            })?;
        Ok(Self { client, raft })
    }
}

/// Entry point: builds and starts a node.
pub struct Server;

impl Server {
    /// Starts a node on `listeners` and returns once it is serving. Readiness (leader known,
    /// log applied) follows asynchronously; see [`RaftNode::is_ready`].
    pub async fn start(config: Config, deps: Deps, listeners: Listeners) -> Result<RunningServer> {
        config.validate()?;
        let client_addr = listeners.client.local_addr()?;
        let raft_addr = listeners.raft.local_addr()?;
        let advertised_raft = if config.raft.advertise_addr.is_empty() {
            raft_addr.to_string()
        } else {
            config.raft.advertise_addr.clone()
        };
        let advertised_client = config.client_advertise(client_addr, &advertised_raft);
        let node = RaftNode::start(&config, &deps, advertised_client, advertised_raft).await?;
        let limits = config.limits;

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();

        // Client port: gRPC + REST.
        let kv = KvApi::new(node.clone(), limits, deps.clock.clone());
        // Service heartbeats live in the leader's memory: the catalog API records them, the
        // leader's expiry task reads them.
        let heartbeats = Arc::new(Heartbeats::new());
        let catalog = CatalogApi::new(
            node.clone(),
            deps.clock.clone(),
            heartbeats.clone(),
            CatalogLimits::from_config(&config.limits, &config.catalog),
        );
        let cluster = ClusterApi::new(node.clone());
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        follow_readiness(&node, health_reporter);
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(konsul_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| Error::Internal(format!("reflection: {e}")))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(konsul_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| Error::Internal(format!("reflection: {e}")))?;
        let grpc = tonic::service::Routes::new(
            KvServiceServer::new(kv.clone()).max_decoding_message_size(limits.max_request_bytes),
        )
        .add_service(
            CatalogServiceServer::new(catalog.clone())
                .max_decoding_message_size(limits.max_request_bytes),
        )
        .add_service(ClusterServiceServer::new(cluster.clone()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .into_axum_router();
        let rest = gateway::routes::router(Gateway {
            kv,
            catalog,
            cluster,
            health: HealthApi::new(node.clone()),
            deps: deps.clone(),
            limits,
            started: tokio::time::Instant::now(),
            version: Arc::from(VERSION),
        });
        // Leader forwarding wraps both protocols: one layer, no per-handler leader logic.
        let forward = ForwardLayer::new(
            config.forward_to_leader,
            limits.max_request_bytes.saturating_add(FORWARD_BODY_SLACK),
            config.request_timeout,
            deps.routes.clone(),
        );
        let app = Router::new().fallback_service(forward.layer(Multiplex {
            grpc,
            rest,
            request_timeout: config.request_timeout,
        }));
        let client_listener = listeners.client.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(client_listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .map_err(|e| Error::Internal(format!("client listener: {e}")))
        });

        // Peer port: the internal Raft service.
        let mut peer = RaftPeerService::new(
            node.raft().clone(),
            node.identity().clone(),
            config.raft_data_dir().join("snapshots"),
        )
        .with_contact(node.contact.clone())
        .with_stages(node.stages().clone())
        .with_stop(stop_rx.clone());
        if node.restarted {
            peer = peer.refuse_votes_until(node.started + node.timing.election_timeout_max);
        }
        let mut stop = stop_rx.clone();
        let allowlist = Allowlist::new(&config.raft.allowed_cidrs);
        let incoming = peer_incoming(listeners.raft, allowlist);
        tasks.spawn(async move {
            tonic::transport::Server::builder()
                .initial_stream_window_size(PEER_STREAM_WINDOW)
                .initial_connection_window_size(PEER_CONNECTION_WINDOW)
                .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
                .add_service(peer.into_server())
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .map_err(|e| Error::Internal(format!("peer listener: {e}")))
        });

        // Leader-only work (service expiry): a server task, so shutdown stops it before Raft.
        tasks.spawn(leader::run(
            node.clone(),
            deps.clone(),
            LeaderSettings::from_config(&config),
            heartbeats.clone(),
            stop_rx.clone(),
        ));

        // Auto-join (raft.join): a server task, so shutdown waits for it to end.
        if let Some(join) = JoinLoop::for_node(&config, &deps, &node) {
            tasks.spawn(join.run_until_member(node.clone(), stop_rx.clone()));
        }

        Ok(RunningServer {
            node,
            heartbeats,
            client_addr,
            raft_addr,
            stop: stop_tx,
            tasks,
        })
    }
}

/// The peer port's connections, with `TCP_NODELAY` on each. `Server::tcp_nodelay` does not
/// reach connections handed in through `serve_with_incoming`, so it is set here. (Without it
/// a follower's small AppendEntries answers waited on Nagle and delayed ACKs: 3-node writes
/// at 64 clients had a p99 of ~47 ms, docs/benchmarks.md.)
///
/// A connection from outside `allowlist` is dropped, so closed, as soon as it is accepted.
fn peer_incoming(
    listener: tokio::net::TcpListener,
    allowlist: Allowlist,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .filter(move |conn| {
            let allowed = match conn {
                Ok(stream) => match stream.peer_addr() {
                    Ok(peer) if allowlist.allows(peer.ip()) => true,
                    Ok(peer) => {
                        tracing::warn!(%peer, "peer port: closed a connection from outside raft.allowed_cidrs");
                        false
                    }
                    Err(_) => allowlist.is_open(),
                },
                Err(_) => true,
            };
            std::future::ready(allowed)
        })
}

/// A node that is serving. Dropping it without [`RunningServer::shutdown`] leaves its tasks
/// running until the runtime ends.
pub struct RunningServer {
    node: RaftNode,
    heartbeats: Arc<Heartbeats>,
    client_addr: SocketAddr,
    raft_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<()>>,
}

impl RunningServer {
    /// The address gRPC and REST clients connect to.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The address peers connect to.
    pub fn raft_addr(&self) -> SocketAddr {
        self.raft_addr
    }

    /// The node, for readiness and introspection.
    pub fn node(&self) -> &RaftNode {
        &self.node
    }

    /// The service heartbeats this node has answered as leader, for introspection.
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }

    /// Waits until a listener fails (it returns the error) or every server task (the two
    /// listeners, the leader-task supervisor, auto-join) has stopped.
    pub async fn wait(&mut self) -> Result<()> {
        while let Some(res) = self.tasks.join_next().await {
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(Error::Internal(format!("server task: {e}"))),
            }
        }
        Ok(())
    }

    /// Stops accepting connections, lets calls in flight finish, stops the leader-only tasks,
    /// then shuts Raft down.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        let result = self.wait().await;
        self.node.shutdown().await;
        result
    }
}

/// Routes a request on the client port to gRPC or REST by its content type, and ends a
/// catalog call that outlives its deadline (`grpc-timeout`, at most `request_timeout`). The
/// KV calls honour their deadline themselves with a precise error; cluster calls (a join's
/// catch-up, a snapshot) bring their own, longer deadlines and undo half-done work
/// themselves, so they are left alone.
#[derive(Clone)]
struct Multiplex {
    grpc: Router,
    rest: Router,
    request_timeout: std::time::Duration,
}

/// Time a call gets beyond its deadline before the backstop ends it, so that a call that
/// watches its own deadline answers first.
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(500);

/// The gRPC path prefix of the catalog service, whose calls the deadline backstop bounds.
const CATALOG_PREFIX: &str = "/konsul.v1.CatalogService/";

/// The catalog methods that only read: ended by the backstop, they time out; any other
/// catalog call's outcome is unknown.
const CATALOG_READS: &[&str] = &[
    "GetService",
    "ListServices",
    "QueryTags",
    "QueryMetadata",
    "Query",
    "BatchGetServices",
    "ListChecks",
    "ServiceChecks",
];

impl Service<Request<Body>> for Multiplex {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let is_grpc = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if !is_grpc {
            return Box::pin(self.rest.clone().oneshot(req));
        }
        let Some(method) = req.uri().path().strip_prefix(CATALOG_PREFIX) else {
            return Box::pin(self.grpc.clone().oneshot(req));
        };
        let reads = CATALOG_READS.contains(&method);
        let limit = crate::api::call::grpc_timeout(req.headers())
            .map_or(self.request_timeout, |d| d.min(self.request_timeout))
            + DEADLINE_SLACK;
        let grpc = self.grpc.clone();
        Box::pin(async move {
            match tokio::time::timeout(limit, grpc.oneshot(req)).await {
                Ok(answer) => answer,
                Err(_) => {
                    let error = if reads {
                        Error::Timeout(format!("the read did not finish within {limit:?}"))
                    } else {
                        Error::OutcomeUnknown {
                            message: format!(
                                "the write did not finish within its deadline ({limit:?}); it \
                                 may or may not have been applied"
                            ),
                            timed_out: true,
                        }
                    };
                    Ok(tonic::Status::from(error).into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn peer_connections_have_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = std::pin::pin!(super::peer_incoming(listener, Default::default()));
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
