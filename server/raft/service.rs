//! Inbound peer RPCs: the gRPC Raft service other members call on the peer port.
//!
//! ```text
//!  peer's raft::network ──gRPC (peer port 7000)──► RaftPeerService ──codec──► openraft::Raft
//!                                                     │ InstallSnapshot: chunks ──► incoming file
//!                                                     ▼        (fsync, rewind) ──► install_full_snapshot
//!                                               encoded answer
//! ```
//!
//! Vote and AppendEntries are decoded with [`codec`], handed to `openraft::Raft`, and the
//! answer encoded back. StreamAppend (pipelined replication) hands the decoded requests of
//! one stream to `Raft::stream_append`, which appends them in order and answers each once
//! its entries are flushed; a request that does not decode ends the stream with
//! INVALID_ARGUMENT after the answers to the requests before it. Answer streams end when the
//! node shuts down ([`RaftPeerService::with_stop`]): a leader keeps its stream open for as
//! long as it leads, and the peer port's graceful shutdown waits for open streams.
//!
//! InstallSnapshot is one client stream: a [`pb::SnapshotHeader`] (vote, metadata, size),
//! then data chunks. They are written to a fresh file in the directory the
//! service was built with, which is fsynced and rewound before openraft installs it. A stream
//! without a header first, with a second header, or that delivers more or fewer bytes than
//! the header announced is refused and nothing is installed: a sender that gives up mid-way
//! looks to gRPC like a clean end, so only the byte count proves the snapshot is whole.
//!
//! Before openraft sees a Vote, AppendEntries or InstallSnapshot, the call's metadata is
//! checked against this node's [`Identity`]: a caller that means another node, or another
//! incarnation of this one (its data dir was wiped since it joined), is refused with
//! FAILED_PRECONDITION and a warning is logged here. The caller treats that as an unreachable
//! peer, so a wiped node never votes or acknowledges entries in its old place. A call without
//! the metadata (an older peer) is served. `Identity` answers who this node is.
//!
//! A node that restarts refuses Vote calls for `election_timeout_max` (see
//! [`RaftPeerService::refuse_votes_until`]), and every AppendEntries it accepts from the
//! leader is recorded as contact with that leader.
//!
//! Peers are not API clients: openraft's errors become a `tonic::Status` here, in
//! [`fatal_status`] and [`decode_status`], not through `crate::Error`'s mapping in
//! `api/status.rs`.

use crate::raft::state_machine::StateMachine;
use openraft::Raft;
use openraft::storage::RaftStateMachine;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::install_snapshot_request::Part;
use konsul_proto::raft::v1::raft_service_server::{RaftService, RaftServiceServer};
use openraft::Snapshot;
use openraft::error::{Fatal, RaftError};
use tokio::fs::File;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tonic::{Request, Response, Status, Streaming};

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::identity::{Identity, TARGET_INCARNATION_METADATA, TARGET_NODE_METADATA};
use super::network::{LastContact, MAX_PEER_MESSAGE_BYTES};
use super::stages::{Stage, Stages};
use super::{TypeConfig, codec, lock};

/// Serves the Raft peer RPCs of one node. Cheap to clone; clones share the node.
///
/// Generic over the state machine only so the transport tests can serve a node with a
/// recording stand-in; a server always uses [`KonsulRaft`](crate::raft::KonsulRaft)'s.
pub struct RaftPeerService<SM: PeerStateMachine = StateMachine> {
    raft: Raft<TypeConfig, SM>,
    identity: Arc<Identity>,
    incoming_dir: Arc<PathBuf>,
    next_incoming: Arc<AtomicU64>,
    /// Where accepted calls from the leader are recorded (this node's last contact).
    contact: LastContact,
    /// Until when Vote calls are refused (see [`RaftPeerService::refuse_votes_until`]).
    votes_from: Option<Instant>,
    /// Becomes true when the node shuts down; ends the answer streams.
    stop: Option<watch::Receiver<bool>>,
    /// The node's write-path counters (the `peer_decode` stage).
    stages: Arc<Stages>,
}

/// What the service needs of a state machine: snapshots arrive as files.
pub trait PeerStateMachine: RaftStateMachine<TypeConfig, SnapshotData = tokio::fs::File> {}
impl<SM: RaftStateMachine<TypeConfig, SnapshotData = tokio::fs::File>> PeerStateMachine for SM {}

impl<SM: PeerStateMachine> Clone for RaftPeerService<SM> {
    fn clone(&self) -> Self {
        Self {
            raft: self.raft.clone(),
            identity: self.identity.clone(),
            incoming_dir: self.incoming_dir.clone(),
            next_incoming: self.next_incoming.clone(),
            contact: self.contact.clone(),
            votes_from: self.votes_from,
            stop: self.stop.clone(),
            stages: self.stages.clone(),
        }
    }
}

impl<SM: PeerStateMachine> RaftPeerService<SM> {
    /// Serves `raft`, whose node is `identity`, receiving snapshots into files in
    /// `incoming_dir`. The directory must exist and should be on the same disk as the node's
    /// data; each file is removed once openraft has installed it (or the transfer failed).
    pub fn new(
        raft: Raft<TypeConfig, SM>,
        identity: Identity,
        incoming_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            raft,
            identity: Arc::new(identity),
            incoming_dir: Arc::new(incoming_dir.into()),
            next_incoming: Arc::default(),
            contact: LastContact::default(),
            votes_from: None,
            stop: None,
            stages: Arc::default(),
        }
    }

    /// Counts the `peer_decode` stage in this node's write-path counters.
    pub fn with_stages(mut self, stages: Arc<Stages>) -> Self {
        self.stages = stages;
        self
    }

    /// Ends every StreamAppend answer stream once `stop` becomes true (the node's shutdown).
    pub fn with_stop(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Records accepted AppendEntries and snapshots from the leader in `contact`, so the
    /// node can say how long ago it heard from its leader.
    pub fn with_contact(mut self, contact: LastContact) -> Self {
        self.contact = contact;
        self
    }

    /// Refuses every Vote call until `until`. A node that restarts has forgotten when it
    /// last heard from its leader, while the leader may still count on this node's earlier
    /// acknowledgement for its lease (`reads.rs`). openraft 0.10 starts a restarted node
    /// with no vote lease, so it could grant a vote at once (its `storage/helper.rs` notes
    /// that lease reads are unsafe then). Waiting out `election_timeout_max` from start
    /// keeps the lease's promise across restarts.
    pub fn refuse_votes_until(mut self, until: Instant) -> Self {
        self.votes_from = Some(until);
        self
    }

    /// The tonic service to add to the peer port's server, with the same message size limit
    /// the outbound transport uses (tonic's default of 4 MiB is below one large command).
    pub fn into_server(self) -> RaftServiceServer<Self> {
        RaftServiceServer::new(self)
            .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
    }

    /// Refuses a call whose metadata names another node or another incarnation of this one.
    fn check_addressed_to_me<T>(&self, request: &Request<T>, rpc: &str) -> Result<(), Status> {
        let meta = request.metadata();
        let get = |key: &str| meta.get(key).map(|v| v.to_str().unwrap_or("<not ASCII>"));
        self.identity
            .check_caller(get(TARGET_NODE_METADATA), get(TARGET_INCARNATION_METADATA))
            .map_err(|message| {
                let from = request
                    .remote_addr()
                    .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
                tracing::warn!(
                    rpc,
                    from,
                    "refused a Raft call meant for another node: {message}"
                );
                Status::failed_precondition(message)
            })
    }

    /// Creates an empty, readable and writable file for one incoming snapshot.
    async fn incoming_file(&self) -> Result<(File, IncomingFile), Status> {
        let n = self.next_incoming.fetch_add(1, Ordering::Relaxed);
        let path = self.incoming_dir.join(format!("incoming-{n}.snapshot"));
        let mut options = tokio::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(true);
        let file = options
            .open(&path)
            .await
            .map_err(|e| io_status("creating the incoming snapshot file", &path, e))?;
        Ok((file, IncomingFile(path)))
    }
}

/// Removes an incoming snapshot file when the transfer is over, whatever its outcome. The
/// removal runs on the runtime's file I/O, not in `drop`. openraft's state machine got an open
/// handle, never the path, so unlinking after install takes nothing from it.
struct IncomingFile(PathBuf);

impl Drop for IncomingFile {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.0);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::fs::remove_file(path).await;
            });
        }
    }
}

fn io_status(what: &str, path: &Path, e: std::io::Error) -> Status {
    Status::internal(format!("{what} {}: {e}", path.display()))
}

/// A message from the peer that does not decode: the peer is broken or runs an incompatible
/// version, so retrying the same bytes cannot help.
fn decode_status(e: codec::CodecError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// openraft could not handle the call because this node's Raft is not running. The caller
/// treats every error as "unreachable for a while", which is right for all of them.
fn fatal_status(e: Fatal<TypeConfig>) -> Status {
    match e {
        Fatal::Stopped => Status::unavailable("raft peer: this node's Raft has stopped"),
        Fatal::Panicked => Status::internal("raft peer: this node's Raft core panicked"),
        Fatal::StorageError(e) => Status::internal(format!("raft peer: storage failure: {e}")),
    }
}

fn raft_status(e: RaftError<TypeConfig>) -> Status {
    match e {
        RaftError::APIError(never) => match never {},
        RaftError::Fatal(fatal) => fatal_status(fatal),
    }
}

/// The answers of one StreamAppend call.
pub type AnswerStream = BoxStream<'static, Result<pb::StreamAppendResponse, Status>>;

impl<SM: PeerStateMachine> RaftPeerService<SM> {
    /// The answer stream to one StreamAppend call's `incoming` requests (see the module doc).
    fn answer_stream(&self, incoming: Streaming<pb::StreamAppendRequest>) -> AnswerStream {
        // The first request that does not decode ends the input; its error ends the answers.
        let refused: Arc<std::sync::Mutex<Option<Status>>> = Arc::default();
        // One stream serves one leader's replication session; its contact is recorded.
        let leader: Arc<std::sync::Mutex<Option<crate::raft::NodeId>>> = Arc::default();
        let requests = {
            let (refused, leader) = (refused.clone(), leader.clone());
            let stages = self.stages.clone();
            stream::unfold(Some(incoming), move |incoming| {
                let (refused, leader, stages) = (refused.clone(), leader.clone(), stages.clone());
                async move {
                    let mut incoming = incoming?;
                    // A transport error means the caller went away: nobody reads the answer.
                    let msg = incoming.message().await.ok()??;
                    let started = tokio::time::Instant::now();
                    let decoded = codec::decode_stream_request(msg);
                    if let Ok(rpc) = &decoded {
                        let entries = rpc.entries.len() as u64;
                        stages.record(Stage::PeerDecode, started.elapsed(), entries);
                    }
                    match decoded {
                        Ok(rpc) => {
                            *lock(&leader) = Some(rpc.vote.leader_id().node_id);
                            Some((rpc, Some(incoming)))
                        }
                        Err(e) => {
                            *lock(&refused) = Some(decode_status(e));
                            None
                        }
                    }
                }
            })
        };
        let contact = self.contact.clone();
        let answers = self.raft.stream_append(requests).map(move |answer| {
            let result = answer.map_err(fatal_status)?;
            if !matches!(
                result,
                Err(openraft::raft::StreamAppendError::HigherVote(_))
            ) && let Some(leader) = *lock(&leader)
            {
                contact.record(leader);
            }
            Ok(codec::encode_stream_response(&result))
        });
        let refusal = stream::once(async move { lock(&refused).take() })
            .filter_map(|status| async move { status.map(Err) });
        let mut stop = self.stop.clone();
        let stopping = async move {
            match &mut stop {
                Some(stop) => {
                    let _ = stop.wait_for(|s| *s).await;
                }
                None => std::future::pending().await,
            }
        };
        answers.chain(refusal).take_until(stopping).boxed()
    }
}

#[tonic::async_trait]
impl<SM: PeerStateMachine> RaftService for RaftPeerService<SM> {
    type StreamAppendStream = AnswerStream;

    async fn stream_append(
        &self,
        request: Request<Streaming<pb::StreamAppendRequest>>,
    ) -> Result<Response<AnswerStream>, Status> {
        self.check_addressed_to_me(&request, "StreamAppend")?;
        Ok(Response::new(self.answer_stream(request.into_inner())))
    }

    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        self.check_addressed_to_me(&request, "Vote")?;
        if let Some(until) = self.votes_from {
            let left = until.saturating_duration_since(Instant::now());
            if !left.is_zero() {
                return Err(Status::unavailable(format!(
                    "this node restarted recently and grants no vote for another {left:?}, \
                     so that a leader's lease that counted on it runs out first"
                )));
            }
        }
        let rpc = codec::decode_vote_request(request.into_inner()).map_err(decode_status)?;
        let resp = self.raft.vote(rpc).await.map_err(raft_status)?;
        Ok(Response::new(codec::encode_vote_response(&resp)))
    }

    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderResponse>, Status> {
        self.check_addressed_to_me(&request, "TransferLeader")?;
        let req =
            codec::decode_transfer_leader_request(request.into_inner()).map_err(decode_status)?;
        let resp = self
            .raft
            .handle_transfer_leader(req)
            .await
            .map_err(fatal_status)?;
        Ok(Response::new(codec::encode_transfer_leader_response(&resp)))
    }

    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        self.check_addressed_to_me(&request, "AppendEntries")?;
        let started = tokio::time::Instant::now();
        let rpc = codec::decode_append_request(request.into_inner()).map_err(decode_status)?;
        self.stages.record(
            Stage::PeerDecode,
            started.elapsed(),
            rpc.entries.len() as u64,
        );
        let leader = Some(rpc.vote.leader_id().node_id);
        let resp = self.raft.append_entries(rpc).await.map_err(raft_status)?;
        if let Some(leader) = leader
            && !matches!(resp, openraft::raft::AppendEntriesResponse::HigherVote(_))
        {
            self.contact.record(leader);
        }
        Ok(Response::new(codec::encode_append_response(&resp)))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<pb::InstallSnapshotRequest>>,
    ) -> Result<Response<pb::InstallSnapshotResponse>, Status> {
        self.check_addressed_to_me(&request, "InstallSnapshot")?;
        let mut stream = request.into_inner();
        let header = match stream.message().await? {
            Some(pb::InstallSnapshotRequest {
                part: Some(Part::Header(h)),
            }) => h,
            _ => {
                return Err(Status::invalid_argument(
                    "InstallSnapshot: the stream must open with a SnapshotHeader",
                ));
            }
        };
        let offer = codec::decode_snapshot_header(header).map_err(decode_status)?;
        let (mut file, guard) = self.incoming_file().await?;
        let path = guard.0.clone();

        let mut received: u64 = 0;
        while let Some(msg) = stream.message().await? {
            let chunk = match msg.part {
                Some(Part::Chunk(chunk)) => chunk,
                Some(Part::Header(_)) => {
                    return Err(Status::invalid_argument(
                        "InstallSnapshot: a second SnapshotHeader in one stream",
                    ));
                }
                None => {
                    return Err(Status::invalid_argument("InstallSnapshot: empty message"));
                }
            };
            received += chunk.len() as u64;
            if received > offer.size {
                return Err(Status::invalid_argument(format!(
                    "InstallSnapshot: more data than the {} bytes announced",
                    offer.size
                )));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| io_status("writing", &path, e))?;
        }
        if received != offer.size {
            return Err(Status::aborted(format!(
                "InstallSnapshot: stream ended after {received} of {} bytes; not installed",
                offer.size
            )));
        }

        file.flush()
            .await
            .map_err(|e| io_status("flushing", &path, e))?;
        file.sync_all()
            .await
            .map_err(|e| io_status("syncing", &path, e))?;
        file.seek(SeekFrom::Start(0))
            .await
            .map_err(|e| io_status("rewinding", &path, e))?;
        let snapshot = Snapshot {
            meta: offer.meta,
            snapshot: file,
        };
        let leader = Some(offer.vote.leader_id().node_id);
        let resp = self
            .raft
            .install_full_snapshot(offer.vote, snapshot)
            .await
            .map_err(fatal_status)?;
        drop(guard);
        if let Some(leader) = leader
            && resp.vote == offer.vote
        {
            self.contact.record(leader);
        }
        Ok(Response::new(pb::InstallSnapshotResponse {
            vote: Some(codec::encode_vote(&resp.vote)),
        }))
    }

    async fn identity(
        &self,
        _request: Request<pb::IdentityRequest>,
    ) -> Result<Response<pb::IdentityResponse>, Status> {
        Ok(Response::new(pb::IdentityResponse {
            name: self.identity.name.clone(),
            incarnation: self.identity.incarnation,
        }))
    }
}

#[cfg(test)]
mod tests;
