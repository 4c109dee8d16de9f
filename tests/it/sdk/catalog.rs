//! The catalog through the SDK against one real node: register, read, list, query,
//! heartbeat and deregister, instances of one service, and catalog batches.

use std::time::Duration;

use konsul_client::{
    Client, Consistency, Error, Registered, Service, ServiceKey, ServiceQuery, Services,
};

use super::client_for;
use crate::common::TestNode;

/// One scenario in named steps, each checking what the one before left.
#[tokio::test]
async fn catalog_calls_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;
    let (i1, r1) = two_instances_and_a_plain_service_register(&client).await;
    every_key_form_reads_and_listings_are_sorted(&client, &i1, &r1).await;
    queries_match_tags_metadata_or_both(&client).await;
    heartbeats_move_the_deadline_not_the_indices(&client, &r1).await;
    cas_guards_registration_and_deregistration(&client, &i1, &r1).await;
    bad_input_names_the_field(&client).await;
}

/// Two instances of one name, and a service registered without an id.
async fn two_instances_and_a_plain_service_register(client: &Client) -> (Service, Registered) {
    let i1 = Service::new("web", "10.0.0.1", 8001)
        .with_id("i1")
        .with_tags(["http", "v1"])
        .with_meta([("env", "prod")])
        .with_ttl(Duration::from_secs(20));
    let i2 = Service::new("web", "10.0.0.2", 8002)
        .with_id("i2")
        .with_tags(["http"])
        .with_meta([("env", "dev")]);
    let r1 = client.register(i1.clone()).await.unwrap();
    assert_eq!(r1.entry.service, i1, "the entry echoes the registration");
    assert_eq!(r1.entry.key().to_string(), "web/i1");
    assert!(r1.entry.modify_index > 0);
    assert_eq!(r1.entry.create_index, r1.entry.modify_index);
    assert!(r1.entry.expires_at > std::time::UNIX_EPOCH);
    assert!(r1.header.applied_index >= r1.entry.modify_index);
    let r2 = client.register(i2.clone()).await.unwrap();
    assert_eq!(
        r2.entry.service.ttl,
        Some(Duration::from_secs(30)),
        "default TTL"
    );
    client
        .register(Service::new("db", "10.0.0.3", 5432).with_tags(["sql"]))
        .await
        .unwrap();
    (i1, r1)
}

/// Reads by key: "name/id", (name, id) and a bare name are all keys.
/// Listings are sorted by key, at every consistency.
async fn every_key_form_reads_and_listings_are_sorted(
    client: &Client,
    i1: &Service,
    r1: &Registered,
) {
    let got = client.get_service("web/i1").await.unwrap().unwrap();
    assert_eq!(&got.service, i1);
    assert_eq!(got.modify_index, r1.entry.modify_index);
    let got = client
        .get_service_with(("web", "i2"), Consistency::Stale)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.service.port, 8002);
    assert!(client.get_service("db").await.unwrap().is_some());
    assert_eq!(
        client.get_service("web").await.unwrap(),
        None,
        "no bare web"
    );
    assert_eq!(client.get_service("web/i9").await.unwrap(), None);

    let all = client.list_services().await.unwrap();
    let keys: Vec<String> = all.entries.iter().map(|e| e.key().to_string()).collect();
    assert_eq!(keys, ["db", "web/i1", "web/i2"]);
    let stale = client.list_services_with(Consistency::Stale).await.unwrap();
    assert_eq!(stale.entries.len(), 3);
}

/// Queries by tags, by metadata and by both.
async fn queries_match_tags_metadata_or_both(client: &Client) {
    let http = client.query_tags(["http"]).await.unwrap();
    assert_eq!(http.entries.len(), 2);
    let v1 = client
        .query_tags_with(["http", "v1"], Consistency::Strong)
        .await
        .unwrap();
    assert_eq!(v1.entries.len(), 1);
    assert_eq!(v1.entries[0].service.id.as_deref(), Some("i1"));
    let dev = client.query_metadata([("env", "dev")]).await.unwrap();
    assert_eq!(dev.entries.len(), 1);
    assert_eq!(dev.entries[0].service.id.as_deref(), Some("i2"));
    let both = client
        .query_services(ServiceQuery::new().tag("http").meta("env", "prod"))
        .await
        .unwrap();
    assert_eq!(both.entries.len(), 1);
    assert_eq!(both.entries[0].service.id.as_deref(), Some("i1"));
    let none = client
        .query_services(
            ServiceQuery::new()
                .tag("sql")
                .meta("env", "prod")
                .consistency(Consistency::Stale),
        )
        .await
        .unwrap();
    assert!(none.entries.is_empty());
    let empty = client.query_services(ServiceQuery::new()).await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");
}

/// Heartbeats move the deadline, not the indices.
async fn heartbeats_move_the_deadline_not_the_indices(client: &Client, r1: &Registered) {
    let hb = client.heartbeat(("web", "i1")).await.unwrap();
    assert!(hb.expires_at >= r1.entry.expires_at);
    let after = client.get_service("web/i1").await.unwrap().unwrap();
    assert_eq!(after.modify_index, r1.entry.modify_index);
    assert_eq!(after.expires_at, hb.expires_at);
    let ghost = client.heartbeat("web/i9").await;
    assert!(matches!(ghost, Err(Error::NotFound(_))), "{ghost:?}");
    let ghost = client.heartbeat("web").await;
    assert!(matches!(ghost, Err(Error::NotFound(_))), "{ghost:?}");
}

/// CAS registration and deregistration.
async fn cas_guards_registration_and_deregistration(
    client: &Client,
    i1: &Service,
    r1: &Registered,
) {
    let taken = client.register_cas(i1.clone(), 0).await;
    assert!(
        matches!(&taken, Err(Error::CasConflict { message }) if message.contains("web/i1")),
        "{taken:?}"
    );
    let moved = client
        .register_cas(i1.clone().with_tags(["http", "v2"]), r1.entry.modify_index)
        .await
        .unwrap();
    assert!(moved.entry.modify_index > r1.entry.modify_index);
    assert_eq!(moved.entry.create_index, r1.entry.create_index);
    let absent = client.register_cas(Service::new("new", "h", 1), 5).await;
    assert!(matches!(absent, Err(Error::NotFound(_))), "{absent:?}");
    client
        .register_cas(Service::new("new", "h", 1), 0)
        .await
        .unwrap();
    let wrong = client
        .deregister_cas(("web", "i1"), r1.entry.modify_index)
        .await;
    assert!(matches!(wrong, Err(Error::CasConflict { .. })), "{wrong:?}");
    client
        .deregister_cas(("web", "i1"), moved.entry.modify_index)
        .await
        .unwrap();
    assert_eq!(client.get_service("web/i1").await.unwrap(), None);
    let missing = client.deregister_cas("web/i1", 1).await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    assert!(client.deregister("web/i2").await.unwrap());
    assert!(!client.deregister("web/i2").await.unwrap(), "already gone");
    assert!(client.get_service("web/i2").await.unwrap().is_none());
}

/// Bad input names the field.
async fn bad_input_names_the_field(client: &Client) {
    let bad = client.register(Service::new("a/b", "h", 1)).await;
    assert!(
        matches!(&bad, Err(Error::InvalidArgument(m)) if m.contains("service.name")),
        "{bad:?}"
    );
    let bad = client.register(Service::new("x", "h", 0)).await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
    let bad = client.heartbeat(ServiceKey::instance("web", "")).await;
    assert!(
        matches!(&bad, Err(Error::InvalidArgument(m)) if m.starts_with("id")),
        "{bad:?}"
    );
}

#[tokio::test]
async fn catalog_batches_through_the_sdk() {
    let node = TestNode::start().await;
    let client = client_for(&node).await;

    let services: Vec<Service> = (0..3)
        .map(|i| {
            Service::new("api", format!("10.1.0.{i}"), 9000)
                .with_id(format!("n{i}"))
                .with_tags(["grpc"])
        })
        .chain([Service::new("cache", "10.1.1.1", 6379)])
        .collect();
    let reg = client.batch_register(services.clone()).await.unwrap();
    assert_eq!(reg.keys, ["api/n0", "api/n1", "api/n2", "cache"]);
    assert!(reg.index > 0);

    let got = client
        .batch_get_services(["api/n1", "cache", "api/n9"])
        .await
        .unwrap();
    assert_eq!(got.found.len(), 2);
    let default_ttl = services[1].clone().with_ttl(Duration::from_secs(30));
    assert_eq!(got.found[0].service, default_ttl);
    assert!(got.found.iter().all(|e| e.modify_index == reg.index));
    assert_eq!(got.not_found, ["api/n9"]);
    let got = client
        .batch_get_services_with([ServiceKey::instance("api", "n0")], Consistency::Stale)
        .await
        .unwrap();
    assert_eq!(got.found[0].service.address, "10.1.0.0");

    // One invalid service rejects the whole batch.
    let bad = client
        .batch_register([Service::new("ok", "h", 1), Service::new("bad", "h", 0)])
        .await;
    assert!(
        matches!(&bad, Err(Error::InvalidArgument(m)) if m.contains("services[1].port")),
        "{bad:?}"
    );
    assert_eq!(client.get_service("ok").await.unwrap(), None);
    let empty = client.batch_register(Vec::new()).await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");

    let gone = client
        .batch_deregister(["api/n0", "api/n1", "api/n2", "cache", "nothing"])
        .await
        .unwrap();
    assert_eq!(gone.deleted, 4);
    assert_eq!(gone.keys.len(), 5);
    assert!(client.list_services().await.unwrap().entries.is_empty());
}

pub(super) fn keys(services: &Services) -> Vec<String> {
    services
        .entries
        .iter()
        .map(|e| e.key().to_string())
        .collect()
}
