//! The rules the handlers' annotations cannot state, written into the generated OpenAPI
//! document in one place: what each shared parameter accepts (read levels, `min_index`,
//! flags that take `true`, `false` or nothing, names and ids with their characters and
//! lengths), the limits of the node that serves the document (key and batch sizes from its
//! `Limits`), the validation rules of registrations, and the status codes every route can
//! answer besides its success (bad input, the leader-only answers, `min_index` timeouts).
//! `scripts/openapi-fuzz.sh` holds the document to these rules with schemathesis.
//!
//! Rules JSON Schema cannot express are said in descriptions: a key's limit is in bytes of
//! UTF-8 (the schema's `maxLength` counts characters, so it is an upper bound), every CAS
//! item needs its expected index, a query needs at least one filter.

use serde_json::{Value, json};

use crate::api::catalog_validate::{
    MAX_META, MAX_META_KEY_CHARS, MAX_META_VALUE_CHARS, MAX_NAME_CHARS, MAX_TAG_CHARS, MAX_TAGS,
};
use crate::api::check_validate::{MAX_CHECK_ID_CHARS, MAX_CHECKS, MAX_OUTPUT_CHARS};
use crate::api::cluster::MAX_NODE_NAME_BYTES;
use crate::api::validate::Limits;

const ENVELOPE: &str = "#/components/schemas/ErrorEnvelope";
const SHORT: &str = "#/components/schemas/ShortError";

/// Any unsigned 64-bit number (an index, a CAS value, flags).
fn uint64() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}

/// A flag that is on when given empty or `true`, off when absent or `false`.
fn flag() -> Value {
    json!({"type": "string", "enum": ["", "true", "false"]})
}

/// A service name or instance id: 1 to 255 characters, no `/`.
fn service_name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS, "pattern": "^[^/]+$"})
}

/// A catalog key: `name` or `name/id`, each part a service name.
fn service_key() -> Value {
    let part = format!("[^/]{{1,{MAX_NAME_CHARS}}}");
    json!({"type": "string", "pattern": format!("^{part}(/{part})?$")})
}

/// `host:port` with a port of 1 to 65535.
const HOST_PORT: &str =
    "^.+:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})$";

/// A key: 1 to `max_key_bytes` bytes of UTF-8.
fn key(limits: &Limits) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": limits.max_key_bytes})
}

/// What a query parameter or path segment accepts, by its name and place.
fn parameter(path: &str, place: &str, name: &str, limits: &Limits) -> Option<Value> {
    Some(match (place, name) {
        ("query", "consistency") => {
            json!({"type": "string", "enum": ["stale", "leader", "default", "strong", "linearizable"]})
        }
        ("query", "consistent" | "metadata" | "passing") => flag(),
        ("query", "min_index" | "cas") => uint64(),
        ("query", "id") => service_name(),
        ("query", "status") => {
            json!({"type": "string", "enum": ["passing", "warning", "critical"]})
        }
        ("query", "output") => json!({"type": "string", "maxLength": MAX_OUTPUT_CHARS}),
        ("query", "prefix") => json!({"type": "string", "maxLength": limits.max_key_bytes}),
        ("query", "tags") => json!({"type": "array", "items": tag()}),
        ("path", "key") => key(limits),
        ("path", "name") => service_name(),
        ("path", "id") if path.starts_with("/health/check/") => json!({
            "type": "string", "minLength": 1, "maxLength": MAX_CHECK_ID_CHARS,
            "pattern": "^[A-Za-z0-9_.:-]+$"}),
        ("path", "id") if path.starts_with("/cluster/leave/") => json!({
            "type": "string", "minLength": 1, "maxLength": MAX_NODE_NAME_BYTES,
            "pattern": "^[A-Za-z0-9._-]+$"}),
        _ => return None,
    })
}

fn tag() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS,
           "pattern": "^[A-Za-z0-9_:./-]+$"})
}

/// Sets `schema.properties.<field>` of component `name`, merging `rule` into what is there.
fn tighten(doc: &mut Value, name: &str, field: &str, rule: Value) {
    let Some(prop) = doc
        .pointer_mut(&format!("/components/schemas/{name}/properties/{field}"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Value::Object(rule) = rule {
        for (k, v) in rule {
            prop.insert(k, v);
        }
    }
    // The exact bounds above replace the int32/int64 formats utoipa writes for u32/u64.
    if prop.contains_key("maximum") {
        prop.remove("format");
    }
}

fn require(doc: &mut Value, name: &str, fields: &[&str]) {
    if let Some(s) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
        s["required"] = json!(fields);
    }
}

/// The body schemas' rules.
fn bodies(doc: &mut Value, limits: &Limits) {
    let kv = limits.max_batch_kv;
    let keys = json!({"type": "array", "minItems": 1, "maxItems": kv, "uniqueItems": true,
        "items": key(limits)});
    let items = json!({"type": "object", "minProperties": 1, "maxProperties": kv,
        "propertyNames": key(limits),
        "additionalProperties": {"type": "string", "maxLength": limits.max_value_bytes}});
    let expected = json!({"type": "object", "propertyNames": key(limits),
        "additionalProperties": uint64()});
    tighten(doc, "KeysBody", "keys", keys.clone());
    tighten(doc, "DeleteCasBody", "keys", keys);
    tighten(doc, "ItemsBody", "items", items.clone());
    tighten(doc, "SetCasBody", "items", items);
    tighten(doc, "SetCasBody", "expected_indices", expected.clone());
    tighten(doc, "DeleteCasBody", "expected_indices", expected);
    require(doc, "KeysBody", &["keys"]);
    require(doc, "DeleteCasBody", &["keys"]);
    for field in ["flags", "cas"] {
        let nullable = json!({"type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX});
        tighten(doc, "PutBody", field, nullable);
    }
    tighten(
        doc,
        "PutBody",
        "value",
        json!({"maxLength": limits.max_value_bytes}),
    );

    let services = limits.max_batch_services;
    tighten(
        doc,
        "NamesBody",
        "names",
        json!({"type": "array", "minItems": 1, "maxItems": services,
            "items": service_key()}),
    );
    require(doc, "NamesBody", &["names"]);
    tighten(
        doc,
        "ServicesBody",
        "services",
        json!({"minItems": 1, "maxItems": services}),
    );
    require(doc, "ServicesBody", &["services"]);

    tighten(doc, "ServiceJson", "name", service_name());
    tighten(
        doc,
        "ServiceJson",
        "id",
        json!({"minLength": 1, "maxLength": MAX_NAME_CHARS,
        "pattern": "^[^/]+$"}),
    );
    tighten(doc, "ServiceJson", "address", json!({"minLength": 1}));
    tighten(
        doc,
        "ServiceJson",
        "port",
        json!({"minimum": 1, "maximum": 65535}),
    );
    tighten(
        doc,
        "ServiceJson",
        "tags",
        json!({"maxItems": MAX_TAGS, "uniqueItems": true,
        "items": tag()}),
    );
    tighten(
        doc,
        "ServiceJson",
        "meta",
        json!({"maxProperties": MAX_META,
        "propertyNames": {"type": "string", "minLength": 1, "maxLength": MAX_META_KEY_CHARS,
            "pattern": "^[A-Za-z0-9-][A-Za-z0-9_-]*$", "not": {"pattern": "^konsul_"}},
        "additionalProperties": {"type": "string", "maxLength": MAX_META_VALUE_CHARS}}),
    );
    tighten(
        doc,
        "ServiceJson",
        "ttl_ms",
        json!({"anyOf": [
        {"type": "null"}, {"const": 0},
        {"type": "integer", "minimum": crate::api::catalog_validate::MIN_TTL_MS,
         "maximum": crate::api::catalog_validate::MAX_TTL_MS}]}),
    );
    tighten(
        doc,
        "ServiceJson",
        "checks",
        json!({"maxItems": MAX_CHECKS}),
    );
    require(doc, "ServiceJson", &["name", "address", "port"]);
    tighten(doc, "RegisterBody", "cas", uint64());
    if let Some(cas) = doc.pointer_mut("/components/schemas/RegisterBody/allOf/1/properties/cas") {
        *cas = json!({"anyOf": [{"type": "null"}, uint64()],
            "description": "Compare-and-swap: 0 = create only, N = only if modify_index is N."});
    }

    tighten(
        doc,
        "JoinBody",
        "node_id",
        json!({"minLength": 1, "maxLength": MAX_NODE_NAME_BYTES,
        "pattern": "^[A-Za-z0-9._-]+$"}),
    );
    tighten(doc, "JoinBody", "address", json!({"pattern": HOST_PORT}));
    tighten(
        doc,
        "JoinBody",
        "client_address",
        json!({"anyOf": [{"const": ""}, {"type": "string", "pattern": HOST_PORT}]}),
    );
    require(doc, "JoinBody", &["node_id", "address"]);
}

/// Adds the answer `status` to `op` when the handler did not document it.
fn answer(op: &mut Value, status: &str, description: &str, schema: &str) {
    let responses = &mut op["responses"];
    if responses.get(status).is_none() {
        responses[status] = json!({"description": description,
            "content": {"application/json": {"schema": {"$ref": schema}}}});
    }
}

/// Writes every rule into `doc`, the document utoipa generated, for a node with `limits`.
pub fn apply(doc: &mut Value, limits: &Limits) {
    bodies(doc, limits);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let mut reads_at_index = false;
            let mut leveled = false;
            let mut has_input = op.get("requestBody").is_some();
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in params.iter_mut() {
                    let place = p["in"].as_str().unwrap_or_default().to_owned();
                    let name = p["name"].as_str().unwrap_or_default().to_owned();
                    has_input = true;
                    reads_at_index |= name == "min_index";
                    leveled |= name == "consistency" || name == "consistent";
                    if let Some(schema) = parameter(path, &place, &name, limits) {
                        p["schema"] = schema;
                    }
                    if path == "/services/query/tags" && name == "tags" {
                        p["required"] = json!(true);
                        p["schema"]["minItems"] = json!(1);
                    }
                }
            }
            // Writes, and reads at the leader or strong level, are served by the leader only.
            let leader_only = method != "get" || leveled;
            if has_input {
                answer(
                    op,
                    "400",
                    "Bad input: the message names the field and the limit",
                    ENVELOPE,
                );
            }
            if path == "/cluster/join" || path.starts_with("/cluster/leave") {
                // On a standalone node: {"error":"clustering not enabled","message":...}.
                op["responses"]["400"]["content"]["application/json"]["schema"] =
                    json!({"anyOf": [{"$ref": ENVELOPE}, {"$ref": SHORT}]});
                op["responses"]["400"]["description"] =
                    json!("Bad input, or clustering not enabled (a standalone node)");
            }
            if path == "/services/{name}" && method == "get" {
                // `?metadata` wraps the service with its indices and deadline.
                op["responses"]["200"]["content"]["application/json"]["schema"] = json!({"anyOf": [
                    {"$ref": "#/components/schemas/ServiceJson"},
                    {"$ref": "#/components/schemas/ServiceWithMeta"}]});
            }
            if reads_at_index {
                answer(
                    op,
                    "504",
                    "The read's min_index was not applied within the deadline (TIMEOUT)",
                    ENVELOPE,
                );
            }
            if op.get("requestBody").is_some() {
                answer(
                    op,
                    "413",
                    "The body is over the request size limit",
                    ENVELOPE,
                );
            }
            if leader_only && !path.starts_with("/health") && path != "/cluster/snapshot" {
                answer(
                    op,
                    "307",
                    "Not the leader: the same request on the leader (Location)",
                    SHORT,
                );
                answer(
                    op,
                    "503",
                    "No leader, no quorum, or the outcome of a write is unknown",
                    SHORT,
                );
            }
            if method != "get" && !path.starts_with("/cluster") {
                answer(
                    op,
                    "429",
                    "The leader's write queue is full; nothing was written",
                    SHORT,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openapi::document;

    fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
        &doc["paths"][path][method]
    }

    fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
    }

    #[test]
    fn shared_parameters_say_what_they_accept() {
        let doc = document(&Limits::default());
        let get = op(&doc, "/kv/{key}", "get");
        assert_eq!(
            param(get, "consistency")["schema"]["enum"],
            json!(["stale", "leader", "default", "strong", "linearizable"])
        );
        assert_eq!(param(get, "consistent")["schema"], flag());
        assert_eq!(
            param(get, "min_index")["schema"]["maximum"],
            json!(u64::MAX)
        );
        assert_eq!(param(get, "key")["schema"]["maxLength"], json!(1024));
        let ttl = op(&doc, "/health/check/{id}", "put");
        assert_eq!(
            param(ttl, "status")["schema"]["enum"],
            json!(["passing", "warning", "critical"])
        );
        let tags = op(&doc, "/services/query/tags", "get");
        assert_eq!(param(tags, "tags")["required"], json!(true));
    }

    #[test]
    fn bodies_carry_the_nodes_own_limits() {
        let limits = Limits {
            max_batch_kv: 7,
            max_key_bytes: 99,
            ..Limits::default()
        };
        let doc = document(&limits);
        let keys = &doc["components"]["schemas"]["KeysBody"]["properties"]["keys"];
        assert_eq!(keys["maxItems"], json!(7));
        assert_eq!(keys["items"]["maxLength"], json!(99));
        assert_eq!(keys["uniqueItems"], json!(true));
        let svc = &doc["components"]["schemas"]["ServiceJson"];
        assert_eq!(svc["required"], json!(["name", "address", "port"]));
        assert_eq!(svc["properties"]["port"]["maximum"], json!(65535));
        assert!(svc["properties"]["port"].get("format").is_none());
    }

    #[test]
    fn every_route_documents_the_answers_it_can_give() {
        let doc = document(&Limits::default());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = &op["responses"];
                let named = |p: &str| {
                    op["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|x| x["name"] == p))
                };
                if op.get("parameters").is_some() || op.get("requestBody").is_some() {
                    assert!(responses.get("400").is_some(), "{method} {path}: no 400");
                }
                if named("min_index") {
                    assert!(responses.get("504").is_some(), "{method} {path}: no 504");
                }
                if method != "get" && !path.starts_with("/health") && path != "/cluster/snapshot" {
                    assert!(responses.get("503").is_some(), "{method} {path}: no 503");
                }
            }
        }
        // A standalone node's join and leave answer the short "clustering not enabled".
        let leave = op(&doc, "/cluster/leave/{id}", "delete");
        assert_eq!(
            leave["responses"]["400"]["content"]["application/json"]["schema"]["anyOf"][1]["$ref"],
            json!(SHORT)
        );
    }
}
