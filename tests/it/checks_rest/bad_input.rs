//! Bad health-check input over REST, one test each: 400 naming the field (404 for an
//! unknown check), and nothing written.

use super::*;

/// Registers `body`, expects 400 with `needle` in the message, and checks that neither the
/// service nor any check was written.
async fn rejected(body: Value, needle: &str) {
    let node = TestNode::start().await;
    let (s, b) = send(Client::new().put(node.url("/register")).json(&body)).await;
    assert_eq!(s, 400, "{body}: {b}");
    let msg = b["message"].as_str().unwrap();
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    assert_eq!(get(&node, "/services/").await, json!([]));
    assert_eq!(get(&node, "/health/checks").await, json!([]));
}

#[tokio::test]
async fn bad_two_kinds_in_one_check() {
    rejected(
        svc("x", None, json!([{"http": "http://h/", "tcp": "h:1"}])),
        "service.checks[0]",
    )
    .await;
}

#[tokio::test]
async fn bad_duration_string() {
    rejected(
        svc("x", None, json!([{"ttl": "soon"}])),
        "service.checks[0].ttl",
    )
    .await;
}

#[tokio::test]
async fn bad_interval_out_of_range() {
    rejected(
        svc("x", None, json!([{"tcp": "h:1", "interval": "50ms"}])),
        "service.checks[0].interval",
    )
    .await;
}

#[tokio::test]
async fn bad_timeout_out_of_range() {
    rejected(
        svc("x", None, json!([{"tcp": "h:1", "timeout": "6m"}])),
        "service.checks[0].timeout",
    )
    .await;
}

#[tokio::test]
async fn bad_ttl_out_of_range() {
    rejected(
        svc("x", None, json!([{"ttl": "25h"}])),
        "service.checks[0].ttl",
    )
    .await;
}

#[tokio::test]
async fn bad_http_url() {
    rejected(
        svc("x", None, json!([{"http": "ftp://h/x"}])),
        "service.checks[0].http",
    )
    .await;
}

#[tokio::test]
async fn bad_http_method() {
    rejected(
        svc("x", None, json!([{"http": "http://h/", "method": "BREW"}])),
        "service.checks[0].method",
    )
    .await;
}

#[tokio::test]
async fn bad_tcp_address() {
    rejected(
        svc("x", None, json!([{"tcp": "h:0"}])),
        "service.checks[0].tcp",
    )
    .await;
}

#[tokio::test]
async fn bad_check_id_chars() {
    rejected(
        svc("x", None, json!([{"id": "a b", "ttl": "10s"}])),
        "service.checks[0].id",
    )
    .await;
}

#[tokio::test]
async fn bad_too_many_checks() {
    let many: Vec<Value> = (0..33).map(|i| json!({"id": format!("c{i}")})).collect();
    rejected(
        svc("x", None, json!(many)),
        "service.checks: 33 checks, the limit is 32",
    )
    .await;
}

#[tokio::test]
async fn bad_duplicate_check_ids() {
    rejected(
        svc("x", None, json!([{"id": "d"}, {"id": "d", "tcp": "h:1"}])),
        "service.checks[1].id",
    )
    .await;
}

#[tokio::test]
async fn bad_service_id_of_another_service() {
    rejected(
        svc("x", None, json!([{"service_id": "y", "ttl": "10s"}])),
        "service.checks[0].service_id",
    )
    .await;
}

#[tokio::test]
async fn bad_unknown_field_in_a_check() {
    rejected(
        svc("x", None, json!([{"ttl": "10s", "deregister_after": "1m"}])),
        "deregister_after",
    )
    .await;
}

#[tokio::test]
async fn bad_ttl_report_status() {
    let node = TestNode::start().await;
    register(&node, &svc("web", None, json!([{"id": "t", "ttl": "10m"}]))).await;
    let (s, b) = put_check(&node, "/health/check/t?status=ok").await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("status"), "{b}");
    let c = listed(&node, "t").await.unwrap();
    assert_eq!(c["status"], "critical");
    assert_eq!(c["last_check"], "0001-01-01T00:00:00Z");
}

#[tokio::test]
async fn ttl_report_on_a_probed_check_is_400() {
    let node = TestNode::start().await;
    register(
        &node,
        &svc("web", None, json!([{"id": "h", "http": "http://h/"}])),
    )
    .await;
    let (s, b) = put_check(&node, "/health/check/h").await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("check is not a TTL check"),
        "{b}"
    );
    let c = listed(&node, "h").await.unwrap();
    assert_eq!(c["status"], "critical");
    assert_eq!(c["output"], "");
}

#[tokio::test]
async fn ttl_report_on_an_unknown_check_is_404() {
    let node = TestNode::start().await;
    let (s, b) = put_check(&node, "/health/check/nope").await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["message"], "check not found");
    assert_eq!(get(&node, "/health/checks").await, json!([]));
}
