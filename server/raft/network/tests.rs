//! Tests of the outbound transport against a scripted in-process peer (no Raft): channel
//! reuse, error mapping, deadlines, back-off and snapshot streaming.

// openraft 0.10 names its log types through the type config; short names for the tests.
use openraft::vote::RaftLeaderId as _;
type CommittedLeaderId = openraft::type_config::alias::CommittedLeaderIdOf<crate::raft::TypeConfig>;
use crate::raft::{Member, TypeConfig};
use openraft::{LogId, Vote};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use konsul_proto::raft::v1::raft_service_server::{RaftService, RaftServiceServer};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::{SnapshotMeta, StoredMembership};
use tokio::fs::File;
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::TcpListenerStream;

use super::*;
use futures::StreamExt;
use konsul_proto::raft::v1::install_snapshot_request::Part;
use tokio::io::AsyncRead;

/// The target metadata of one call: `konsul-target-node`, `konsul-target-incarnation`.
type Addressed = (Option<String>, Option<String>);

/// A peer that answers votes after `delay` and records every snapshot stream it receives.
#[derive(Default, Clone)]
struct ScriptedPeer {
    delay: Duration,
    /// How long the peer takes to consume each snapshot message.
    chunk_delay: Duration,
    received: Arc<Mutex<Vec<pb::InstallSnapshotRequest>>>,
    /// Snapshot streams that ended cleanly with as many bytes as their header announced:
    /// the ones a real peer would install.
    complete: Arc<AtomicUsize>,
    /// The target metadata (node, incarnation) of every vote received.
    addressed: Arc<Mutex<Vec<Addressed>>>,
    /// Every StreamAppend request received, with its encoded size.
    appended: Arc<Mutex<Vec<(pb::AppendEntriesRequest, usize)>>>,
    /// When set, each StreamAppend answer waits for a permit of its own; unset, the peer
    /// answers at once.
    answer_permits: Option<Arc<tokio::sync::Semaphore>>,
}

/// The log id a StreamAppend answer reports as flushed for `req`: its last entry's, or
/// `prev_log_id` when it carries none.
fn flushed_by(req: &pb::AppendEntriesRequest) -> Option<pb::LogId> {
    req.entries
        .last()
        .map(|e| {
            let e = codec::decode_entry(e.clone()).unwrap();
            codec::encode_log_id(&e.log_id)
        })
        .or(req.prev_log_id)
}

#[tonic::async_trait]
impl RaftService for ScriptedPeer {
    type StreamAppendStream = crate::raft::service::AnswerStream;

    /// Records every request as it arrives and answers each, in order, once
    /// `answer_permits` lets it.
    async fn stream_append(
        &self,
        request: tonic::Request<tonic::Streaming<pb::StreamAppendRequest>>,
    ) -> Result<tonic::Response<Self::StreamAppendStream>, tonic::Status> {
        let mut incoming = request.into_inner();
        let (to_answer, mut answer_queue) = tokio::sync::mpsc::unbounded_channel();
        let appended = self.appended.clone();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = incoming.message().await {
                let size = prost::Message::encoded_len(&msg);
                let req = msg.append.unwrap();
                appended.lock().unwrap().push((req.clone(), size));
                if to_answer.send(req).is_err() {
                    return;
                }
            }
        });
        let (answers_tx, answers_rx) = tokio::sync::mpsc::channel(1024);
        let permits = self.answer_permits.clone();
        tokio::spawn(async move {
            while let Some(req) = answer_queue.recv().await {
                if let Some(permits) = &permits {
                    permits.acquire().await.unwrap().forget();
                }
                let answer = pb::StreamAppendResponse {
                    result: Some(pb::stream_append_response::Result::Flushed(pb::Flushed {
                        log_id: flushed_by(&req),
                    })),
                };
                if answers_tx.send(Ok(answer)).await.is_err() {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(
            tokio_stream::wrappers::ReceiverStream::new(answers_rx).boxed(),
        ))
    }

    async fn vote(
        &self,
        request: tonic::Request<pb::VoteRequest>,
    ) -> Result<tonic::Response<pb::VoteResponse>, tonic::Status> {
        tokio::time::sleep(self.delay).await;
        let meta = request.metadata();
        let get = |k: &str| meta.get(k).map(|v| v.to_str().unwrap().to_owned());
        self.addressed
            .lock()
            .unwrap()
            .push((get(TARGET_NODE_METADATA), get(TARGET_INCARNATION_METADATA)));
        let req = request.into_inner();
        Ok(tonic::Response::new(pb::VoteResponse {
            vote: req.vote,
            vote_granted: true,
            last_log_id: req.last_log_id,
        }))
    }

    async fn append_entries(
        &self,
        _request: tonic::Request<pb::AppendEntriesRequest>,
    ) -> Result<tonic::Response<pb::AppendEntriesResponse>, tonic::Status> {
        Err(tonic::Status::internal(
            "scripted peer: append_entries fails",
        ))
    }

    async fn install_snapshot(
        &self,
        request: tonic::Request<tonic::Streaming<pb::InstallSnapshotRequest>>,
    ) -> Result<tonic::Response<pb::InstallSnapshotResponse>, tonic::Status> {
        let mut stream = request.into_inner();
        let mut vote = None;
        while let Some(msg) = stream.message().await? {
            tokio::time::sleep(self.chunk_delay).await;
            if let Some(Part::Header(h)) = &msg.part {
                vote = h.vote;
            }
            self.received.lock().unwrap().push(msg);
        }
        let received = self.received.lock().unwrap();
        let announced = received.iter().find_map(|m| match &m.part {
            Some(Part::Header(h)) => Some(h.size),
            _ => None,
        });
        let delivered: usize = received
            .iter()
            .map(|m| match &m.part {
                Some(Part::Chunk(c)) => c.len(),
                _ => 0,
            })
            .sum();
        if announced == Some(delivered as u64) {
            self.complete.fetch_add(1, Ordering::SeqCst);
        }
        Ok(tonic::Response::new(pb::InstallSnapshotResponse { vote }))
    }

    /// Like a node from before the Identity RPC.
    async fn identity(
        &self,
        _request: tonic::Request<pb::IdentityRequest>,
    ) -> Result<tonic::Response<pb::IdentityResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("scripted peer: no Identity"))
    }

    async fn transfer_leader(
        &self,
        _request: tonic::Request<pb::TransferLeaderRequest>,
    ) -> Result<tonic::Response<pb::TransferLeaderResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented(
            "scripted peer: no TransferLeader",
        ))
    }
}

async fn start_peer(peer: ScriptedPeer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RaftServiceServer::new(peer))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// Snapshot files must be readable (the sender reads them) and writable (the receiver fills
/// them): `File::create` alone opens write-only.
async fn rw_file(path: &std::path::Path) -> File {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(true);
    options.open(path).await.unwrap()
}

fn member(addr: impl ToString) -> Member {
    Member {
        name: "peer".into(),
        raft_addr: addr.to_string(),
        client_addr: String::new(),
        incarnation: 0,
    }
}

async fn client_for(addr: impl ToString) -> PeerClient {
    let mut net = PeerNetwork::new(1, Arc::new(TcpDialer::default()));
    net.new_client(2, &member(addr)).await
}

fn vote_request() -> VoteRequest<TypeConfig> {
    VoteRequest::new(
        Vote::new(3, 1),
        Some(LogId::new(CommittedLeaderId::new(2, 1), 9)),
    )
}

/// Counts dials, delegating to TCP.
#[derive(Default)]
struct CountingDialer(AtomicUsize);

impl Dialer for CountingDialer {
    fn dial(&self, addr: &str) -> crate::Result<Channel> {
        self.0.fetch_add(1, Ordering::SeqCst);
        TcpDialer::default().dial(addr)
    }
}

#[tokio::test]
async fn one_channel_per_peer_address_is_shared_by_clients() {
    let dialer = Arc::new(CountingDialer::default());
    let mut net = PeerNetwork::new(1, dialer.clone());
    net.new_client(2, &member("127.0.0.1:7002")).await;
    net.new_client(2, &member("127.0.0.1:7002")).await;
    net.clone().new_client(2, &member("127.0.0.1:7002")).await;
    assert_eq!(dialer.0.load(Ordering::SeqCst), 1);
    net.new_client(3, &member("127.0.0.1:7003")).await;
    assert_eq!(dialer.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn votes_round_trip_through_a_peer() {
    let addr = start_peer(ScriptedPeer::default()).await;
    let mut client = client_for(addr).await;
    let option = RPCOption::new(Duration::from_secs(5));
    let resp = client.vote(vote_request(), option).await.unwrap();
    assert!(resp.vote_granted);
    assert_eq!(
        (resp.vote, resp.last_log_id),
        (vote_request().vote, vote_request().last_log_id)
    );
}

#[tokio::test]
async fn every_call_names_the_target_member_and_its_known_incarnation() {
    let peer = ScriptedPeer::default();
    let addr = start_peer(peer.clone()).await;
    let mut net = PeerNetwork::new(1, Arc::new(TcpDialer::default()));
    let option = || RPCOption::new(Duration::from_secs(5));
    let known = Member {
        incarnation: 77,
        ..member(addr)
    };
    net.new_client(2, &known)
        .await
        .vote(vote_request(), option())
        .await
        .unwrap();
    // Incarnation 0 (recorded before incarnations existed) is not sent: nothing to check.
    net.new_client(2, &member(addr))
        .await
        .vote(vote_request(), option())
        .await
        .unwrap();
    assert_eq!(
        *peer.addressed.lock().unwrap(),
        vec![
            (Some("peer".to_owned()), Some("77".to_owned())),
            (Some("peer".to_owned()), None),
        ]
    );
}

#[tokio::test]
async fn identity_of_an_old_peer_is_unknown_and_of_a_dead_one_an_error() {
    let net = PeerNetwork::new(1, Arc::new(TcpDialer::default()));
    let addr = start_peer(ScriptedPeer::default()).await;
    let old = net
        .identity(&addr.to_string(), Duration::from_secs(5))
        .await;
    assert!(matches!(old, Ok(None)), "{old:?}");
    let dead = net.identity("127.0.0.1:1", Duration::from_secs(5)).await;
    let err = dead.unwrap_err();
    assert!(matches!(err, crate::Error::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn a_slow_peer_is_a_timeout_and_a_dead_one_is_unreachable() {
    let slow = ScriptedPeer {
        delay: Duration::from_secs(5),
        ..Default::default()
    };
    let mut client = client_for(start_peer(slow).await).await;
    let err = client
        .vote(vote_request(), RPCOption::new(Duration::from_millis(200)))
        .await;
    assert!(matches!(err, Err(RPCError::Timeout(_))), "{err:?}");

    // Nothing listens on port 1; a bad address never even dials.
    for addr in ["127.0.0.1:1", "not a host:port"] {
        let mut client = client_for(addr).await;
        let err = client
            .vote(vote_request(), RPCOption::new(Duration::from_secs(2)))
            .await;
        assert!(
            matches!(err, Err(RPCError::Unreachable(_))),
            "{addr}: {err:?}"
        );
    }

    // A peer that answers with an error status is backed off from, too.
    let mut client = client_for(start_peer(ScriptedPeer::default()).await).await;
    let heartbeat = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(3, 1),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    let err = client
        .append_entries(heartbeat, RPCOption::new(Duration::from_secs(2)))
        .await;
    assert!(matches!(err, Err(RPCError::Unreachable(_))), "{err:?}");
}

#[tokio::test]
async fn backoff_doubles_up_to_the_cap() {
    let mut net = PeerNetwork::new(1, Arc::new(TcpDialer::default()))
        .with_backoff(Duration::from_millis(100), Duration::from_millis(500));
    let client = net.new_client(2, &member("127.0.0.1:7002")).await;
    let steps: Vec<u64> = client
        .backoff()
        .expect("a back-off")
        .take(6)
        .map(|d| d.as_millis() as u64)
        .collect();
    assert_eq!(steps, vec![100, 200, 400, 500, 500, 500]);
}

#[tokio::test]
async fn full_snapshot_streams_the_file_from_the_start_in_bounded_chunks() {
    let peer = ScriptedPeer::default();
    let mut client = client_for(start_peer(peer.clone()).await).await;

    // 2.5 chunks of patterned data; the file's cursor is left at the end on purpose.
    let data: Vec<u8> = (0..SNAPSHOT_CHUNK_BYTES * 5 / 2)
        .map(|i| (i % 251) as u8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut file = rw_file(&dir.path().join("snap")).await;
    file.write_all(&data).await.unwrap();
    let meta: SnapshotMetaOf<TypeConfig> = SnapshotMeta {
        last_log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), 40)),
        last_membership: StoredMembership::default(),
    };
    let snapshot: SnapshotOf<TypeConfig, File> = openraft::Snapshot {
        meta: meta.clone(),
        snapshot: file,
    };
    let vote = Vote::new_committed(2, 1);

    let cancel = std::future::pending::<ReplicationClosed>();
    let option = RPCOption::new(Duration::from_secs(5));
    let resp = client
        .full_snapshot(vote, snapshot, cancel, option)
        .await
        .unwrap();
    assert_eq!(resp.vote, vote);

    let received = peer.received.lock().unwrap().clone();
    let Some(Part::Header(header)) = &received[0].part else {
        panic!("header first")
    };
    let size = data.len() as u64;
    let offer = codec::SnapshotOffer { vote, meta, size };
    assert_eq!(
        codec::decode_snapshot_header(header.clone()).unwrap(),
        offer
    );
    let chunks: Vec<Vec<u8>> = received[1..]
        .iter()
        .map(|m| match &m.part {
            Some(Part::Chunk(c)) => c.clone(),
            other => panic!("expected a chunk, got {other:?}"),
        })
        .collect();
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(|c| c.len() <= SNAPSHOT_CHUNK_BYTES));
    assert_eq!(chunks.concat(), data);
}

#[tokio::test]
async fn full_snapshot_stops_when_replication_is_cancelled() {
    // The peer never answers, so only the cancel signal can end the call.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = client_for(listener.local_addr().unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = rw_file(&dir.path().join("snap")).await;
    let snapshot: SnapshotOf<TypeConfig, File> = openraft::Snapshot {
        meta: SnapshotMeta::default(),
        snapshot: file,
    };
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ReplicationClosed::new("test over")
    };
    let option = RPCOption::new(Duration::from_secs(30));
    let err = client
        .full_snapshot(Vote::new(1, 1), snapshot, cancel, option)
        .await;
    assert!(matches!(err, Err(StreamingError::Closed(_))), "{err:?}");
}

#[tokio::test]
async fn a_cancelled_transfer_never_reaches_the_announced_size() {
    let peer = ScriptedPeer {
        chunk_delay: Duration::from_millis(100),
        ..Default::default()
    };
    let mut client = client_for(start_peer(peer.clone()).await).await;
    let dir = tempfile::tempdir().unwrap();
    let mut file = rw_file(&dir.path().join("snap")).await;
    file.write_all(&vec![1; SNAPSHOT_CHUNK_BYTES * 8])
        .await
        .unwrap();
    let snapshot: SnapshotOf<TypeConfig, File> = openraft::Snapshot {
        meta: SnapshotMeta::default(),
        snapshot: file,
    };
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        ReplicationClosed::new("leader stepped down")
    };
    let option = RPCOption::new(Duration::from_secs(5));
    let err = client
        .full_snapshot(Vote::new(1, 1), snapshot, cancel, option)
        .await;
    assert!(matches!(err, Err(StreamingError::Closed(_))), "{err:?}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !peer.received.lock().unwrap().is_empty(),
        "the stream never started"
    );
    // tonic reports the cancelled stream as a clean end; only the size check tells.
    assert_eq!(
        peer.complete.load(Ordering::SeqCst),
        0,
        "the peer saw a complete stream"
    );
}

/// A disk that fails every read.
struct FailingReader;

impl AsyncRead for FailingReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Err(std::io::Error::other("disk on fire")))
    }
}

#[tokio::test]
async fn a_read_error_is_reported_and_the_stream_never_ends() {
    let (failed_tx, failed_rx) = oneshot::channel();
    let header = pb::SnapshotHeader {
        size: 10,
        ..Default::default()
    };
    let stream = snapshot_stream(header, FailingReader, failed_tx, Arc::default());
    tokio::pin!(stream);
    let first = stream.next().await.unwrap();
    assert!(matches!(first.part, Some(Part::Header(_))));
    let next = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(next.is_err(), "the stream must stall, not end: {next:?}");
    assert_eq!(failed_rx.await.unwrap().to_string(), "disk on fire");
}

mod append_stream;
