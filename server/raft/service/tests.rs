//! Tests of the inbound service with real openraft nodes: each node is an `openraft::Raft`
//! over the redb log store (in memory), the fake state machine of [`fake_sm`], the outbound
//! [`PeerNetwork`] and this service on a `127.0.0.1:0` tonic server.

mod fake_sm;
mod stream_append;

use openraft::async_runtime::WatchReceiver;
use openraft::type_config::alias::LogIdOf;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use fake_sm::FakeSm;
use konsul_proto::raft::v1::raft_service_client::RaftServiceClient;
use openraft::error::{RPCError, ReplicationClosed};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest};
use openraft::type_config::alias::{CommittedLeaderIdOf, EntryOf, SnapshotMetaOf, SnapshotOf};
use openraft::vote::RaftLeaderId as _;
use openraft::{
    Config, EntryPayload, LogId, Membership, RaftLogReader, ServerState, SnapshotMeta,
    StoredMembership, Vote,
};
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::TcpListenerStream;

use super::*;
use crate::deps::{Deps, MemoryDisk};
use crate::raft::log_store::{LogOptions, LogStore};
use crate::raft::network::{self, PeerNetwork, TcpDialer};
use crate::raft::{Member, NodeId};
use crate::store::Command;

/// One running node: its Raft, and handles on its storage and incoming-snapshot directory.
struct TestNode {
    id: NodeId,
    member: Member,
    raft: openraft::Raft<TypeConfig, FakeSm>,
    sm: FakeSm,
    log: LogStore,
    incoming: tempfile::TempDir,
    _log_dir: tempfile::TempDir,
    /// The node's shutdown signal, as the server hands it to the service.
    stop: tokio::sync::watch::Sender<bool>,
}

async fn start_node(id: NodeId) -> TestNode {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let config = Config {
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1000,
        install_snapshot_timeout: 5000,
        max_in_snapshot_log_to_keep: 0,
        ..Default::default()
    };
    let deps = Deps {
        disk: Arc::new(MemoryDisk),
        ..Deps::production()
    };
    let log_dir = tempfile::tempdir().unwrap();
    let log = LogStore::open_with(log_dir.path(), &deps, LogOptions::small())
        .await
        .unwrap();
    let sm = FakeSm::default();
    let network = PeerNetwork::new(id, Arc::new(TcpDialer::default()));
    let config = Arc::new(config.validate().unwrap());
    let raft = openraft::Raft::new(id, config, network, log.clone(), sm.clone())
        .await
        .unwrap();
    let incoming = tempfile::tempdir().unwrap();
    let identity = Identity {
        name: format!("n{id}"),
        incarnation: 1000 + id,
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let service = RaftPeerService::new(raft.clone(), identity, incoming.path()).with_stop(stopping);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.into_server())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let member = Member {
        name: format!("n{id}"),
        raft_addr: addr.to_string(),
        client_addr: String::new(),
        incarnation: 1000 + id,
    };
    TestNode {
        id,
        member,
        raft,
        sm,
        log,
        incoming,
        _log_dir: log_dir,
        stop,
    }
}

fn log_id(term: u64, leader: NodeId, index: u64) -> LogIdOf<TypeConfig> {
    LogId::new(CommittedLeaderIdOf::<TypeConfig>::new(term, leader), index)
}

fn nobody(id: NodeId) -> Member {
    // Port 1: nothing listens, so an election this node starts simply fails.
    Member {
        name: format!("n{id}"),
        raft_addr: "127.0.0.1:1".into(),
        client_addr: String::new(),
        incarnation: 0,
    }
}

/// Waits until the removal tasks of finished transfers have emptied the directory.
async fn assert_no_incoming_files_left(node: &TestNode) {
    for _ in 0..50 {
        if std::fs::read_dir(node.incoming.path())
            .unwrap()
            .next()
            .is_none()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("incoming snapshot files were not removed");
}

#[tokio::test]
async fn vote_append_and_snapshot_reach_openraft_through_the_service() {
    let node = start_node(1).await;
    let mut leader = PeerNetwork::new(2, Arc::new(TcpDialer::default()));
    let mut client = leader.new_client(1, &node.member).await;
    let option = || RPCOption::new(Duration::from_secs(5));

    let granted = client
        .vote(VoteRequest::new(Vote::new(1, 2), None), option())
        .await
        .unwrap();
    assert!(granted.vote_granted, "{granted:?}");

    let members = BTreeMap::from([(1, node.member.clone()), (2, nobody(2))]);
    let membership = Membership::new(vec![[1, 2].into()], members).unwrap();
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(1, 2),
        prev_log_id: None,
        entries: vec![EntryOf::<TypeConfig> {
            log_id: log_id(1, 2, 0),
            payload: EntryPayload::Membership(membership.clone()),
        }],
        leader_commit: None,
    };
    let appended = client.append_entries(append, option()).await.unwrap();
    assert_eq!(appended, AppendEntriesResponse::Success);
    let stored = node.log.clone().try_get_log_entries(..).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.log_id).collect::<Vec<_>>(),
        vec![log_id(1, 2, 0)]
    );

    // A snapshot over two chunks, sent from a file whose cursor sits at its end.
    let data: Vec<u8> = (0..network::SNAPSHOT_CHUNK_BYTES + 4321)
        .map(|i| i as u8)
        .collect();
    let mut file = File::from_std(tempfile::tempfile().unwrap());
    file.write_all(&data).await.unwrap();
    let meta: SnapshotMetaOf<TypeConfig> = SnapshotMeta {
        last_log_id: Some(log_id(1, 2, 5)),
        last_membership: StoredMembership::new(Some(log_id(1, 2, 0)), membership),
    };
    let snapshot: SnapshotOf<TypeConfig, File> = Snapshot {
        meta: meta.clone(),
        snapshot: file,
    };
    let cancel = std::future::pending::<ReplicationClosed>();
    let vote = Vote::new_committed(1, 2);
    let answer = client
        .full_snapshot(vote, snapshot, cancel, option())
        .await
        .unwrap();
    assert_eq!(answer.vote, vote);
    {
        let st = node.sm.state();
        assert_eq!(st.installed.len(), 1);
        assert_eq!(st.installed[0].0, meta);
        assert!(
            st.installed[0].1 == data,
            "installed bytes differ from the sent file"
        );
    }
    assert_no_incoming_files_left(&node).await;
}

#[tokio::test]
async fn calls_meant_for_another_incarnation_are_refused_before_openraft() {
    let node = start_node(1).await;
    let mut leader = PeerNetwork::new(2, Arc::new(TcpDialer::default()));
    let option = || RPCOption::new(Duration::from_secs(5));

    // The membership remembers an earlier incarnation: the node's data dir was wiped since.
    let remembered = Member {
        incarnation: 999,
        ..node.member.clone()
    };
    let mut stale = leader.new_client(1, &remembered).await;
    let vote = stale
        .vote(VoteRequest::new(Vote::new(1, 2), None), option())
        .await;
    assert!(matches!(vote, Err(RPCError::Unreachable(_))), "{vote:?}");
    let append = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(1, 2),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    let appended = stale.append_entries(append, option()).await;
    assert!(
        matches!(appended, Err(RPCError::Unreachable(_))),
        "{appended:?}"
    );
    let snapshot: SnapshotOf<TypeConfig, File> = Snapshot {
        meta: SnapshotMeta::default(),
        snapshot: File::from_std(tempfile::tempfile().unwrap()),
    };
    let cancel = std::future::pending::<ReplicationClosed>();
    let installed = stale
        .full_snapshot(Vote::new_committed(1, 2), snapshot, cancel, option())
        .await;
    assert!(installed.is_err(), "{installed:?}");
    let vote = node.raft.metrics().borrow_watched().vote;
    assert_eq!(
        (vote.leader_id().term, vote.is_committed()),
        (0, false),
        "openraft never saw the refused calls: {vote:?}"
    );

    // What the caller is told, on the wire.
    let mut raw = RaftServiceClient::connect(format!("http://{}", node.member.raft_addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(codec::encode_vote_request(&VoteRequest::new(
        Vote::new(1, 2),
        None,
    )));
    request
        .metadata_mut()
        .insert(TARGET_INCARNATION_METADATA, 999.into());
    let status = raw.vote(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status
            .message()
            .contains("this node is n1 incarnation 1001, the caller expects incarnation 999"),
        "{status:?}"
    );

    // No metadata at all (an older peer): served as before.
    let granted = raw
        .vote(codec::encode_vote_request(&VoteRequest::new(
            Vote::new(1, 2),
            None,
        )))
        .await
        .unwrap()
        .into_inner();
    assert!(granted.vote_granted, "{granted:?}");

    let me = raw
        .identity(pb::IdentityRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((me.name.as_str(), me.incarnation), ("n1", 1001));
}

fn header(size: u64) -> pb::InstallSnapshotRequest {
    let meta: SnapshotMetaOf<TypeConfig> = SnapshotMeta {
        last_log_id: Some(log_id(1, 2, 5)),
        ..Default::default()
    };
    let offer = codec::SnapshotOffer {
        vote: Vote::new_committed(1, 2),
        meta,
        size,
    };
    pb::InstallSnapshotRequest {
        part: Some(Part::Header(codec::encode_snapshot_header(&offer))),
    }
}

fn chunk(len: usize) -> pb::InstallSnapshotRequest {
    pb::InstallSnapshotRequest {
        part: Some(Part::Chunk(vec![7; len])),
    }
}

#[tokio::test]
async fn malformed_or_incomplete_snapshot_streams_are_refused_and_not_installed() {
    let node = start_node(1).await;
    let url = format!("http://{}", node.member.raft_addr);
    let mut raw = RaftServiceClient::connect(url).await.unwrap();
    let cases: Vec<(&str, Vec<pb::InstallSnapshotRequest>, tonic::Code)> = vec![
        ("empty stream", vec![], tonic::Code::InvalidArgument),
        (
            "chunk first",
            vec![chunk(4), header(4)],
            tonic::Code::InvalidArgument,
        ),
        ("short", vec![header(10), chunk(5)], tonic::Code::Aborted),
        (
            "long",
            vec![header(2), chunk(5)],
            tonic::Code::InvalidArgument,
        ),
        (
            "two headers",
            vec![header(0), header(0)],
            tonic::Code::InvalidArgument,
        ),
        (
            "empty part",
            vec![header(1), pb::InstallSnapshotRequest { part: None }],
            { tonic::Code::InvalidArgument },
        ),
    ];
    for (name, messages, code) in cases {
        let status = raw
            .install_snapshot(tokio_stream::iter(messages))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
    assert!(node.sm.state().installed.is_empty());
    assert_no_incoming_files_left(&node).await;

    let status = raw.vote(pb::VoteRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("VoteRequest.vote"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_elects_replicates_and_catches_a_learner_up_by_snapshot() {
    let nodes = vec![
        start_node(1).await,
        start_node(2).await,
        start_node(3).await,
    ];
    let members: BTreeMap<_, _> = nodes.iter().map(|n| (n.id, n.member.clone())).collect();
    nodes[0].raft.initialize(members).await.unwrap();

    let wait = |n: &TestNode| n.raft.wait(Some(Duration::from_secs(20)));
    let m = wait(&nodes[0])
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .unwrap();
    let leader = nodes
        .iter()
        .find(|n| Some(n.id) == m.current_leader)
        .unwrap();
    wait(leader)
        .state(ServerState::Leader, "leader sees itself lead")
        .await
        .unwrap();
    // openraft 0.10 takes writes only once a quorum has acknowledged the new leader.
    wait(leader)
        .metrics(
            |m| m.last_quorum_acked.is_some(),
            "a quorum acked the leader",
        )
        .await
        .unwrap();

    let mut last = 0;
    for i in 0..5u8 {
        let cmd = Command::KvSet {
            key: format!("k{i}"),
            value: vec![i],
            flags: 0,
        };
        last = leader.raft.client_write(cmd).await.unwrap().log_id.index;
    }
    for n in &nodes {
        wait(n)
            .applied_index_at_least(Some(last), "replicated")
            .await
            .unwrap();
        assert_eq!(n.sm.state().applied_commands.len(), 5, "node {}", n.id);
    }

    // Snapshot and purge the leader's log, so a new member can only catch up by snapshot.
    leader.raft.trigger().snapshot().await.unwrap();
    wait(leader)
        .snapshot(log_id_of(leader, last), "snapshot built")
        .await
        .unwrap();
    leader.raft.trigger().purge_log(last).await.unwrap();
    wait(leader)
        .purged(Some(log_id_of(leader, last)), "log purged")
        .await
        .unwrap();

    let learner = start_node(4).await;
    leader
        .raft
        .add_learner(4, learner.member.clone(), true)
        .await
        .unwrap();
    wait(&learner)
        .applied_index_at_least(Some(last), "learner caught up")
        .await
        .unwrap();
    let st = learner.sm.state();
    assert_eq!(
        st.installed.len(),
        1,
        "the learner got exactly one snapshot"
    );
    let sent = leader.sm.state().snapshot.clone().unwrap();
    assert_eq!(st.installed[0].0, sent.0);
    assert!(
        st.installed[0].1 == sent.1,
        "the learner installed different bytes"
    );
    assert!(
        sent.1.len() > network::SNAPSHOT_CHUNK_BYTES,
        "the snapshot spans chunks"
    );
}

/// The id of the entry at `index` as the node applied it.
fn log_id_of(node: &TestNode, index: u64) -> LogIdOf<TypeConfig> {
    let applied = node.raft.metrics().borrow_watched().last_applied.unwrap();
    assert_eq!(applied.index, index);
    applied
}
