//! CatalogService over gRPC against a real one-node server: register, read, list, query,
//! heartbeat, deregister, CAS, atomic batches, and bad input rejected with INVALID_ARGUMENT
//! while nothing is written.

use crate::common;

use std::collections::BTreeMap;

use common::TestNode;
use konsul_proto::v1 as pb;
use tonic::Code;

fn svc(name: &str, tags: &[&str], meta: &[(&str, &str)]) -> pb::Service {
    pb::Service {
        name: name.into(),
        id: None,
        address: "10.0.0.1".into(),
        port: 8080,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        meta: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ttl_ms: 0,
        checks: vec![],
    }
}

fn reg(s: pb::Service, cas: Option<u64>) -> pb::RegisterRequest {
    pb::RegisterRequest {
        service: Some(s),
        cas,
    }
}

fn names(entries: Vec<pb::ServiceEntry>) -> Vec<String> {
    entries
        .into_iter()
        .map(|e| e.service.unwrap().name)
        .collect()
}

#[tokio::test]
async fn register_read_query_heartbeat_deregister() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;

    let r = c
        .register(reg(svc("web", &["http", "v1"], &[("env", "prod")]), None))
        .await
        .unwrap()
        .into_inner();
    let e = r.entry.unwrap();
    assert!(e.modify_index > 0);
    assert_eq!(e.service.as_ref().unwrap().ttl_ms, 30_000, "default TTL");
    c.register(reg(svc("api", &["http"], &[("env", "dev")]), None))
        .await
        .unwrap();

    let got = c
        .get_service(pb::GetServiceRequest {
            name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(got.modify_index, e.modify_index);

    let all = c
        .list_services(pb::ListServicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(names(all), ["api", "web"]);

    let tagged = c
        .query_tags(pb::QueryTagsRequest {
            tags: vec!["http".into(), "v1".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(names(tagged), ["web"]);
    let by_meta = c
        .query_metadata(pb::QueryMetadataRequest {
            meta: BTreeMap::from([("env".into(), "dev".into())]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(names(by_meta), ["api"]);
    let both = c
        .query(pb::QueryRequest {
            tags: vec!["http".into()],
            meta: BTreeMap::from([("env".into(), "prod".into())]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(names(both), ["web"]);
    let err = c.query(pb::QueryRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let hb = c
        .heartbeat(pb::HeartbeatRequest {
            name: "web".into(),
            id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(hb.expires_at_ms >= e.expires_at_ms);
    let err = c
        .heartbeat(pb::HeartbeatRequest {
            name: "ghost".into(),
            id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), "Service not found");

    let d = c
        .deregister(pb::DeregisterRequest {
            name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(d.deleted);
    let err = c
        .get_service(pb::GetServiceRequest {
            name: "web".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn cas_conflicts_are_aborted_with_the_contract_message() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    let e = c
        .register(reg(svc("db", &[], &[]), Some(0)))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    let err = c
        .register(reg(svc("db", &[], &[]), Some(0)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(
        err.message(),
        format!(
            "CAS conflict for service 'db': expected ModifyIndex 0, but current is {}",
            e.modify_index
        )
    );
    c.register(reg(svc("db", &[], &[]), Some(e.modify_index)))
        .await
        .unwrap();
    let err = c
        .register(reg(svc("nope", &[], &[]), Some(5)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn batches_are_atomic() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    let mut bad = svc("b", &[], &[]);
    bad.port = 0;
    let err = c
        .batch_register(pb::BatchRegisterRequest {
            services: vec![svc("a", &[], &[]), bad],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("services[1].port"),
        "{}",
        err.message()
    );
    let all = c
        .list_services(pb::ListServicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(all.is_empty(), "nothing registered");

    let r = c
        .batch_register(pb::BatchRegisterRequest {
            services: vec![svc("a", &[], &[]), svc("b", &[], &[])],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.keys, ["a", "b"]);
    let g = c
        .batch_get_services(pb::BatchGetServicesRequest {
            keys: vec!["a".into(), "zz".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(g.found), ["a"]);
    assert_eq!(g.not_found, ["zz"]);
    let d = c
        .batch_deregister(pb::BatchDeregisterRequest {
            keys: vec!["a".into(), "b".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.deleted, 2);
}

#[tokio::test]
async fn bad_input_is_rejected_and_writes_nothing() {
    let node = TestNode::start().await;
    let mut c = node.catalog().await;
    let mut cases: Vec<(pb::Service, &str)> = Vec::new();
    cases.push((svc("", &[], &[]), "service.name"));
    cases.push((svc("a/b", &[], &[]), "service.name"));
    let mut s = svc("x", &[], &[]);
    s.address.clear();
    cases.push((s, "service.address"));
    let mut s = svc("x", &[], &[]);
    s.port = 70_000;
    cases.push((s, "service.port"));
    let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    let mut s = svc("x", &[], &[]);
    s.tags = many;
    cases.push((s, "service.tags"));
    cases.push((svc("x", &["a b"], &[]), "service.tags[0]"));
    cases.push((svc("x", &["w", "w"], &[]), "duplicate tag: w"));
    cases.push((svc("x", &[], &[("konsul_x", "v")]), "reserved"));
    cases.push((svc("x", &[], &[("a.b", "v")]), "service.meta.a.b"));
    let mut s = svc("x", &[], &[]);
    s.ttl_ms = 500;
    cases.push((s, "service.ttl_ms"));
    for (s, needle) in cases {
        let err = c.register(reg(s, None)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(
            err.message().contains(needle),
            "{needle}: {}",
            err.message()
        );
    }
    let all = c
        .list_services(pb::ListServicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert!(all.is_empty());
}

#[tokio::test]
async fn a_registration_without_ttl_gets_the_configured_service_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::test_config_with(dir.path(), &[("KONSUL_SERVICE_TTL", "45s")]);
    let server = common::start_with(config).await.unwrap();
    let mut c = pb::catalog_service_client::CatalogServiceClient::connect(format!(
        "http://{}",
        server.client_addr()
    ))
    .await
    .unwrap();
    let defaulted = c
        .register(reg(svc("web", &[], &[]), None))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(defaulted.service.unwrap().ttl_ms, 45_000);
    let given = c
        .register(reg(
            pb::Service {
                ttl_ms: 5_000,
                ..svc("api", &[], &[])
            },
            None,
        ))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(given.service.unwrap().ttl_ms, 5_000, "a given TTL wins");
    server.shutdown().await.unwrap();
}
