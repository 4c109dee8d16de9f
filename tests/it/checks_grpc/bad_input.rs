//! Bad health-check input over gRPC, one test each: INVALID_ARGUMENT naming the field (or
//! NOT_FOUND for an unknown check), and nothing written.

use super::*;

async fn rejected(s: pb::Service, needle: &str) {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    let err = c
        .register(pb::RegisterRequest {
            service: Some(s),
            cas: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(
        err.message().contains(needle),
        "expected {needle:?} in {:?}",
        err.message()
    );
    assert!(list(&mut c, false).await.entries.is_empty());
    assert!(list_checks(&mut c).await.checks.is_empty());
}

#[tokio::test]
async fn bad_interval_out_of_range() {
    let mut ch = tcp("", "h:1");
    ch.interval_ms = 99;
    rejected(svc("x", None, vec![ch]), "service.checks[0].interval").await;
}

#[tokio::test]
async fn bad_timeout_out_of_range() {
    let mut ch = tcp("", "h:1");
    ch.timeout_ms = 5 * 60 * 1000 + 1;
    rejected(svc("x", None, vec![ch]), "service.checks[0].timeout").await;
}

#[tokio::test]
async fn bad_ttl_out_of_range() {
    rejected(svc("x", None, vec![ttl("", 999)]), "service.checks[0].ttl").await;
}

#[tokio::test]
async fn bad_http_url() {
    rejected(
        svc("x", None, vec![http("", "/relative", "")]),
        "service.checks[0].http",
    )
    .await;
}

#[tokio::test]
async fn bad_http_method() {
    rejected(
        svc("x", None, vec![http("", "http://h/", "TRACE")]),
        "service.checks[0].method",
    )
    .await;
}

#[tokio::test]
async fn bad_tcp_address() {
    rejected(
        svc("x", None, vec![tcp("", "no-port")]),
        "service.checks[0].tcp",
    )
    .await;
}

#[tokio::test]
async fn bad_check_id_chars() {
    rejected(svc("x", None, vec![ttl("a/b", 0)]), "service.checks[0].id").await;
}

#[tokio::test]
async fn bad_too_many_checks() {
    let many = (0..33).map(|i| ttl(&format!("c{i}"), 0)).collect();
    rejected(svc("x", None, many), "the limit is 32").await;
}

#[tokio::test]
async fn bad_duplicate_check_ids() {
    rejected(
        svc("x", None, vec![ttl("d", 0), tcp("d", "h:1")]),
        "service.checks[1].id",
    )
    .await;
}

/// Reports on `t` (a TTL check of service `web`) must leave it untouched.
async fn report_rejected(wanted: i32, output: String, code: Code, needle: &str) {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", None, vec![ttl("t", 0), tcp("p", "h:1")])).await;
    let before = list(&mut c, false).await.catalog_index;
    let err = c
        .update_ttl_check(pb::UpdateTtlCheckRequest {
            check_id: if code == Code::NotFound { "nope" } else { "t" }.into(),
            status: wanted,
            output,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), code, "{}", err.message());
    assert!(
        err.message().contains(needle),
        "expected {needle:?} in {:?}",
        err.message()
    );
    let t = find(&mut c, "t").await.unwrap();
    assert_eq!(status(&t), pb::CheckStatus::Critical);
    assert_eq!(t.last_check_ms, 0);
    assert_eq!(list(&mut c, false).await.catalog_index, before);
}

#[tokio::test]
async fn bad_report_output_too_long() {
    report_rejected(
        pb::CheckStatus::Warning as i32,
        "x".repeat(4097),
        Code::InvalidArgument,
        "output",
    )
    .await;
}

#[tokio::test]
async fn bad_report_status_value() {
    report_rejected(7, String::new(), Code::InvalidArgument, "status").await;
}

#[tokio::test]
async fn report_on_an_unknown_check_is_not_found() {
    report_rejected(1, String::new(), Code::NotFound, "check not found").await;
}

#[tokio::test]
async fn report_on_a_probed_check_is_invalid_argument() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    register(&mut c, svc("web", None, vec![tcp("p", "h:1")])).await;
    let err = report(&mut c, "p", pb::CheckStatus::Passing, "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("check is not a TTL check"),
        "{}",
        err.message()
    );
    let p = find(&mut c, "p").await.unwrap();
    assert_eq!(
        (status(&p), p.last_check_ms),
        (pb::CheckStatus::Critical, 0)
    );
}
