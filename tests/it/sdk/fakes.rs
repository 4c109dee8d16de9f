//! Fake servers that answer like the parts of a cluster the SDK must get past: a KV
//! server that behaves like a follower (a not-leader redirect) or like a cluster in an
//! election ("no leader"), and a catalog server that is always a follower. They answer with
//! the server's own `Error -> Status` mapping, so they speak exactly the real wire format.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_server::{CatalogService, CatalogServiceServer};
use konsul_proto::v1::kv_service_client::KvServiceClient;
use konsul_proto::v1::kv_service_server::{KvService, KvServiceServer};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// How a fake KV server answers.
#[derive(Clone)]
pub enum Behaviour {
    /// Like a follower: every call is refused with the leader's address in metadata.
    Follower { leader: SocketAddr },
    /// Like a cluster in an election: "no leader" for the first `failures` calls, then
    /// every call is passed to `upstream`.
    Electing {
        failures: usize,
        upstream: KvServiceClient<Channel>,
    },
}

/// A KV server that never serves anything itself; it counts the calls it receives.
#[derive(Clone)]
pub struct Fake {
    pub behaviour: Behaviour,
    pub calls: Arc<AtomicUsize>,
}

impl Fake {
    async fn answer<Req, Resp, F, Fut>(
        &self,
        request: Request<Req>,
        forward: F,
    ) -> Result<Response<Resp>, Status>
    where
        F: FnOnce(KvServiceClient<Channel>, Req) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match &self.behaviour {
            Behaviour::Follower { leader } => Err(Status::from(konsul::Error::NotLeader {
                leader_name: "real".into(),
                leader_client_addr: leader.to_string(),
                leader_raft_addr: "127.0.0.1:1".into(),
            })),
            Behaviour::Electing { failures, .. } if n < *failures => {
                Err(Status::from(konsul::Error::NoLeader))
            }
            Behaviour::Electing { upstream, .. } => {
                forward(upstream.clone(), request.into_inner()).await
            }
        }
    }

    /// Serves this fake on a fresh loopback port; returns its address.
    pub async fn serve(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(KvServiceServer::new(self))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        addr
    }
}

#[tonic::async_trait]
impl KvService for Fake {
    async fn get(&self, r: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.get(m).await })
            .await
    }

    async fn list(
        &self,
        r: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.list(m).await })
            .await
    }

    async fn put(&self, r: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.put(m).await })
            .await
    }

    async fn delete(
        &self,
        r: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.delete(m).await })
            .await
    }

    async fn batch_get(
        &self,
        r: Request<pb::BatchGetRequest>,
    ) -> Result<Response<pb::BatchGetResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_get(m).await })
            .await
    }

    async fn batch_put(
        &self,
        r: Request<pb::BatchPutRequest>,
    ) -> Result<Response<pb::BatchPutResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_put(m).await })
            .await
    }

    async fn batch_delete(
        &self,
        r: Request<pb::BatchDeleteRequest>,
    ) -> Result<Response<pb::BatchDeleteResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_delete(m).await })
            .await
    }

    async fn batch_put_cas(
        &self,
        r: Request<pb::BatchPutCasRequest>,
    ) -> Result<Response<pb::BatchPutCasResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_put_cas(m).await })
            .await
    }

    async fn batch_delete_cas(
        &self,
        r: Request<pb::BatchDeleteCasRequest>,
    ) -> Result<Response<pb::BatchDeleteCasResponse>, Status> {
        self.answer(r, |mut c, m| async move { c.batch_delete_cas(m).await })
            .await
    }
}

/// A catalog server that answers every call like a follower: refused, with the leader's
/// address in metadata.
#[derive(Clone)]
pub struct CatalogFollower {
    pub leader: SocketAddr,
    pub calls: Arc<AtomicUsize>,
}

impl CatalogFollower {
    fn refuse<T>(&self) -> Result<Response<T>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Status::from(konsul::Error::NotLeader {
            leader_name: "real".into(),
            leader_client_addr: self.leader.to_string(),
            leader_raft_addr: "127.0.0.1:1".into(),
        }))
    }

    pub async fn serve(self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(CatalogServiceServer::new(self))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        addr
    }
}

macro_rules! refuse_all {
    ($($method:ident($req:ident) -> $resp:ident;)*) => {
        #[tonic::async_trait]
        impl CatalogService for CatalogFollower {
            $(
                async fn $method(
                    &self,
                    _: Request<pb::$req>,
                ) -> Result<Response<pb::$resp>, Status> {
                    self.refuse()
                }
            )*
        }
    };
}

refuse_all! {
    register(RegisterRequest) -> RegisterResponse;
    deregister(DeregisterRequest) -> DeregisterResponse;
    heartbeat(HeartbeatRequest) -> HeartbeatResponse;
    get_service(GetServiceRequest) -> GetServiceResponse;
    list_services(ListServicesRequest) -> ListServicesResponse;
    query_tags(QueryTagsRequest) -> QueryTagsResponse;
    query_metadata(QueryMetadataRequest) -> QueryMetadataResponse;
    query(QueryRequest) -> QueryResponse;
    batch_register(BatchRegisterRequest) -> BatchRegisterResponse;
    batch_deregister(BatchDeregisterRequest) -> BatchDeregisterResponse;
    batch_get_services(BatchGetServicesRequest) -> BatchGetServicesResponse;
    update_ttl_check(UpdateTtlCheckRequest) -> UpdateTtlCheckResponse;
    list_checks(ListChecksRequest) -> ListChecksResponse;
    service_checks(ServiceChecksRequest) -> ServiceChecksResponse;
}
