//! The Rust SDK's retries are exactly-once: every KV write carries a request id, so a write
//! whose answer was lost is sent again and the server answers the retry with the first
//! attempt's outcome. With real processes (SIGKILL), a failpoint holding the leader's answer.

use crate::common;

use std::time::Duration;

use common::process_cluster::ProcessCluster;
use common::wait_until;
use konsul_client::{Client, Consistency};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_write_whose_answer_was_lost_is_resent_and_applied_once() {
    let mut c = ProcessCluster::start_faulty(3, &[("KONSUL_REQUEST_TIMEOUT", "30s")], &[]).await;
    let endpoints: Vec<String> = c.nodes.iter().map(|n| n.client_addr.to_string()).collect();
    let client = Client::builder(endpoints)
        .request_timeout(Duration::from_secs(20))
        .retry_deadline(Duration::from_secs(30))
        .max_attempts(50)
        .build()
        .unwrap();
    client.put("k", "v0").await.unwrap();
    let leader = c.leader().await;
    c.node(leader)
        .faults(serde_json::json!({"failpoints": {"write.reply": "return(60000)"}}))
        .await;

    let writer = client.clone();
    let write = tokio::spawn(async move { writer.put("k", "v1").await });
    let follower = (leader + 1) % 3;
    let probe = c.node(follower).probe();
    let applied = wait_until("the write applied on a follower", || {
        let probe = probe.clone();
        async move {
            let kv = probe.get_with("k", Consistency::Stale).await.ok()??;
            (kv.value == b"v1").then_some(kv.modify_index)
        }
    })
    .await;
    c.sigkill(leader).await;

    let answered = write
        .await
        .unwrap()
        .expect("the SDK resent the write and got its outcome");
    assert_eq!(
        answered.modify_index, applied,
        "the retry was answered with the first attempt's outcome"
    );
    let now = client
        .get_with("k", Consistency::Strong)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.value, b"v1");
    assert_eq!(now.modify_index, applied, "the write was applied once");
}
