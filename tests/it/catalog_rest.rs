//! The catalog's REST routes against a real one-node server: the contract's shapes and
//! codes, CAS 409, unknown heartbeat 404, `/services/query*` not shadowed by
//! `/services/{name}`, atomic batch register, and bad input answered 400 writing nothing.

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

async fn count(node: &TestNode) -> usize {
    let (s, b) = send(Client::new().get(node.url("/services/"))).await;
    assert_eq!(s, 200);
    b.as_array().unwrap().len()
}

#[tokio::test]
async fn service_routes_follow_the_contract() {
    let node = TestNode::start().await;
    let c = Client::new();
    let web = json!({"name":"web","address":"10.0.0.1","port":80,"tags":["http","v1"],"meta":{"env":"prod"}});
    let (s, b) = send(c.put(node.url("/register")).json(&web)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["message"], "service registered");
    assert_eq!(b["service"]["name"], "web");
    let idx = b["modify_index"].as_u64().unwrap();
    assert!(idx > 0);
    let api =
        json!({"name":"api","address":"10.0.0.2","port":81,"tags":["http"],"meta":{"env":"dev"}});
    assert_eq!(send(c.put(node.url("/register")).json(&api)).await.0, 200);

    let (s, b) = send(c.get(node.url("/services/web"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["address"], "10.0.0.1");
    let (_, b) = send(c.get(node.url("/services/web?metadata=true"))).await;
    assert_eq!(b["modify_index"].as_u64().unwrap(), idx);
    assert_eq!(b["create_index"].as_u64().unwrap(), idx);
    assert!(b["expires_at"].as_str().unwrap().ends_with('Z'));
    let (s, b) = send(c.get(node.url("/services"))).await;
    assert_eq!(s, 200);
    assert_eq!(b[0]["name"], "api");

    // The query routes win over /services/{name}.
    let (s, b) = send(c.get(node.url("/services/query?tag=http&meta.env=prod"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["count"], 1);
    assert_eq!(b["services"][0]["name"], "web");
    let (s, b) = send(c.get(node.url("/services/query"))).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = send(c.get(node.url("/services/query/tags?tags=http"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["count"], 2);
    assert_eq!(b["query"]["tags"], json!(["http"]));
    let (s, b) = send(c.get(node.url("/services/query/metadata?env=dev"))).await;
    assert_eq!(s, 200);
    assert_eq!(b["services"][0]["name"], "api");

    let (s, b) = send(c.put(node.url("/heartbeat/web"))).await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"message":"heartbeat updated","service":"web"}));
    let (s, b) = send(c.put(node.url("/heartbeat/ghost"))).await;
    assert_eq!(s, 404);
    assert_eq!(b["message"], "Service not found");

    // CAS: create-only on an existing service conflicts.
    let mut again = web.clone();
    again["cas"] = json!(0);
    let (s, b) = send(c.put(node.url("/register")).json(&again)).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["error"], "CAS conflict");
    assert_eq!(
        b["message"],
        format!("CAS conflict for service 'web': expected ModifyIndex 0, but current is {idx}")
    );
    let (s, _) = send(c.delete(node.url(&format!("/deregister/web?cas={}", idx + 100)))).await;
    assert_eq!(s, 409);
    let (s, _) = send(c.delete(node.url("/deregister/web?cas=x"))).await;
    assert_eq!(s, 400);

    let (s, b) = send(c.delete(node.url("/deregister/web"))).await;
    assert_eq!(s, 200);
    assert_eq!(b, json!({"message":"service deregistered","name":"web"}));
    assert_eq!(send(c.get(node.url("/services/web"))).await.0, 404);
}

#[tokio::test]
async fn batch_routes_and_atomic_register() {
    let node = TestNode::start().await;
    let c = Client::new();
    let body = json!({"services":[
        {"name":"a","address":"h","port":1},
        {"name":"b","address":"h","port":0},
    ]});
    let (s, b) = send(c.post(node.url("/batch/services/register")).json(&body)).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("services[1].port"));
    assert_eq!(count(&node).await, 0, "nothing registered");

    let body = json!({"services":[{"name":"a","address":"h","port":1},{"name":"b","address":"h","port":2}]});
    let (s, b) = send(c.post(node.url("/batch/services/register")).json(&body)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["registered"], json!(["a", "b"]));
    assert_eq!(b["count"], 2);
    let (s, b) = send(
        c.post(node.url("/batch/services/get"))
            .json(&json!({"names":["a","z"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["found"]["a"]["port"], 1);
    assert_eq!(b["not_found"], json!(["z"]));
    let (s, b) = send(
        c.post(node.url("/batch/services/get"))
            .json(&json!({"names":[]})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["message"], "Names array cannot be empty");
    let (s, b) = send(
        c.post(node.url("/batch/services/deregister"))
            .json(&json!({"names":["a","b"]})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["count"], 2);
    assert_eq!(count(&node).await, 0);
}

#[tokio::test]
async fn bad_registrations_are_400_and_write_nothing() {
    let node = TestNode::start().await;
    let c = Client::new();
    let tags: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!({"address":"h","port":80}), "service.name"),
        (json!({"name":"x","port":80}), "service.address"),
        (json!({"name":"x","address":"h","port":0}), "service.port"),
        (
            json!({"name":"x","address":"h","port":80,"tags":tags}),
            "service.tags",
        ),
        (
            json!({"name":"x","address":"h","port":80,"tags":["a b"]}),
            "service.tags[0]",
        ),
        (
            json!({"name":"x","address":"h","port":80,"meta":{"_x":"v"}}),
            "reserved",
        ),
        (
            json!({"name":"x","address":"h","port":80,"ttl_ms":90000000}),
            "service.ttl_ms",
        ),
        (
            json!({"name":"x","address":"h","port":"eighty"}),
            "Invalid JSON body",
        ),
    ];
    for (body, needle) in cases {
        let (s, b) = send(c.put(node.url("/register")).json(&body)).await;
        assert_eq!(s, 400, "{body}: {b}");
        assert!(
            b["message"].as_str().unwrap().contains(needle),
            "{needle}: {b}"
        );
    }
    let (s, _) = send(
        c.put(node.url("/register"))
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(count(&node).await, 0);
}

#[tokio::test]
async fn instances_of_one_name_are_separate_through_id() {
    let node = TestNode::start().await;
    let c = Client::new();
    for (id, port) in [("i1", 8001), ("i2", 8002)] {
        let body = json!({"name":"web","id":id,"address":"10.0.0.1","port":port});
        let (s, b) = send(c.put(node.url("/register")).json(&body)).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["service"]["name"], "web");
        assert_eq!(b["service"]["id"], id, "the answer echoes the id");
    }
    assert_eq!(count(&node).await, 2);

    // Each instance is its own catalog entry; the bare name is neither.
    for (id, port) in [("i1", 8001), ("i2", 8002)] {
        let (s, b) = send(c.get(node.url(&format!("/services/web?id={id}")))).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["id"], id);
        assert_eq!(b["port"], port);
    }
    let (s, b) = send(c.get(node.url("/services/web?id=i2&metadata=true"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["service"]["id"], "i2");
    assert!(b["modify_index"].as_u64().unwrap() > 0);
    assert_eq!(send(c.get(node.url("/services/web"))).await.0, 404);
    assert_eq!(send(c.get(node.url("/services/web?id=i3"))).await.0, 404);

    let (s, b) = send(c.put(node.url("/heartbeat/web?id=i1"))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b,
        json!({"message":"heartbeat updated","service":"web","id":"i1"})
    );
    let (s, b) = send(c.put(node.url("/heartbeat/web?id=i3"))).await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["message"], "Service not found");
    assert_eq!(send(c.put(node.url("/heartbeat/web"))).await.0, 404);

    // CAS deregister of one instance, against that instance's own index.
    let (_, meta) = send(c.get(node.url("/services/web?id=i1&metadata=true"))).await;
    let idx = meta["modify_index"].as_u64().unwrap();
    let (s, _) =
        send(c.delete(node.url(&format!("/deregister/web?id=i1&cas={}", idx + 100)))).await;
    assert_eq!(s, 409);
    let (s, b) = send(c.delete(node.url(&format!("/deregister/web?id=i1&cas={idx}")))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b,
        json!({"message":"service deregistered","name":"web","id":"i1"})
    );
    assert_eq!(send(c.get(node.url("/services/web?id=i1"))).await.0, 404);
    assert_eq!(send(c.get(node.url("/services/web?id=i2"))).await.0, 200);
    assert_eq!(count(&node).await, 1);

    let (s, _) = send(c.delete(node.url("/deregister/web?id=i2"))).await;
    assert_eq!(s, 200);
    assert_eq!(count(&node).await, 0);
}

#[tokio::test]
async fn a_bad_instance_id_is_400_naming_id() {
    let node = TestNode::start().await;
    let c = Client::new();
    let body = json!({"name":"web","id":"ok","address":"h","port":80});
    assert_eq!(send(c.put(node.url("/register")).json(&body)).await.0, 200);
    let long = "x".repeat(256);
    for bad in ["", "a%2Fb", long.as_str()] {
        for req in [
            c.get(node.url(&format!("/services/web?id={bad}"))),
            c.put(node.url(&format!("/heartbeat/web?id={bad}"))),
            c.delete(node.url(&format!("/deregister/web?id={bad}"))),
        ] {
            let (s, b) = send(req).await;
            assert_eq!(s, 400, "id={bad}: {b}");
            assert!(
                b["message"].as_str().unwrap().starts_with("id: "),
                "id={bad}: {b}"
            );
        }
    }
    let body = json!({"name":"web","id":"a/b","address":"h","port":80});
    let (s, b) = send(c.put(node.url("/register")).json(&body)).await;
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("service.id"), "{b}");
    assert_eq!(count(&node).await, 1, "nothing else written");
}
