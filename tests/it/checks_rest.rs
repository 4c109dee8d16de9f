//! Health checks over REST against a real one-node server: definitions with defaults filled
//! in, the TTL flow (`PUT /health/check/{id}`, expiry read from the clock), `?passing`
//! queries, checks leaving with their service, unique check ids, `X-Konsul-Index`, and bad
//! input answered 400 (404 for an unknown check) while nothing is written.

use crate::common;

mod bad_input;

use common::{TestNode, wait_until};
use reqwest::Client;
use serde_json::{Value, json};

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A registration body for `name` (with instance `id` when given) carrying `checks`.
fn svc(name: &str, id: Option<&str>, checks: Value) -> Value {
    let mut s = json!({"name": name, "address": "10.0.0.1", "port": 8080, "checks": checks});
    if let Some(id) = id {
        s["id"] = json!(id);
    }
    s
}

async fn register(node: &TestNode, body: &Value) -> Value {
    let (s, b) = send(Client::new().put(node.url("/register")).json(body)).await;
    assert_eq!(s, 200, "{body}: {b}");
    b
}

async fn get(node: &TestNode, path: &str) -> Value {
    let (s, b) = send(Client::new().get(node.url(path))).await;
    assert_eq!(s, 200, "{path}: {b}");
    b
}

async fn put_check(node: &TestNode, path: &str) -> (u16, Value) {
    send(Client::new().put(node.url(path))).await
}

/// The `X-Konsul-Index` of GET /services/.
async fn catalog_index(node: &TestNode) -> u64 {
    let resp = Client::new()
        .get(node.url("/services/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["x-konsul-index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The check `id` as GET /health/checks shows it, if listed.
async fn listed(node: &TestNode, id: &str) -> Option<Value> {
    get(node, "/health/checks")
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}

fn ids(v: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn registered_checks_get_defaults_and_start_critical() {
    let node = TestNode::start().await;
    let checks = json!([
        {"ttl": "15s"},
        {"http": "http://10.0.0.1:8080/health", "interval": "5s", "timeout": "1s"},
        {"id": "web-tcp", "name": "port open", "tcp": "10.0.0.1:8080"},
        {"grpc": "10.0.0.1:9090/pkg.Svc", "grpc_use_tls": true},
    ]);
    let b = register(&node, &svc("web", None, checks)).await;
    let echo = &b["service"]["checks"];
    assert_eq!(echo.as_array().unwrap().len(), 4, "{b}");
    assert_eq!(echo[0]["id"], "service:web:1");
    assert_eq!(echo[0]["name"], "web-health");
    assert_eq!(echo[0]["service_id"], "web");
    assert_eq!(echo[0]["ttl"], "15s");
    assert_eq!(echo[0]["interval"], "30s");
    assert_eq!(echo[0]["timeout"], "10s");
    assert_eq!(echo[1]["id"], "service:web:2");
    assert_eq!(echo[1]["http"], "http://10.0.0.1:8080/health");
    assert_eq!(echo[1]["method"], "GET");
    assert_eq!(echo[1]["interval"], "5s");
    assert_eq!(echo[1]["timeout"], "1s");
    assert_eq!(echo[2]["id"], "web-tcp");
    assert_eq!(echo[2]["name"], "port open");
    assert_eq!(echo[2]["tcp"], "10.0.0.1:8080");
    assert_eq!(echo[3]["id"], "service:web:4");
    assert_eq!(echo[3]["grpc"], "10.0.0.1:9090/pkg.Svc");
    assert_eq!(echo[3]["grpc_use_tls"], true);

    // GET /services/{name} shows the same definitions.
    let got = get(&node, "/services/web").await;
    assert_eq!(&got["checks"], echo);

    // The statuses: every new check is critical, never run.
    let all = get(&node, "/health/checks").await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    let types: Vec<&str> = all.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ttl", "http", "tcp", "grpc"]);
    for c in all {
        assert_eq!(c["status"], "critical", "{c}");
        assert_eq!(c["service_id"], "web");
        assert_eq!(c["service_name"], "web");
        assert_eq!(c["last_check"], "0001-01-01T00:00:00Z");
        assert_eq!(c["expires_at"], "0001-01-01T00:00:00Z");
    }
    assert_eq!(all[0]["ttl"], 15_000_000_000u64);
    assert_eq!(all[0]["interval"], 30_000_000_000u64);
    assert_eq!(all[1]["timeout"], 1_000_000_000u64);
    // A generated id works in the URL as it is.
    let (s, b) = put_check(&node, "/health/check/service:web:1").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["check_id"], "service:web:1");

    // A service's only check gets the id service:<key>; an instance's key uses ':'.
    let b = register(&node, &svc("api", Some("a1"), json!([{"ttl": "10s"}]))).await;
    assert_eq!(b["service"]["checks"][0]["id"], "service:api:a1");
    assert_eq!(b["service"]["checks"][0]["service_id"], "api/a1");
}

#[tokio::test]
async fn ttl_check_flow() {
    let node = TestNode::start().await;
    register(
        &node,
        &svc("web", None, json!([{"id": "web-ttl", "ttl": "1s"}])),
    )
    .await;
    assert_eq!(
        listed(&node, "web-ttl").await.unwrap()["status"],
        "critical"
    );

    let (s, b) = put_check(&node, "/health/check/web-ttl").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "TTL check updated");
    assert_eq!(b["check_id"], "web-ttl");
    assert_eq!(b["status"], "passing");
    // Expiry is computed by the reader from the clock, so a 1 s TTL may already be gone
    // by the time of the read: accept either the fresh report or its expiry.
    let c = listed(&node, "web-ttl").await.unwrap();
    if c["status"] == "passing" {
        assert_eq!(c["output"], "TTL check passed");
        assert_ne!(c["expires_at"], "0001-01-01T00:00:00Z");
        assert_ne!(c["last_check"], "0001-01-01T00:00:00Z");
    } else {
        assert_eq!(c["output"], "TTL expired", "{c}");
    }

    let (s, b) = put_check(&node, "/health/check/web-ttl?status=warning&output=x").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "warning");
    let per_service = get(&node, "/health/service/web").await;
    assert_eq!(per_service.as_array().unwrap().len(), 1);
    let c = &per_service[0];
    assert_eq!(c["id"], "web-ttl");
    assert!(
        (c["status"] == "warning" && c["output"] == "x")
            || (c["status"] == "critical" && c["output"] == "TTL expired"),
        "{c}"
    );

    // No report within the TTL: critical / "TTL expired", from the clock alone.
    wait_until("the TTL check to expire", || async {
        let c = listed(&node, "web-ttl").await?;
        (c["status"] == "critical" && c["output"] == "TTL expired").then_some(())
    })
    .await;
    let c = &get(&node, "/health/service/web").await[0];
    assert_eq!(c["status"], "critical");
    assert_eq!(c["output"], "TTL expired");

    // A TTL check without a TTL stays as reported.
    register(&node, &svc("db", None, json!([{"id": "db-ttl"}]))).await;
    let (s, _) = put_check(&node, "/health/check/db-ttl?status=passing&output=ok").await;
    assert_eq!(s, 200);
    let c = listed(&node, "db-ttl").await.unwrap();
    assert_eq!(
        (c["status"].as_str(), c["output"].as_str()),
        (Some("passing"), Some("ok"))
    );
    assert_eq!(c["expires_at"], "0001-01-01T00:00:00Z");
}

#[tokio::test]
async fn passing_queries_keep_only_passing_instances() {
    let node = TestNode::start().await;
    let ok = json!([{"id": "web-ok", "ttl": "10m"}]);
    let bad = json!([{"id": "web-bad", "ttl": "10m"}]);
    let mut a = svc("web", Some("a"), ok);
    a["tags"] = json!(["http"]);
    let mut b = svc("web", Some("b"), bad);
    b["tags"] = json!(["http"]);
    register(&node, &a).await;
    register(&node, &b).await;
    // No checks: counts as passing.
    let mut plain = svc("plain", None, json!([]));
    plain["tags"] = json!(["http"]);
    register(&node, &plain).await;
    assert_eq!(put_check(&node, "/health/check/web-ok").await.0, 200);
    assert_eq!(
        put_check(&node, "/health/check/web-bad?status=critical&output=down")
            .await
            .0,
        200
    );

    let all = get(&node, "/services/").await;
    assert_eq!(ids(&all, "name"), ["plain", "web", "web"]);
    for path in ["/services/?passing", "/services?passing=true"] {
        let passing = get(&node, path).await;
        let got: Vec<(&str, &str)> = passing
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s["id"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(got, [("plain", ""), ("web", "a")], "{path}");
    }
    let q = get(&node, "/services/query/tags?tags=http&passing").await;
    assert_eq!(q["count"], 2, "{q}");
    assert_eq!(q["services"][1]["id"], "a");
    let q = get(&node, "/services/query/tags?tags=http").await;
    assert_eq!(q["count"], 3);
    let q = get(&node, "/services/query?tags=http&passing=true").await;
    assert_eq!(q["count"], 2, "{q}");
    assert_eq!(q["services"][1]["id"], "a");
    let q = get(&node, "/services/query?tags=http&passing=false").await;
    assert_eq!(q["count"], 3);

    let h = get(&node, "/health/service/web").await;
    assert_eq!(ids(&h, "id"), ["web-bad", "web-ok"]);
    let h = get(&node, "/health/service/web?passing").await;
    assert_eq!(ids(&h, "id"), ["web-ok"]);
    assert_eq!(h[0]["service_id"], "web/a");
    // A service without checks answers [] (not null), with or without ?passing.
    assert_eq!(get(&node, "/health/service/plain").await, json!([]));
    assert_eq!(get(&node, "/health/service/plain?passing").await, json!([]));
    assert_eq!(get(&node, "/health/service/nobody").await, json!([]));

    // A warning is not passing.
    assert_eq!(
        put_check(&node, "/health/check/web-ok?status=warning")
            .await
            .0,
        200
    );
    let passing = get(&node, "/services/?passing").await;
    assert_eq!(ids(&passing, "name"), ["plain"]);

    let (s, b) = send(Client::new().get(node.url("/services/?passing=maybe"))).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("passing"), "{b}");
}

#[tokio::test]
async fn checks_leave_with_their_service_and_ids_are_reusable() {
    let node = TestNode::start().await;
    register(
        &node,
        &svc(
            "web",
            None,
            json!([{"id": "shared", "ttl": "30s"}, {"tcp": "h:1"}]),
        ),
    )
    .await;
    assert_eq!(
        get(&node, "/health/checks").await.as_array().unwrap().len(),
        2
    );
    let (s, _) = send(Client::new().delete(node.url("/deregister/web"))).await;
    assert_eq!(s, 200);
    assert_eq!(get(&node, "/health/checks").await, json!([]));
    assert_eq!(get(&node, "/health/service/web").await, json!([]));
    let (s, b) = put_check(&node, "/health/check/shared").await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["message"], "check not found");

    // The id is free again.
    register(
        &node,
        &svc("api", None, json!([{"id": "shared", "ttl": "30s"}])),
    )
    .await;
    let c = listed(&node, "shared").await.unwrap();
    assert_eq!(c["service_id"], "api");
    assert_eq!(put_check(&node, "/health/check/shared").await.0, 200);
}

#[tokio::test]
async fn a_taken_check_id_is_409_and_changes_nothing() {
    let node = TestNode::start().await;
    register(
        &node,
        &svc("web", None, json!([{"id": "mine", "ttl": "30s"}])),
    )
    .await;
    let before = catalog_index(&node).await;
    let (s, b) = send(Client::new().put(node.url("/register")).json(&svc(
        "api",
        None,
        json!([{"id": "mine", "tcp": "h:1"}]),
    )))
    .await;
    assert_eq!(s, 409, "{b}");
    assert!(b["message"].as_str().unwrap().contains("mine"), "{b}");
    assert_eq!(
        send(Client::new().get(node.url("/services/api"))).await.0,
        404
    );
    let c = listed(&node, "mine").await.unwrap();
    assert_eq!(
        (c["service_id"].as_str(), c["type"].as_str()),
        (Some("web"), Some("ttl"))
    );
    assert_eq!(catalog_index(&node).await, before);
    // Re-registering the owner with the same id is fine.
    register(
        &node,
        &svc("web", None, json!([{"id": "mine", "ttl": "30s"}])),
    )
    .await;
}

#[tokio::test]
async fn catalog_index_follows_changes_not_heartbeats() {
    let node = TestNode::start().await;
    let i0 = catalog_index(&node).await;
    register(&node, &svc("web", None, json!([{"id": "t", "ttl": "10m"}]))).await;
    let i1 = catalog_index(&node).await;
    assert!(i1 > i0, "{i0} -> {i1}");
    let (s, _) = put_check(&node, "/heartbeat/web").await;
    assert_eq!(s, 200);
    assert_eq!(
        catalog_index(&node).await,
        i1,
        "a heartbeat changes nothing"
    );
    assert_eq!(put_check(&node, "/health/check/t").await.0, 200);
    let i2 = catalog_index(&node).await;
    assert!(i2 > i1, "{i1} -> {i2}");
    // The same report again (status and output unchanged) is not a change.
    assert_eq!(put_check(&node, "/health/check/t").await.0, 200);
    assert_eq!(catalog_index(&node).await, i2);
    assert_eq!(
        put_check(&node, "/health/check/t?status=warning").await.0,
        200
    );
    let i3 = catalog_index(&node).await;
    assert!(i3 > i2, "{i2} -> {i3}");
    let resp = Client::new()
        .get(node.url("/health/checks"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-konsul-index"].to_str().unwrap(),
        i3.to_string()
    );
}

#[tokio::test]
async fn re_registering_keeps_the_state_of_unchanged_checks() {
    let node = TestNode::start().await;
    let body = svc(
        "web",
        None,
        json!([{"id": "t", "ttl": "10m"}, {"id": "u", "ttl": "10m"}]),
    );
    register(&node, &body).await;
    assert_eq!(put_check(&node, "/health/check/t?output=fine").await.0, 200);
    assert_eq!(put_check(&node, "/health/check/u?output=fine").await.0, 200);
    // Same definitions (defaults now spelled out for one of them): states kept.
    let same = svc(
        "web",
        None,
        json!([{"id": "t", "ttl": "10m", "interval": "30s", "timeout": "10s"}, {"id": "u", "ttl": "10m"}]),
    );
    register(&node, &same).await;
    let t = listed(&node, "t").await.unwrap();
    assert_eq!(
        (t["status"].as_str(), t["output"].as_str()),
        (Some("passing"), Some("fine"))
    );
    // A changed definition starts over as a new check; a dropped one is gone and free.
    register(&node, &svc("web", None, json!([{"id": "t", "ttl": "20m"}]))).await;
    let t = listed(&node, "t").await.unwrap();
    assert_eq!(
        (t["status"].as_str(), t["output"].as_str()),
        (Some("critical"), Some(""))
    );
    assert!(listed(&node, "u").await.is_none());
    assert_eq!(put_check(&node, "/health/check/u").await.0, 404);
    register(&node, &svc("api", None, json!([{"id": "u"}]))).await;
}
