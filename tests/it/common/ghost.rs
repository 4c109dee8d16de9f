//! A fake Raft peer that says who it is and refuses everything else: a node that can be
//! joined (join asks the address for its identity first) but never catches up. Tests of a
//! stuck join use it where they used to point at a port nobody listens on.

use std::net::SocketAddr;

use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::raft_service_server::{RaftService, RaftServiceServer};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, Streaming};

struct Ghost {
    name: String,
}

fn refused() -> Status {
    Status::unavailable("ghost: never answers Raft calls")
}

type Answers = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::StreamAppendResponse, Status>> + Send>,
>;

#[tonic::async_trait]
impl RaftService for Ghost {
    type StreamAppendStream = Answers;

    async fn stream_append(
        &self,
        _: Request<Streaming<pb::StreamAppendRequest>>,
    ) -> Result<Response<Answers>, Status> {
        Err(refused())
    }

    async fn vote(
        &self,
        _: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        Err(refused())
    }

    async fn append_entries(
        &self,
        _: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        Err(refused())
    }

    async fn install_snapshot(
        &self,
        _: Request<Streaming<pb::InstallSnapshotRequest>>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        Err(refused())
    }

    async fn identity(
        &self,
        _: Request<pb::IdentityRequest>,
    ) -> Result<Response<pb::IdentityResponse>, Status> {
        Ok(Response::new(pb::IdentityResponse {
            name: self.name.clone(),
            incarnation: 7,
        }))
    }

    async fn transfer_leader(
        &self,
        _: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderResponse>, Status> {
        Err(Status::unavailable("a ghost never leads"))
    }
}

/// Serves a ghost named `name` on a fresh `127.0.0.1` port until the runtime ends; returns
/// its address.
pub async fn start(name: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ghost = Ghost {
        name: name.to_owned(),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RaftServiceServer::new(ghost))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}
