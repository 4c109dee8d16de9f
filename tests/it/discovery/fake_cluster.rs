//! A stand-in for a member's `konsul.v1.ClusterService`: records every Join call and answers
//! as told (accept, "not leader" with a leader address, or "no leader"). Lets the join loop be
//! tested on its own, without a real cluster behind it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use konsul_proto::v1::cluster_service_server::{ClusterService, ClusterServiceServer};
use konsul_proto::v1::*;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

/// How the fake answers Join.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Success.
    Accept,
    /// UNAVAILABLE with `konsul-leader-addr` set to this client address.
    NotLeader(String),
    /// UNAVAILABLE without a leader.
    NoLeader,
}

/// A running fake member.
pub struct FakeMember {
    /// Its client address.
    pub addr: SocketAddr,
    joins: Arc<Mutex<Vec<JoinRequest>>>,
    _stop: oneshot::Sender<()>,
}

impl FakeMember {
    /// Starts a fake on a free loopback port.
    pub async fn start(answer: Answer) -> FakeMember {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let joins = Arc::new(Mutex::new(Vec::new()));
        let service = Fake {
            answer,
            joins: joins.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(ClusterServiceServer::new(service))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async move {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        FakeMember {
            addr,
            joins,
            _stop: stop,
        }
    }

    /// The Join requests received so far.
    pub fn joins(&self) -> Vec<JoinRequest> {
        self.joins.lock().unwrap().clone()
    }
}

struct Fake {
    answer: Answer,
    joins: Arc<Mutex<Vec<JoinRequest>>>,
}

#[tonic::async_trait]
impl ClusterService for Fake {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn leader(&self, _: Request<LeaderRequest>) -> Result<Response<LeaderResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn peers(&self, _: Request<PeersRequest>) -> Result<Response<PeersResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        let request = request.into_inner();
        self.joins.lock().unwrap().push(request.clone());
        match &self.answer {
            Answer::Accept => Ok(Response::new(JoinResponse {
                header: None,
                node_id: request.node_id,
                address: request.address,
                already_member: false,
            })),
            Answer::NotLeader(leader) => {
                let mut status = Status::unavailable("not the leader");
                status
                    .metadata_mut()
                    .insert("konsul-leader-addr", leader.parse().unwrap());
                Err(status)
            }
            Answer::NoLeader => Err(Status::unavailable("no leader")),
        }
    }

    async fn leave(&self, _: Request<LeaveRequest>) -> Result<Response<LeaveResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn snapshot(
        &self,
        _: Request<SnapshotRequest>,
    ) -> Result<Response<SnapshotResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}
