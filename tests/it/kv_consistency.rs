//! What a client can rely on besides the values: exactly-once writes with request ids (gRPC
//! `request_id`, REST `X-Konsul-Request-Id`), reads that say what they reflect
//! (`X-Konsul-Index`, `X-Konsul-KnownLeader`, `X-Konsul-LastContact`, the gRPC header), and
//! `min_index` waits on KV reads (catalog reads: `catalog_min_index`). One node unless a test needs more; nothing is
//! timed.

use crate::common;

use common::cluster::TestCluster;
use common::{TestNode, reason_of, start_with, test_config_with};
use konsul_proto::errors as reason;
use konsul_proto::v1 as pb;
use tonic::Code;

fn id(client: &str, seq: u64) -> Option<pb::RequestId> {
    Some(pb::RequestId {
        client_id: client.into(),
        seq,
    })
}

async fn rest_put(
    node: &TestNode,
    key: &str,
    body: serde_json::Value,
    rid: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .put(node.url(&format!("/kv/{key}")))
        .json(&body);
    if let Some(rid) = rid {
        req = req.header("X-Konsul-Request-Id", rid);
    }
    req.send().await.unwrap()
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_write_retried_with_its_request_id_is_applied_once() {
    let node = TestNode::start().await;
    let first = json(
        rest_put(
            &node,
            "k",
            serde_json::json!({"value": "one"}),
            Some("app-1/1"),
        )
        .await,
    )
    .await;
    let later = json(rest_put(&node, "k", serde_json::json!({"value": "two"}), None).await).await;
    let retry = rest_put(
        &node,
        "k",
        serde_json::json!({"value": "one"}),
        Some("app-1/1"),
    )
    .await;
    assert_eq!(retry.status(), 200);
    let retry = json(retry).await;
    assert_eq!(
        retry["modify_index"], first["modify_index"],
        "the first outcome"
    );
    let now: serde_json::Value = reqwest::get(node.url("/kv/k?metadata=true"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["value"], "two", "the retry changed nothing");
    assert_eq!(now["modify_index"], later["modify_index"]);
    // A bare id (a UUID, say) works the same.
    let uuid = "3f2b8c1e-9d4a-4b6e-8f0c-1a2b3c4d5e6f";
    let a = json(rest_put(&node, "u", serde_json::json!({"value": "x"}), Some(uuid)).await).await;
    let b = json(rest_put(&node, "u", serde_json::json!({"value": "x"}), Some(uuid)).await).await;
    assert_eq!(a["modify_index"], b["modify_index"]);
    // Deletes too.
    let del = |rid: &'static str| {
        reqwest::Client::new()
            .delete(node.url("/kv/u"))
            .header("X-Konsul-Request-Id", rid)
            .send()
    };
    assert_eq!(del("app-1/2").await.unwrap().status(), 200);
    rest_put(&node, "u", serde_json::json!({"value": "back"}), None).await;
    assert_eq!(del("app-1/2").await.unwrap().status(), 200);
    let still = reqwest::get(node.url("/kv/u")).await.unwrap();
    assert_eq!(
        still.status(),
        200,
        "the retried delete did not delete again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_cas_reports_its_first_success_not_a_conflict() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    let created = kv
        .put(pb::PutRequest {
            key: "c".into(),
            value: b"v0".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    let cas = || pb::PutRequest {
        key: "c".into(),
        value: b"v1".to_vec(),
        cas: Some(created.modify_index),
        request_id: id("sdk-7", 42),
        ..Default::default()
    };
    let first = kv.put(cas()).await.unwrap().into_inner().kv.unwrap();
    let retry = kv.put(cas()).await.unwrap().into_inner().kv.unwrap();
    assert_eq!(retry.modify_index, first.modify_index);
    // Without the id the same request is a conflict, as it should be.
    let mut plain = cas();
    plain.request_id = None;
    let err = kv.put(plain).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(reason_of(&err), reason::CAS_CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_ids_are_refused_naming_the_field() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    for (client_id, part) in [("", "must not be empty"), ("a b", "contains ' '")] {
        let err = kv
            .put(pb::PutRequest {
                key: "k".into(),
                request_id: id(client_id, 1),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().starts_with("request_id.client_id: "),
            "{err:?}"
        );
        assert!(err.message().contains(part), "{err:?}");
    }
    for (header, part) in [
        ("app/notanumber", "not an unsigned 64-bit sequence number"),
        ("sp ace/1", "contains ' '"),
        (&"x".repeat(129), "the limit is 128 bytes"),
    ] {
        let r = rest_put(&node, "k", serde_json::json!({"value": "v"}), Some(header)).await;
        assert_eq!(r.status(), 400);
        let body = json(r).await;
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("X-Konsul-Request-Id: "), "{message}");
        assert!(message.contains(part), "{message}");
    }
    let keys: serde_json::Value = reqwest::get(node.url("/kv/"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys, serde_json::json!([]), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_forgotten_id_is_refused_not_applied_again() {
    let node = TestNode::start().await;
    let mut kv = node.kv().await;
    let n = konsul::store::MAX_PER_CLIENT as u64 + 1;
    for seq in 1..=n {
        kv.put(pb::PutRequest {
            key: format!("k{seq}"),
            value: b"v".to_vec(),
            request_id: id("busy", seq),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    kv.delete(pb::DeleteRequest {
        key: "k1".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let err = kv
        .put(pb::PutRequest {
            key: "k1".into(),
            value: b"v".to_vec(),
            request_id: id("busy", 1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason_of(&err), reason::REQUEST_ID_EXPIRED);
    let r = rest_put(
        &node,
        "k1",
        serde_json::json!({"value": "v"}),
        Some("busy/1"),
    )
    .await;
    assert_eq!(r.status(), 412);
    let gone = reqwest::get(node.url("/kv/k1")).await.unwrap();
    assert_eq!(gone.status(), 404, "the refused retry was not applied");
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} on {}", r.url()))
        .to_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_reads_say_what_they_reflect() {
    let node = TestNode::start().await;
    let written = json(rest_put(&node, "a/b", serde_json::json!({"value": "v"}), None).await).await;
    let index = written["modify_index"].as_u64().unwrap();
    let client = reqwest::Client::new();
    let found = client.get(node.url("/kv/a/b")).send().await.unwrap();
    let missing = client.get(node.url("/kv/nope")).send().await.unwrap();
    let list = client.get(node.url("/kv/")).send().await.unwrap();
    let batch = client
        .post(node.url("/batch/kv/get"))
        .json(&serde_json::json!({"keys": ["a/b"]}))
        .send()
        .await
        .unwrap();
    let services = client.get(node.url("/services/")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    for r in [&found, &missing, &list, &batch, &services] {
        assert_eq!(header(r, "X-Konsul-KnownLeader"), "true", "{}", r.url());
        assert_eq!(
            header(r, "X-Konsul-LastContact"),
            "0",
            "the leader: {}",
            r.url()
        );
        let at: u64 = header(r, "X-Konsul-Index").parse().unwrap();
        if r.url().path() != "/services/" {
            assert!(at >= index, "{}: {at} < {index}", r.url());
        }
    }
    let status: serde_json::Value = client
        .get(node.url("/cluster/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["quorum_lost"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_index_waits_for_the_index_and_times_out_when_it_never_comes() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config_with(dir.path(), &[("KONSUL_REQUEST_TIMEOUT", "300ms")]);
    let server = start_with(config).await.unwrap();
    let url = |p: &str| format!("http://{}{p}", server.client_addr());
    let client = reqwest::Client::new();
    let written: serde_json::Value = client
        .put(url("/kv/k"))
        .json(&serde_json::json!({"value": "v"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let index = written["modify_index"].as_u64().unwrap();
    let r = client
        .get(url(&format!("/kv/k?min_index={index}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let far = client
        .get(url("/kv/k?min_index=1000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(far.status(), 504);
    let body: serde_json::Value = far.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("index 1000000 was not applied"),
        "{body}"
    );
    let bad = client.get(url("/kv/k?min_index=-3")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("min_index: "));

    let mut kv = pb::kv_service_client::KvServiceClient::connect(url(""))
        .await
        .unwrap();
    let err = kv
        .get(pb::GetRequest {
            key: "k".into(),
            min_index: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert_eq!(reason_of(&err), reason::TIMEOUT);
    server.shutdown().await.unwrap();
}

/// On a follower, a stale read with `min_index` set to a write's index sees that write (read
/// your writes without going to the leader), and its header names the follower and a known
/// leader; the same for a registration read back through the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_index_reads_your_writes_on_a_follower() {
    let c = TestCluster::start(3).await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    let mut kv = c.node(leader).kv().await;
    let mut on_follower = c.node(follower).kv().await;
    for round in 0..20 {
        let value = format!("v{round}").into_bytes();
        let written = kv
            .put(pb::PutRequest {
                key: "ryw".into(),
                value: value.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .kv
            .unwrap();
        let read = on_follower
            .get(pb::GetRequest {
                key: "ryw".into(),
                consistency: pb::Consistency::Stale as i32,
                min_index: written.modify_index,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.kv.unwrap().value, value);
        let h = read.header.unwrap();
        assert_eq!(h.served_by, c.node(follower).name);
        assert!(h.known_leader);
        assert!(h.applied_index >= written.modify_index);
    }
    let mut catalog = c.node(leader).catalog().await;
    let mut catalog_on_follower = c.node(follower).catalog().await;
    for round in 0..10 {
        let address = format!("10.0.0.{round}");
        let entry = catalog
            .register(pb::RegisterRequest {
                service: Some(pb::Service {
                    name: "ryw".into(),
                    address: address.clone(),
                    port: 80,
                    ..Default::default()
                }),
                cas: None,
            })
            .await
            .unwrap()
            .into_inner()
            .entry
            .unwrap();
        let read = catalog_on_follower
            .get_service(pb::GetServiceRequest {
                name: "ryw".into(),
                consistency: pb::Consistency::Stale as i32,
                min_index: entry.modify_index,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.entry.unwrap().service.unwrap().address, address);
        assert_eq!(read.header.unwrap().served_by, c.node(follower).name);
    }
}
