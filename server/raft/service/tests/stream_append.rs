//! Tests of the StreamAppend side of the service: in-order answers from openraft, the
//! refusal of an undecodable request, and answer streams that end with the node.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use konsul_proto::raft::v1 as pb;
use konsul_proto::raft::v1::raft_service_client::RaftServiceClient;
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::type_config::alias::{EntryOf, LogIdOf};
use openraft::{EntryPayload, Membership, RaftLogReader, Vote};

use std::sync::Arc;

use super::{TestNode, log_id, nobody, start_node};
use crate::raft::TypeConfig;
use crate::raft::codec;
use crate::raft::network::{PeerNetwork, TcpDialer};

/// Node 2 wins node 1's vote, so node 1 takes appends from it.
async fn leader_for(node: &TestNode) {
    let mut leader = PeerNetwork::new(2, Arc::new(TcpDialer::default()));
    let mut client = leader.new_client(1, &node.member).await;
    let option = RPCOption::new(Duration::from_secs(5));
    let granted = client
        .vote(VoteRequest::new(Vote::new(1, 2), None), option)
        .await
        .unwrap();
    assert!(granted.vote_granted, "{granted:?}");
}

/// Leader 2's request appending entry `index` (the membership first, then blanks).
fn append(node: &TestNode, index: u64) -> pb::StreamAppendRequest {
    let payload = if index == 0 {
        let members = BTreeMap::from([(1, node.member.clone()), (2, nobody(2))]);
        EntryPayload::Membership(Membership::new(vec![[1, 2].into()], members).unwrap())
    } else {
        EntryPayload::Blank
    };
    codec::encode_stream_request(AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(1, 2),
        prev_log_id: index.checked_sub(1).map(|i| log_id(1, 2, i)),
        entries: vec![EntryOf::<TypeConfig> {
            log_id: log_id(1, 2, index),
            payload,
        }],
        leader_commit: None,
    })
}

async fn raw_client(node: &TestNode) -> RaftServiceClient<tonic::transport::Channel> {
    RaftServiceClient::connect(format!("http://{}", node.member.raft_addr))
        .await
        .unwrap()
}

fn flushed(answer: pb::StreamAppendResponse) -> Option<LogIdOf<TypeConfig>> {
    codec::decode_stream_response(answer).unwrap().unwrap()
}

#[tokio::test]
async fn answers_come_in_order_until_a_request_does_not_decode() {
    let node = start_node(1).await;
    leader_for(&node).await;
    let requests = vec![
        append(&node, 0),
        append(&node, 1),
        pb::StreamAppendRequest { append: None },
        append(&node, 2),
    ];
    let mut answers = raw_client(&node)
        .await
        .stream_append(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    for index in 0..2 {
        let answer = answers.message().await.unwrap().expect("an answer");
        assert_eq!(flushed(answer), Some(log_id(1, 2, index)));
    }
    let refused = answers.message().await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("StreamAppendRequest.append"),
        "{refused:?}"
    );
    // Nothing after the bad request reached the log.
    let stored = node.log.clone().try_get_log_entries(..).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.log_id).collect::<Vec<_>>(),
        vec![log_id(1, 2, 0), log_id(1, 2, 1)]
    );
}

#[tokio::test]
async fn shutdown_ends_an_open_stream() {
    let node = start_node(1).await;
    leader_for(&node).await;
    // The leader's side stays open, as a live leader's does.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tx.send(append(&node, 0)).unwrap();
    let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    let mut answers = raw_client(&node)
        .await
        .stream_append(requests)
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.expect("an answer").unwrap();
    assert_eq!(flushed(answer), Some(log_id(1, 2, 0)));

    node.stop.send(true).unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), answers.next())
        .await
        .expect("the answer stream must end when the node stops");
    assert!(end.is_none(), "{end:?}");
    drop(tx);
}
