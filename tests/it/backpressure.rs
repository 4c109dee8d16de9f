//! The leader's write queue is bounded: with its disk slowed down (failpoint `log.fsync`)
//! and room for one waiting write, a burst of writes is partly refused at once with 429
//! `write queue full` (nothing written) instead of waiting without end, and the rest commit.

use crate::common;

use common::process_cluster::ProcessCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_refuses_writes_at_once_and_writes_nothing() {
    let c = ProcessCluster::start_faulty(1, &[("KONSUL_MAX_QUEUED_WRITES", "1")], &[]).await;
    c.node(0)
        .faults(serde_json::json!({"failpoints": {"log.fsync": "return(1000)"}}))
        .await;
    let http = reqwest::Client::new();
    let writes: Vec<_> = (0..16)
        .map(|i| {
            let req = http
                .put(c.node(0).url(&format!("/kv/burst/{i}")))
                .json(&serde_json::json!({"value": "v"}));
            tokio::spawn(async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                (i, status, body)
            })
        })
        .collect();
    let mut refused = Vec::new();
    let mut written = 0;
    for w in writes {
        let (i, status, body) = w.await.unwrap();
        match status {
            200 => written += 1,
            429 => {
                assert_eq!(body["error"], "write queue full", "{body}");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains("limits.max_queued_writes"),
                    "{body}"
                );
                refused.push(i);
            }
            other => panic!("write {i}: {other} {body}"),
        }
    }
    assert!(written >= 1, "some writes commit");
    assert!(!refused.is_empty(), "a burst overflows a queue of one");
    c.node(0)
        .faults(serde_json::json!({"failpoints": {"log.fsync": "off"}}))
        .await;
    for i in refused {
        let r = http
            .get(c.node(0).url(&format!("/kv/burst/{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "refused write {i} was applied");
    }
}
