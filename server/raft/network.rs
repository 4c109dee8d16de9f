//! Outbound peer RPCs: how this node's openraft reaches the other members.
//!
//! ```text
//!  openraft::Raft ──new_client(target)──► PeerNetwork (one lazy Channel per peer address)
//!       │ vote / stream_append / full_snapshot / transfer_leader
//!       ▼
//!  PeerClient ──codec──► RaftServiceClient ──gRPC (peer port)──► peer's raft::service
//! ```
//!
//! Replication is pipelined: openraft's `stream_append` runs over one StreamAppend call per
//! replication session, with a bounded window of unanswered bytes (`network/append_stream.rs`).
//! Heartbeats go through a client of their own (`new_heartbeat_client`) that sends each as one
//! unary AppendEntries: openraft hands it one-request streams, for which a gRPC stream apiece
//! would cost more than it saves, and a heartbeat never waits behind a replication window.
//!
//! Channels are opened through a [`Dialer`], the dialing seam of DESIGN.md §4: production uses
//! [`TcpDialer`] (tonic over TCP, lazy connect, HTTP/2 keepalive, `TCP_NODELAY`); a simulator
//! hands in its own. A channel is created once per peer address and reused by every RPC and
//! every `new_client` call for that peer, so reconnecting is tonic's job, not openraft's.
//!
//! Every call carries openraft's deadline (`RPCOption::hard_ttl`) both as a local timeout and
//! as the gRPC `grpc-timeout` header. A call that runs out of time is `RPCError::Timeout`; any
//! other failure (refused, reset, a peer that cannot decode us) is `RPCError::Unreachable`, so
//! openraft pauses replication to that peer for [`PeerClient::backoff`] instead of spinning.
//! Snapshots travel as one client stream (header, then file chunks): see
//! [`PeerClient::full_snapshot`].
//!
//! Every successful call stamps the peer in [`LastContact`], which the cluster status reads
//! to show how long ago the leader last heard from each peer.
//!
//! Every call also names the member it is meant for, from the target's [`Member`] record:
//! metadata `konsul-target-node` and `konsul-target-incarnation` (see `identity`). A peer that
//! is not that incarnation (its data dir was wiped) refuses with FAILED_PRECONDITION, which
//! is `RPCError::Unreachable` here like any other refusal: openraft never counts it towards a
//! quorum or a vote. [`PeerNetwork::identity`] asks a node at an address who it is, for join.

// openraft's RPCError and StreamingError are large and dictated by its traits.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::future::Future;
use std::io::SeekFrom;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, Stream};
use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::raft_service_client::RaftServiceClient;
use openraft::error::{
    ErrorSource, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{
    Backoff, RPCOption, RPCTypes, RaftNetworkFactory, stream_append_sequential, v2::RaftNetworkV2,
};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::{OptionalSend, StorageError};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{Notify, oneshot};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;

pub use super::contact::LastContact;
pub use super::dial::{Dialer, TcpDialer};
use super::identity::{Identity, TARGET_INCARNATION_METADATA, TARGET_NODE_METADATA};
use super::stages::Stages;
use super::{Member, NodeId, TypeConfig, codec};
use crate::faults::{self, FaultPoints};

/// Largest protobuf message a peer RPC may carry, in either direction. The service sets the
/// same limit. tonic's default of 4 MiB is too small: one command may be up to the 4 MiB
/// request limit, and the log store hands replication batches of up to 4 MiB.
pub const MAX_PEER_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Size of the data chunks of a snapshot stream: small enough to never hold a whole snapshot
/// in memory, large enough that per-message overhead does not matter.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

/// The openraft network factory of one node: hands out a [`PeerClient`] per target and keeps
/// one channel per peer address alive across them. Cheap to clone; clones share channels.
#[derive(Clone)]
pub struct PeerNetwork {
    local_id: NodeId,
    dialer: Arc<dyn Dialer>,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    contact: LastContact,
    faults: FaultPoints,
    stages: Arc<Stages>,
    backoff_initial: Duration,
    backoff_max: Duration,
}

impl PeerNetwork {
    /// A factory for node `local_id` (named in timeout errors) dialing through `dialer`.
    /// Back-off after an unreachable peer starts at 50 ms and doubles up to 2 s.
    pub fn new(local_id: NodeId, dialer: Arc<dyn Dialer>) -> Self {
        Self {
            local_id,
            dialer,
            channels: Arc::default(),
            contact: LastContact::default(),
            faults: FaultPoints::default(),
            stages: Arc::default(),
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }

    /// Overrides the back-off after an unreachable peer: `initial`, doubling up to `max`.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max;
        self
    }

    /// Evaluates this node's failpoints (`faults::PEER_REPLICATE`).
    pub fn with_faults(mut self, faults: FaultPoints) -> Self {
        self.faults = faults;
        self
    }

    /// Counts the `replicate` stage in this node's write-path counters.
    pub fn with_stages(mut self, stages: Arc<Stages>) -> Self {
        self.stages = stages;
        self
    }

    /// The last-contact record this network keeps, for the node's cluster status.
    pub fn last_contact(&self) -> LastContact {
        self.contact.clone()
    }

    /// Asks the node at `addr` who it is (name and incarnation), within `ttl`. Join uses it
    /// to learn a new member's identity from the node itself rather than from the operator.
    /// `Ok(None)`: the node runs a version without the Identity RPC.
    pub async fn identity(&self, addr: &str, ttl: Duration) -> crate::Result<Option<Identity>> {
        let unreachable = |e: &dyn std::fmt::Display| {
            crate::Error::Timeout(format!(
                "the node at {addr} did not answer who it is: {e}; check that it is running and \
                 that its Raft address is reachable from the leader"
            ))
        };
        let mut client = RaftServiceClient::new(self.channel(addr)?);
        let mut request = tonic::Request::new(pb::IdentityRequest {});
        request.set_timeout(ttl);
        match tokio::time::timeout(ttl, client.identity(request)).await {
            Err(_elapsed) => Err(unreachable(&format!("no answer within {ttl:?}"))),
            Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => Ok(None),
            Ok(Err(status)) => Err(unreachable(&status.message())),
            Ok(Ok(resp)) => {
                let resp = resp.into_inner();
                Ok(Some(Identity {
                    name: resp.name,
                    incarnation: resp.incarnation,
                }))
            }
        }
    }

    /// The shared channel to `addr`, dialing it on first use.
    fn channel(&self, addr: &str) -> crate::Result<Channel> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = channels.get(addr) {
            return Ok(ch.clone());
        }
        let ch = self.dialer.dial(addr)?;
        channels.insert(addr.to_owned(), ch.clone());
        Ok(ch)
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerClient {
        self.client_for(target, node, false)
    }

    /// Heartbeats travel as unary AppendEntries calls (see the module doc).
    async fn new_heartbeat_client(&mut self, target: NodeId, node: &Member) -> PeerClient {
        self.client_for(target, node, true)
    }
}

impl PeerNetwork {
    /// A client to `target`; with `unary_appends`, `stream_append` sends one unary
    /// AppendEntries per request instead of opening a StreamAppend call.
    fn client_for(&self, target: NodeId, node: &Member, unary_appends: bool) -> PeerClient {
        let client = self.channel(&node.raft_addr).map(|ch| {
            RaftServiceClient::new(ch)
                .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
        });
        PeerClient {
            local_id: self.local_id,
            target,
            addressed_to: addressed_to(node),
            client: client.map_err(|e| e.to_string()),
            backoff: (self.backoff_initial, self.backoff_max),
            contact: self.contact.clone(),
            faults: self.faults.clone(),
            stages: self.stages.clone(),
            unary_appends,
        }
    }
}

/// The metadata that names the member a call is meant for: its name and, when the
/// membership knows it, its incarnation. A name that is not valid metadata is left out (the
/// peer then checks only what it gets).
fn addressed_to(node: &Member) -> MetadataMap {
    let mut map = MetadataMap::new();
    if let Ok(name) = AsciiMetadataValue::try_from(node.name.as_str()) {
        map.insert(TARGET_NODE_METADATA, name);
    }
    if node.incarnation != 0 {
        map.insert(
            TARGET_INCARNATION_METADATA,
            AsciiMetadataValue::from(node.incarnation),
        );
    }
    map
}

/// The connection from this node to one peer, as openraft's replication and election tasks
/// use it. A peer whose address could not be dialed yields `Unreachable` on every call.
pub struct PeerClient {
    local_id: NodeId,
    target: NodeId,
    /// Metadata naming the target member, sent with every call.
    addressed_to: MetadataMap,
    client: Result<RaftServiceClient<Channel>, String>,
    backoff: (Duration, Duration),
    contact: LastContact,
    faults: FaultPoints,
    stages: Arc<Stages>,
    /// `stream_append` as one unary call per request (the heartbeat client).
    unary_appends: bool,
}

type RpcResult<T> = Result<T, RPCError<TypeConfig>>;

impl PeerClient {
    fn timeout(&self, action: RPCTypes, ttl: Duration) -> Timeout<TypeConfig> {
        call_error::timeout(self.local_id, self.target, action, ttl)
    }

    fn rpc_error(&self, action: RPCTypes, e: CallError) -> RPCError<TypeConfig> {
        e.into_rpc_error(self.local_id, self.target, action)
    }

    /// A request carrying the metadata that names the target member.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.addressed_to.clone();
        request
    }

    /// Runs one unary call with `ttl` as local timeout and as the peer's deadline.
    async fn unary<Req, Resp, F, Fut>(
        &self,
        ttl: Duration,
        req: Req,
        call: F,
    ) -> Result<Resp, CallError>
    where
        F: FnOnce(RaftServiceClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let client = self.client.clone().map_err(CallError::Unreachable)?;
        let mut request = self.request(req);
        request.set_timeout(ttl);
        match tokio::time::timeout(ttl, call(client, request)).await {
            Err(_elapsed) => Err(CallError::Timeout(ttl)),
            Ok(Err(status)) => Err(CallError::from_status(status, ttl)),
            Ok(Ok(resp)) => {
                self.contact.record(self.target);
                Ok(resp.into_inner())
            }
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = tokio::fs::File;

    /// Pipelined replication over one StreamAppend call (`network/append_stream.rs`), or, for
    /// the heartbeat client, openraft's one-at-a-time loop over [`Self::append_entries`].
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, RpcResult<BoxStream<'s, RpcResult<StreamAppendResult<TypeConfig>>>>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        if self.unary_appends {
            return stream_append_sequential(self, input, option);
        }
        Box::pin(async move { self.open_append_stream(input, option.hard_ttl()).await })
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<TypeConfig>> {
        if rpc.prev_log_id.is_some() || !rpc.entries.is_empty() {
            self.faults.pause(faults::PEER_REPLICATE).await;
        }
        // openraft 0.10 sends a request whole (no PayloadTooLarge): the log store caps a
        // batch at REPLICATION_BATCH_BYTES plus one entry, under MAX_PEER_MESSAGE_BYTES.
        let req = codec::encode_append_request(rpc);
        let ttl = option.hard_ttl();
        let resp = self
            .unary(
                ttl,
                req,
                |mut c, r| async move { c.append_entries(r).await },
            )
            .await
            .map_err(|e| self.rpc_error(RPCTypes::AppendEntries, e))?;
        codec::decode_append_response(resp).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    /// Asks the chosen successor to run for leader now (openraft calls this when a removed
    /// leader steps down, after it has given up its own lease: the successor's voters will
    /// not wait out the usual election timeout, since the leader itself asked for it).
    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<TransferLeaderResponse<TypeConfig>> {
        let req = codec::encode_transfer_leader_request(&req);
        let ttl = option.hard_ttl();
        let resp = self
            .unary(
                ttl,
                req,
                |mut c, r| async move { c.transfer_leader(r).await },
            )
            .await
            .map_err(|e| self.rpc_error(RPCTypes::TransferLeader, e))?;
        codec::decode_transfer_leader_response(resp)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<TypeConfig>> {
        let req = codec::encode_vote_request(&rpc);
        let ttl = option.hard_ttl();
        let resp = self
            .unary(ttl, req, |mut c, r| async move { c.vote(r).await })
            .await
            .map_err(|e| self.rpc_error(RPCTypes::Vote, e))?;
        codec::decode_vote_response(resp).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    /// Streams the snapshot file to the peer in one InstallSnapshot call: the header with the
    /// file's size, then chunks of at most [`SNAPSHOT_CHUNK_BYTES`] read from the start of the
    /// file as the transport asks for them (never the whole file in memory).
    /// `option.hard_ttl()` bounds each step (every chunk, and the peer's install after the
    /// last one), not the whole transfer, whose length depends on the snapshot's size. On a
    /// read error, cancel or timeout the call is dropped; the peer, which counts the bytes
    /// against the header's size, then refuses the short stream.
    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, tokio::fs::File>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let ttl = option.hard_ttl();
        let timeout = StreamingError::Timeout(self.timeout(RPCTypes::InstallSnapshot, ttl));
        let signature = snapshot.meta.signature();
        let read_error = |e: std::io::Error| {
            StreamingError::StorageError(StorageError::read_snapshot(
                Some(signature.clone()),
                ErrorSource::from_error(&e),
            ))
        };
        let mut client = match self.client.clone() {
            Ok(client) => client,
            Err(m) => {
                return Err(StreamingError::Unreachable(
                    CallError::Unreachable(m).unreachable(),
                ));
            }
        };

        let mut file = snapshot.snapshot;
        let size = file.seek(SeekFrom::End(0)).await.map_err(read_error)?;
        file.seek(SeekFrom::Start(0)).await.map_err(read_error)?;
        let offer = codec::SnapshotOffer {
            vote,
            meta: snapshot.meta,
            size,
        };
        let header = codec::encode_snapshot_header(&offer);

        let progress = Arc::new(Notify::new());
        let (failed_tx, mut failed_rx) = oneshot::channel();
        let body = snapshot_stream(header, file.take(size), failed_tx, progress.clone());
        let call = client.install_snapshot(self.request(body));
        tokio::pin!(call, cancel);
        // Until the stream has read the whole file, a read error may still arrive.
        let mut reading = true;
        loop {
            tokio::select! {
                closed = &mut cancel => return Err(StreamingError::Closed(closed)),
                failed = &mut failed_rx, if reading => match failed {
                    Ok(e) => return Err(read_error(e)),
                    Err(_) => reading = false, // the stream finished the file
                },
                answer = &mut call => {
                    let resp = answer.map_err(|status| match CallError::from_status(status, ttl) {
                        CallError::Timeout(_) => timeout,
                        e => StreamingError::Unreachable(e.unreachable()),
                    })?;
                    self.contact.record(self.target);
                    return decode_snapshot_answer(resp.into_inner())
                        .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)));
                }
                stalled = tokio::time::timeout(ttl, progress.notified()) => {
                    if stalled.is_err() {
                        return Err(timeout);
                    }
                }
            }
        }
    }

    fn backoff(&self) -> Option<Backoff> {
        let (initial, max) = self.backoff;
        Some(Backoff::new(std::iter::successors(
            Some(initial),
            move |d| Some((*d * 2).min(max)),
        )))
    }
}

fn decode_snapshot_answer(
    resp: pb::InstallSnapshotResponse,
) -> codec::DecodeResult<SnapshotResponse<TypeConfig>> {
    let vote = resp
        .vote
        .ok_or(codec::CodecError::Missing("InstallSnapshotResponse.vote"))?;
    Ok(SnapshotResponse::new(codec::decode_vote(vote)?))
}

mod append_stream;
mod call_error;
mod snapshot_stream;

use call_error::CallError;

pub use append_stream::MAX_INFLIGHT_BYTES;

use snapshot_stream::snapshot_stream;

#[cfg(test)]
mod tests;
