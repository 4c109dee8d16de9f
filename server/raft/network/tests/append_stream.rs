//! Tests of pipelined replication (`network/append_stream.rs`) against the scripted peer:
//! requests go out without waiting for answers, answers come back in order, the window
//! bounds what is unanswered, and the deadline applies only while something is.

use std::time::Duration;

use futures::StreamExt;
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::AppendEntriesRequest;
use openraft::type_config::alias::{EntryOf, LogIdOf};
use openraft::vote::RaftLeaderId as _;
use openraft::{EntryPayload, LogId, Vote};
use prost::Message;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{ScriptedPeer, client_for, member, start_peer};
use crate::raft::network::append_stream::{WINDOW_PERMITS, permits_for};
use crate::raft::network::{PeerNetwork, TcpDialer};
use crate::raft::{TypeConfig, codec};
use crate::store::Command;
use openraft::error::RPCError;
use std::sync::Arc;

type Requests = mpsc::UnboundedSender<AppendEntriesRequest<TypeConfig>>;

fn log_id(index: u64) -> LogIdOf<TypeConfig> {
    LogId::new(
        openraft::type_config::alias::CommittedLeaderIdOf::<TypeConfig>::new(1, 1),
        index,
    )
}

/// The request that appends entry `index` carrying a value of `value_len` bytes.
fn append(index: u64, value_len: usize) -> AppendEntriesRequest<TypeConfig> {
    let entry: EntryOf<TypeConfig> = openraft::Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(Command::KvSet {
            key: format!("k{index}"),
            value: vec![7; value_len],
            flags: 0,
        }),
    };
    AppendEntriesRequest {
        vote: Vote::new_committed(1, 1),
        prev_log_id: index.checked_sub(1).filter(|i| *i > 0).map(log_id),
        entries: vec![entry],
        leader_commit: None,
    }
}

fn requests() -> (
    Requests,
    UnboundedReceiverStream<AppendEntriesRequest<TypeConfig>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, UnboundedReceiverStream::new(rx))
}

/// A peer that answers only when the returned semaphore gets permits.
fn holding_peer() -> (ScriptedPeer, Arc<Semaphore>) {
    let permits = Arc::new(Semaphore::new(0));
    let peer = ScriptedPeer {
        answer_permits: Some(permits.clone()),
        ..Default::default()
    };
    (peer, permits)
}

/// Polls until the peer has received `n` requests, for at most 10 s.
async fn wait_received(peer: &ScriptedPeer, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = peer.appended.lock().unwrap().len();
        if got >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the peer received {got} of {n} requests"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn requests_go_out_before_answers_and_answers_come_back_in_order() {
    let (peer, permits) = holding_peer();
    let mut client = client_for(start_peer(peer.clone()).await).await;
    let (tx, input) = requests();
    let option = RPCOption::new(Duration::from_secs(10));
    let mut answers = client.stream_append(input, option).await.unwrap();
    for index in 1..=3 {
        tx.send(append(index, 16)).unwrap();
    }
    // All three reach the peer while it has answered none: one call at a time would stall
    // after the first.
    wait_received(&peer, 3).await;
    permits.add_permits(3);
    for index in 1..=3 {
        let answer = answers.next().await.expect("an answer");
        assert_eq!(answer.unwrap(), Ok(Some(log_id(index))));
    }
}

#[tokio::test]
async fn the_window_bounds_the_unanswered_bytes() {
    let (peer, permits) = holding_peer();
    let mut client = client_for(start_peer(peer.clone()).await).await;
    let (tx, input) = requests();
    let option = RPCOption::new(Duration::from_secs(60));
    let mut answers = client.stream_append(input, option).await.unwrap();

    let value_len = 1024 * 1024;
    let size = codec::encode_stream_request(append(1, value_len)).encoded_len();
    let fits = (WINDOW_PERMITS / permits_for(size) as usize).max(1);
    assert!(fits >= 2, "a window of one request proves nothing");
    for index in 1..=(fits as u64 + 3) {
        tx.send(append(index, value_len)).unwrap();
    }
    wait_received(&peer, fits).await;
    // Nothing more may go out while those are unanswered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.appended.lock().unwrap().len(), fits);
    // One answer, once read, frees room for one more request.
    permits.add_permits(1);
    let answer = answers.next().await.expect("an answer");
    assert_eq!(answer.unwrap(), Ok(Some(log_id(1))));
    wait_received(&peer, fits + 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(peer.appended.lock().unwrap().len(), fits + 1);
}

#[test]
fn every_request_takes_at_least_one_permit_and_at_most_the_window() {
    assert_eq!(permits_for(0), 1);
    assert_eq!(permits_for(1), 1);
    assert_eq!(permits_for(1024), 1);
    assert_eq!(permits_for(1025), 2);
    assert_eq!(permits_for(usize::MAX / 2), WINDOW_PERMITS as u32);
}

#[tokio::test]
async fn an_unanswered_request_times_out_and_ends_the_stream() {
    let (peer, _permits) = holding_peer();
    let mut client = client_for(start_peer(peer.clone()).await).await;
    let (tx, input) = requests();
    let option = RPCOption::new(Duration::from_millis(200));
    let mut answers = client.stream_append(input, option).await.unwrap();
    tx.send(append(1, 16)).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), answers.next())
        .await
        .expect("the deadline must end the wait");
    assert!(
        matches!(answer, Some(Err(RPCError::Timeout(_)))),
        "{answer:?}"
    );
    assert!(answers.next().await.is_none(), "the stream must end");
}

#[tokio::test]
async fn an_idle_stream_has_no_deadline() {
    let peer = ScriptedPeer::default();
    let mut client = client_for(start_peer(peer.clone()).await).await;
    let (tx, input) = requests();
    let option = RPCOption::new(Duration::from_millis(100));
    let mut answers = client.stream_append(input, option).await.unwrap();
    // Four deadlines without a request: no timeout, no answer.
    let idle = tokio::time::timeout(Duration::from_millis(400), answers.next()).await;
    assert!(idle.is_err(), "an idle stream yielded {idle:?}");
    tx.send(append(1, 16)).unwrap();
    let answer = answers.next().await.expect("an answer");
    assert_eq!(answer.unwrap(), Ok(Some(log_id(1))));
}

#[tokio::test]
async fn heartbeats_travel_as_unary_calls() {
    // The scripted peer fails every unary AppendEntries and records every streamed one.
    let peer = ScriptedPeer::default();
    let addr = start_peer(peer.clone()).await;
    let mut net = PeerNetwork::new(1, Arc::new(TcpDialer::default()));
    let mut heartbeats = net.new_heartbeat_client(2, &member(addr)).await;
    let (tx, input) = requests();
    tx.send(append(1, 16)).unwrap();
    let option = RPCOption::new(Duration::from_secs(5));
    let mut answers = heartbeats.stream_append(input, option).await.unwrap();
    let answer = answers.next().await.expect("an answer");
    assert!(
        matches!(answer, Err(RPCError::Unreachable(_))),
        "{answer:?}"
    );
    assert!(peer.appended.lock().unwrap().is_empty());
}
