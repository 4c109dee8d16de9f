//! Pipelined replication: openraft's `stream_append` over one StreamAppend gRPC stream.
//!
//! ```text
//!  openraft replication task ──AppendEntriesRequest stream──► window (≤ MAX_INFLIGHT_BYTES)
//!        ▲                                                        │ encode, note send time
//!        │ StreamAppendResult, in order                           ▼
//!  answers ◄── decode, match to the oldest request ◄── StreamAppend (bidi gRPC) ──► follower
//! ```
//!
//! openraft 0.10 hands each follower's replication task one request stream per session:
//! open-ended while the follower keeps up (`LogsSince`), so the stream lives as long as the
//! leadership and the follower's log agree. Requests go out as soon as openraft builds them;
//! the follower appends them in order and answers each once its entries are flushed, so the
//! leader never waits a round trip between two batches (what 0.9 did, one AppendEntries in
//! flight per follower).
//!
//! What is in flight is bounded: a request waits for permits of a [`MAX_INFLIGHT_BYTES`]
//! window (one permit per KiB of its encoded size) and gives them back when its answer
//! arrives. A follower that stops answering therefore stops the leader from reading more of
//! its log for it, instead of filling memory and HTTP/2 buffers.
//!
//! openraft itself stamps each request with its send time and counts an answer towards its
//! leader lease from that stamp, so the answers here are only matched, decoded and passed on.
//! The deadline (`RPCOption::hard_ttl`) applies to the oldest unanswered request: an idle
//! stream waits for openraft's next request without limit, a stream with a request older
//! than the deadline ends with `RPCError::Timeout`. Any other failure is `Unreachable`, and
//! openraft backs off and opens a new stream.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use konsul_proto::raft::v1 as pb;
use openraft::error::{RPCError, Unreachable};
use openraft::network::RPCTypes;
use openraft::raft::{AppendEntriesRequest, StreamAppendResult};
use prost::Message;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::{CallError, PeerClient, RpcResult};
use crate::faults;
use crate::raft::stages::{Stage, Stages};
use crate::raft::{TypeConfig, codec, lock};

/// Most bytes of encoded requests one follower's stream may have unanswered. Large enough
/// to keep a follower on a fast link busy through its fsyncs (several replication batches),
/// small enough that a stalled follower costs the leader little memory.
pub const MAX_INFLIGHT_BYTES: usize = 8 * 1024 * 1024;

/// Bytes per window permit: requests are counted in whole KiB (at least one).
const PERMIT_BYTES: usize = 1024;

/// Permits in a whole window.
pub(super) const WINDOW_PERMITS: usize = MAX_INFLIGHT_BYTES / PERMIT_BYTES;

/// One request sent and not answered yet.
struct Sent {
    at: Instant,
    /// Entries it carries (the `replicate` stage's items).
    entries: u64,
    /// Its share of the window, given back with its answer.
    _permits: OwnedSemaphorePermit,
}

/// The requests of one stream in the order they were sent.
type Unanswered = Arc<Mutex<VecDeque<Sent>>>;

/// The window permits a request of `encoded` bytes takes: its size in KiB rounded up, at
/// least one, at most the whole window (a request larger than the window goes alone).
pub(super) fn permits_for(encoded: usize) -> u32 {
    encoded.div_ceil(PERMIT_BYTES).clamp(1, WINDOW_PERMITS) as u32
}

impl PeerClient {
    /// Opens a StreamAppend call to the target carrying `input`, and returns its answers.
    pub(super) async fn open_append_stream<S>(
        &self,
        input: S,
        ttl: Duration,
    ) -> RpcResult<BoxStream<'static, RpcResult<StreamAppendResult<TypeConfig>>>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        let rpc_error = |e: CallError| self.rpc_error(RPCTypes::AppendEntries, e);
        let mut client = self
            .client
            .clone()
            .map_err(|m| rpc_error(CallError::Unreachable(m)))?;
        let unanswered: Unanswered = Arc::default();
        let sent_signal = Arc::new(Notify::new());
        let (requests_tx, requests_rx) = mpsc::channel(REQUEST_QUEUE);
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(
            Pump {
                window: Arc::new(Semaphore::new(WINDOW_PERMITS)),
                unanswered: unanswered.clone(),
                sent_signal: sent_signal.clone(),
                faults: self.faults.clone(),
                out: requests_tx,
            }
            .run(input, stopped),
        );
        let requests = ReceiverStream::new(requests_rx);
        let call = client.stream_append(self.request(requests));
        let answers = match tokio::time::timeout(ttl, call).await {
            Err(_elapsed) => return Err(rpc_error(CallError::Timeout(ttl))),
            Ok(Err(status)) => return Err(rpc_error(CallError::from_status(status, ttl))),
            Ok(Ok(resp)) => resp.into_inner(),
        };
        let reader = AnswerReader {
            answers,
            unanswered,
            sent_signal,
            ttl,
            client: self.answer_context(),
            _stop: stop,
        };
        Ok(futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            let (item, go_on) = reader.next().await?;
            Some((item, go_on.then_some(reader)))
        })
        .boxed())
    }

    /// What the answer side needs of this client, owned (the answers outlive the borrow).
    fn answer_context(&self) -> AnswerContext {
        AnswerContext {
            local_id: self.local_id,
            target: self.target,
            contact: self.contact.clone(),
            stages: self.stages.clone(),
        }
    }
}

/// The parts of a [`PeerClient`] the answer side uses.
struct AnswerContext {
    local_id: crate::raft::NodeId,
    target: crate::raft::NodeId,
    contact: super::LastContact,
    stages: Arc<Stages>,
}

/// Encoded requests waiting for the gRPC stream to take them. Few: the window, not this
/// queue, bounds what is in flight.
const REQUEST_QUEUE: usize = 16;

/// Moves openraft's requests into the gRPC stream: waits for window permits, encodes, and
/// notes each request as unanswered. It runs in its own task, so openraft's request stream is
/// only ever polled there, and it ends, dropping that stream, as soon as the answer side is
/// gone: openraft shares its replication state between a session's request stream and the
/// next session, so a stream left to the transport could go on taking requests meant for
/// the next one.
struct Pump {
    window: Arc<Semaphore>,
    unanswered: Unanswered,
    sent_signal: Arc<Notify>,
    faults: crate::faults::FaultPoints,
    out: mpsc::Sender<pb::StreamAppendRequest>,
}

impl Pump {
    async fn run<S>(self, mut input: S, mut stopped: oneshot::Receiver<()>)
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
    {
        loop {
            let req = tokio::select! {
                _ = &mut stopped => return,
                req = input.next() => match req {
                    Some(req) => req,
                    None => return,
                },
            };
            tokio::select! {
                _ = &mut stopped => return,
                sent = self.send(req) => if !sent {
                    return;
                },
            }
        }
    }

    /// Sends one request; false once the gRPC stream is gone.
    async fn send(&self, req: AppendEntriesRequest<TypeConfig>) -> bool {
        if req.prev_log_id.is_some() || !req.entries.is_empty() {
            self.faults.pause(faults::PEER_REPLICATE).await;
        }
        let entries = req.entries.len() as u64;
        let encoded = codec::encode_stream_request(req);
        let permits = self
            .window
            .clone()
            .acquire_many_owned(permits_for(encoded.encoded_len()))
            .await
            .expect("the window semaphore is never closed");
        lock(&self.unanswered).push_back(Sent {
            at: Instant::now(),
            entries,
            _permits: permits,
        });
        self.sent_signal.notify_one();
        self.out.send(encoded).await.is_ok()
    }
}

/// Reads the answers of one stream and matches each to the oldest unanswered request.
struct AnswerReader {
    answers: tonic::Streaming<pb::StreamAppendResponse>,
    unanswered: Unanswered,
    /// Woken when a request is sent, so an idle reader starts its deadline at once.
    sent_signal: Arc<Notify>,
    ttl: Duration,
    client: AnswerContext,
    /// Dropped with the reader: stops the [`Pump`].
    _stop: oneshot::Sender<()>,
}

impl AnswerReader {
    /// The next item for openraft and whether the stream goes on after it; `None` once the
    /// follower ended the stream.
    async fn next(&mut self) -> Option<(RpcResult<StreamAppendResult<TypeConfig>>, bool)> {
        let answer = loop {
            match self.oldest_sent() {
                // Idle: no deadline until a request goes out.
                None => tokio::select! {
                    _ = self.sent_signal.notified() => continue,
                    answer = self.answers.next() => break answer,
                },
                Some(oldest) => {
                    match tokio::time::timeout_at(oldest + self.ttl, self.answers.next()).await {
                        Ok(answer) => break answer,
                        Err(_elapsed) => {
                            let e = self.error(CallError::Timeout(self.ttl));
                            return Some((Err(e), false));
                        }
                    }
                }
            }
        };
        match answer? {
            Ok(answer) => Some(self.accept(answer)),
            Err(status) => {
                let e = CallError::from_status(status, self.ttl);
                Some((Err(self.error(e)), false))
            }
        }
    }

    /// When the oldest unanswered request was sent.
    fn oldest_sent(&self) -> Option<Instant> {
        lock(&self.unanswered).front().map(|s| s.at)
    }

    fn accept(
        &mut self,
        answer: pb::StreamAppendResponse,
    ) -> (RpcResult<StreamAppendResult<TypeConfig>>, bool) {
        let sent = lock(&self.unanswered).pop_front();
        let Some(sent) = sent else {
            let e = CallError::Unreachable("StreamAppend: an answer to no request".into());
            return (Err(self.error(e)), false);
        };
        let result = match codec::decode_stream_response(answer) {
            Ok(result) => result,
            Err(e) => return (Err(RPCError::Unreachable(Unreachable::new(&e))), false),
        };
        self.client.contact.record(self.client.target);
        self.client
            .stages
            .record(Stage::Replicate, sent.at.elapsed(), sent.entries);
        // Its window permits go back with it.
        drop(sent);
        let go_on = result.is_ok();
        (Ok(result), go_on)
    }

    fn error(&self, e: CallError) -> RPCError<TypeConfig> {
        e.into_rpc_error(
            self.client.local_id,
            self.client.target,
            RPCTypes::AppendEntries,
        )
    }
}
