//! Every catalog and health read, REST and gRPC, waits for `min_index`: it answers once the
//! index is applied, ends with 504 / DEADLINE_EXCEEDED (reason TIMEOUT) when the index never
//! comes, and refuses a malformed one with a 400 naming the parameter. One node with a short
//! request timeout (the far index never comes); nothing is timed.

use konsul_proto::errors as reason;
use konsul_proto::v1 as pb;
use tonic::Code;

use crate::common::{reason_of, start_with, test_config_with};

async fn json(r: reqwest::Response) -> serde_json::Value {
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_reads_wait_for_min_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config_with(dir.path(), &[("KONSUL_REQUEST_TIMEOUT", "300ms")]);
    let server = start_with(config).await.unwrap();
    let base = format!("http://{}", server.client_addr());
    let url = |p: &str| format!("{base}{p}");
    let client = reqwest::Client::new();
    let service = serde_json::json!({"name": "web", "address": "10.0.0.1", "port": 80,
        "tags": ["http"], "meta": {"env": "prod"},
        "checks": [{"id": "web-ttl", "ttl": "30s"}]});
    let registered = json(
        client
            .put(url("/register"))
            .json(&service)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let index = registered["modify_index"].as_u64().unwrap();

    every_rest_catalog_read_waits(&client, &base, index).await;
    every_grpc_catalog_read_waits(&base, index).await;
    server.shutdown().await.unwrap();
}

/// The REST catalog and health reads: 200 at the applied index, 504 past it, 400 for junk.
async fn every_rest_catalog_read_waits(client: &reqwest::Client, base: &str, index: u64) {
    let url = |p: &str| format!("{base}{p}");
    // (method, path with its own query, body for POST)
    let routes: [(&str, &str, Option<serde_json::Value>); 7] = [
        ("GET", "/services/?", None),
        ("GET", "/services/web?", None),
        ("GET", "/services/query/tags?tags=http&", None),
        ("GET", "/services/query?tag=http&meta.env=prod&", None),
        ("GET", "/health/checks?", None),
        ("GET", "/health/service/web?", None),
        (
            "POST",
            "/batch/services/get?",
            Some(serde_json::json!({"names": ["web"]})),
        ),
    ];
    for (method, path, body) in &routes {
        let send = |min_index: &str| {
            let u = url(&format!("{path}min_index={min_index}"));
            let req = match *method {
                "GET" => client.get(u),
                _ => client.post(u).json(body.as_ref().unwrap()),
            };
            req.send()
        };
        let ok = send(&index.to_string()).await.unwrap();
        assert_eq!(ok.status(), 200, "{path}");
        let ok = json(ok).await.to_string();
        assert!(ok.contains("web"), "{path}: {ok}");
        let far = send("1000000").await.unwrap();
        assert_eq!(far.status(), 504, "{path}");
        let far = json(far).await;
        assert!(
            far["message"]
                .as_str()
                .unwrap()
                .contains("index 1000000 was not applied"),
            "{path}: {far}"
        );
        let bad = send("soon").await.unwrap();
        assert_eq!(bad.status(), 400, "{path}");
        let bad = json(bad).await;
        assert!(
            bad["message"].as_str().unwrap().starts_with("min_index: "),
            "{path}: {bad}"
        );
    }
}

/// The gRPC catalog reads: DEADLINE_EXCEEDED (reason TIMEOUT) past the applied index, an
/// answer at it.
async fn every_grpc_catalog_read_waits(base: &str, index: u64) {
    let mut catalog = pb::catalog_service_client::CatalogServiceClient::connect(base.to_owned())
        .await
        .unwrap();
    let far = 1_000_000;
    let tags = vec!["http".to_owned()];
    let meta: std::collections::BTreeMap<String, String> =
        [("env".to_owned(), "prod".to_owned())].into();
    let errors = [
        catalog
            .get_service(pb::GetServiceRequest {
                name: "web".into(),
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .list_services(pb::ListServicesRequest {
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .query_tags(pb::QueryTagsRequest {
                tags: tags.clone(),
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .query_metadata(pb::QueryMetadataRequest {
                meta: meta.clone(),
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .query(pb::QueryRequest {
                tags,
                meta,
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .batch_get_services(pb::BatchGetServicesRequest {
                keys: vec!["web".into()],
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .list_checks(pb::ListChecksRequest {
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
        catalog
            .service_checks(pb::ServiceChecksRequest {
                name: "web".into(),
                min_index: far,
                ..Default::default()
            })
            .await
            .map(drop),
    ];
    for (i, e) in errors.into_iter().enumerate() {
        let e = e.expect_err("a min_index that never comes");
        assert_eq!(e.code(), Code::DeadlineExceeded, "call {i}: {e:?}");
        assert_eq!(reason_of(&e), reason::TIMEOUT, "call {i}");
    }
    let found = catalog
        .get_service(pb::GetServiceRequest {
            name: "web".into(),
            min_index: index,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.entry.unwrap().modify_index, index);
}
