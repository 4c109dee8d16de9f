//! The REST gateway against a real one-node server: the contract's routes, bodies and
//! status codes, nested keys, CAS, batches, health, OpenAPI coverage, and bad input
//! (malformed JSON, wrong content type, limits, unknown routes) answered with 400/404 and a
//! message naming the field, writing nothing.

use crate::common;

use common::TestNode;
use reqwest::Client;
use serde_json::{Value, json};

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn keys(node: &TestNode) -> Vec<String> {
    let (s, body) = send(Client::new().get(node.url("/kv/"))).await;
    assert_eq!(s, 200);
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn kv_routes_follow_the_contract() {
    let node = TestNode::start().await;
    let c = Client::new();

    let (s, b) = send(
        c.put(node.url("/kv/app/config/db"))
            .json(&json!({"value": "pg"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "key set");
    assert_eq!(b["key"], "app/config/db");
    let idx = b["modify_index"].as_u64().unwrap();
    assert!(idx > 0);

    let (s, b) = send(c.get(node.url("/kv/app/config/db"))).await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"key": "app/config/db", "value": "pg"}));

    let (s, b) = send(
        c.put(node.url("/kv/app/config/db"))
            .json(&json!({"value": "pg2", "flags": 7})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let idx2 = b["modify_index"].as_u64().unwrap();
    let (_, b) = send(c.get(node.url("/kv/app/config/db?metadata=true"))).await;
    assert_eq!(b["value"], "pg2");
    assert_eq!(b["flags"], 7);
    assert_eq!(b["create_index"].as_u64().unwrap(), idx);
    assert_eq!(b["modify_index"].as_u64().unwrap(), idx2);

    // Strong and stale reads agree on one node.
    let (s, _) = send(c.get(node.url("/kv/app/config/db?consistent=true"))).await;
    assert_eq!(s, 200);
    let (s, b) = send(c.get(node.url("/kv/app/config/db?consistency=bogus"))).await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().starts_with("consistency:"));

    // Percent-encoded slashes decode to the same key.
    let (s, b) = send(c.get(node.url("/kv/app%2Fconfig%2Fdb"))).await;
    assert_eq!(s, 200, "{b}");

    // CAS conflict and CAS create-only.
    let (s, b) = send(
        c.put(node.url("/kv/app/config/db"))
            .json(&json!({"value": "x", "cas": idx})),
    )
    .await;
    assert_eq!(s, 409);
    assert_eq!(b["error"], "CAS conflict");
    assert_eq!(
        b["message"],
        format!(
            "CAS conflict for key 'app/config/db': expected ModifyIndex {idx}, but current is {idx2}"
        )
    );
    let (s, _) = send(
        c.put(node.url("/kv/new"))
            .json(&json!({"value": "x", "cas": 0})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, b) = send(
        c.put(node.url("/kv/missing"))
            .json(&json!({"value": "x", "cas": 3})),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(b["message"], "Key not found");

    let mut listed = keys(&node).await;
    listed.sort();
    assert_eq!(listed, ["app/config/db", "new"]);
    let (s, b) = send(c.get(node.url("/kv"))).await;
    assert_eq!(s, 200);
    assert_eq!(b.as_array().unwrap().len(), 2);

    // Deletes.
    let (s, b) = send(c.delete(node.url(&format!("/kv/app/config/db?cas={idx}")))).await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = send(c.delete(node.url("/kv/app/config/db?cas=abc"))).await;
    assert_eq!(s, 400);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("Invalid CAS parameter")
    );
    let (s, b) = send(c.delete(node.url(&format!("/kv/app/config/db?cas={idx2}")))).await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"message": "key deleted", "key": "app/config/db"}));
    let (s, _) = send(c.delete(node.url("/kv/never-existed"))).await;
    assert_eq!(s, 200, "plain delete of an absent key is not an error");
    let (s, b) = send(c.get(node.url("/kv/app/config/db"))).await;
    assert_eq!(s, 404);
    assert_eq!(b["error"], "Not Found");
    assert_eq!(b["message"], "Key not found");
    assert_eq!(b["path"], "/kv/app/config/db");
    assert!(b["request_id"].as_str().unwrap().len() == 36);
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn batch_routes_follow_the_contract() {
    let node = TestNode::start().await;
    let c = Client::new();
    let (s, b) = send(
        c.post(node.url("/batch/kv/set"))
            .json(&json!({"items": {"a": "1", "b": "2", "c": "3"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "Successfully set 3 keys");
    assert_eq!(b["count"], 3);

    let (s, b) = send(
        c.post(node.url("/batch/kv/get"))
            .json(&json!({"keys": ["a", "z"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"found": {"a": "1"}, "not_found": ["z"]}));

    let (_, meta) = send(c.get(node.url("/kv/a?metadata=true"))).await;
    let ia = meta["modify_index"].as_u64().unwrap();

    let (s, b) = send(
        c.post(node.url("/batch/kv/set-cas"))
            .json(&json!({"items": {"a": "x"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("Missing expected index for key: a")
    );
    let (s, b) =
        send(c.post(node.url("/batch/kv/set-cas")).json(
            &json!({"items": {"a": "x", "b": "y"}, "expected_indices": {"a": ia, "b": ia + 5}}),
        ))
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"], "CAS conflict");
    let (_, got) = send(c.get(node.url("/kv/a"))).await;
    assert_eq!(got["value"], "1", "a conflicting CAS batch changes nothing");

    let (s, b) = send(
        c.post(node.url("/batch/kv/set-cas"))
            .json(&json!({"items": {"a": "x", "n": "new"}, "expected_indices": {"a": ia, "n": 0}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "Successfully set 2 keys with CAS");
    let new_a = b["new_indices"]["a"].as_u64().unwrap();
    assert!(new_a > ia);

    let (s, b) = send(
        c.post(node.url("/batch/kv/delete-cas"))
            .json(&json!({"keys": ["a", "ghost"], "expected_indices": {"a": new_a, "ghost": 1}})),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["message"], "key 'ghost' not found");
    let (s, b) = send(
        c.post(node.url("/batch/kv/delete-cas"))
            .json(&json!({"keys": ["a"], "expected_indices": {"a": new_a}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "Successfully deleted 1 keys with CAS");

    let (s, b) = send(
        c.post(node.url("/batch/kv/delete"))
            .json(&json!({"keys": ["b", "c", "zz"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["count"], 3);
    assert_eq!(keys(&node).await, ["n"]);
}

#[tokio::test]
async fn bad_input_gets_400_naming_the_field_and_writes_nothing() {
    let node = TestNode::start().await;
    let c = Client::new();
    let url = node.url("/kv/k");

    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (c.put(&url).header("content-type", "application/json").body("{not json"), 400, "Invalid JSON body"),
        (c.put(&url).header("content-type", "text/plain").body(r#"{"value":"v"}"#), 400, "Content-Type must be application/json"),
        (c.put(&url).body(r#"{"value":"v"}"#), 400, "Content-Type must be application/json"),
        (c.put(&url).json(&json!({"value": 5})), 400, "Invalid JSON body"),
        (c.put(&url).json(&json!({"flags": 1})), 400, "missing field `value`"),
        (c.put(node.url("/kv/")).json(&json!({"value": "v"})), 400, "key: must not be empty"),
        (c.put(node.url(&format!("/kv/{}", "k".repeat(1025)))).json(&json!({"value": "v"})), 400, "the limit is 1024 bytes"),
        (c.put(&url).json(&json!({"value": "x".repeat(1024 * 1024 + 1)})), 400, "value: value is 1048577 bytes, the limit is 1048576 bytes"),
        (c.put(&url).header("content-type", "application/json").body(vec![b' '; 4 * 1024 * 1024 + 10]), 413, "larger than the limit of 4194304 bytes"),
        (c.post(node.url("/batch/kv/set")).json(&json!({"items": {}})), 400, "items: must hold at least 1 item"),
        (
            c.post(node.url("/batch/kv/set")).json(&json!({
                "items": (0..1001).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()
            })),
            400,
            "items: Maximum 1000 items per batch request (got 1001)",
        ),
        (c.post(node.url("/batch/kv/get")).json(&json!({"keys": []})), 400, "keys: must hold at least 1 item"),
        (c.post(node.url("/batch/kv/delete")).json(&json!({"keys": ["a", "a"]})), 400, "duplicate key 'a'"),
        (c.get(node.url("/no/such/route")), 404, "no route for GET /no/such/route"),
        (c.post(node.url("/kv/k")), 405, "method POST is not allowed"),
    ];
    for (req, want_status, want_message) in cases {
        let (s, b) = send(req).await;
        assert_eq!(s, want_status, "{b}");
        let msg = b["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(want_message),
            "message {msg:?} should contain {want_message:?}"
        );
        assert!(
            b["error"].is_string() && b["request_id"].is_string(),
            "envelope shape: {b}"
        );
    }
    assert!(
        keys(&node).await.is_empty(),
        "no bad request wrote anything"
    );
}

#[tokio::test]
async fn health_routes_and_openapi_cover_every_route() {
    let node = TestNode::start().await;
    let c = Client::new();
    let (s, b) = send(c.get(node.url("/health"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "healthy");
    assert_eq!(b["ready"], true);
    assert_eq!(b["raft"]["leader_id"], "node1");
    let (s, b) = send(c.get(node.url("/health/live"))).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("alive")));
    let (s, b) = send(c.get(node.url("/health/ready"))).await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ready")));

    let (s, doc) = send(c.get(node.url("/openapi.json"))).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for route in konsul::gateway::routes::table() {
        let path = konsul::gateway::routes::openapi_path(route.path);
        let method = route.method.as_str().to_ascii_lowercase();
        assert!(
            !doc["paths"][&path][&method].is_null(),
            "{} {} is served but missing from /openapi.json",
            route.method,
            route.path
        );
    }
    // Every documented operation is really served: none answers the unknown-route 404.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{key}", "probe");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (_, b) = send(c.request(m, node.url(&concrete)).json(&json!({}))).await;
            let msg = b["message"].as_str().unwrap_or_default();
            assert!(
                !msg.starts_with("no route for"),
                "{method} {path} is documented but not served"
            );
        }
    }
}

/// Flag parameters take `true`, `false` or nothing (`?consistent`, as Consul writes flags);
/// anything else is a 400 naming the parameter, as /openapi.json says. The served document
/// carries the node's own limits.
#[tokio::test]
async fn flags_take_true_false_or_nothing_and_the_document_says_so() {
    let node = TestNode::start_with(&[("KONSUL_MAX_BATCH_KV", "7")]).await;
    let c = Client::new();
    let (s, _) = send(c.put(node.url("/kv/f")).json(&json!({"value": "v"}))).await;
    assert_eq!(s, 200);
    for query in [
        "consistent",
        "consistent=true",
        "consistent=false",
        "metadata=",
    ] {
        let (s, b) = send(c.get(node.url(&format!("/kv/f?{query}")))).await;
        assert_eq!(s, 200, "{query}: {b}");
    }
    let (_, b) = send(c.get(node.url("/kv/f?metadata"))).await;
    assert!(
        b["modify_index"].is_u64(),
        "a bare ?metadata turns it on: {b}"
    );
    for (query, field) in [
        ("consistent=maybe", "consistent"),
        ("metadata=1", "metadata"),
        ("consistency=", "consistency"),
    ] {
        let (s, b) = send(c.get(node.url(&format!("/kv/f?{query}")))).await;
        assert_eq!(s, 400, "{query}: {b}");
        let message = b["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{query}: {message}"
        );
    }
    let (_, doc) = send(c.get(node.url("/openapi.json"))).await;
    let keys = &doc["components"]["schemas"]["KeysBody"]["properties"]["keys"];
    assert_eq!(keys["maxItems"], 7, "{keys}");
}
