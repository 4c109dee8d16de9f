//! The one REST route table. The axum router is built from it, and a test checks every
//! entry against the OpenAPI document, so a route cannot exist without being documented.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post, put};
use http::{Method, StatusCode, Uri};

use crate::gateway::context::Ctx;
use crate::gateway::error::envelope;
use crate::gateway::{
    Gateway, catalog, catalog_batch, checks, cluster, health, kv, kv_batch, openapi, stages,
};

/// One REST route: method, axum path pattern and handler.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// axum path pattern (`{*key}` is a catch-all that keeps slashes).
    pub path: &'static str,
    /// The handler.
    pub handler: MethodRouter<Gateway>,
}

fn r(method: Method, path: &'static str, handler: MethodRouter<Gateway>) -> Route {
    Route {
        method,
        path,
        handler,
    }
}

/// Every REST route Konsul serves.
pub fn table() -> Vec<Route> {
    vec![
        r(Method::GET, "/kv", get(kv::list_no_slash)),
        r(Method::GET, "/kv/", get(kv::list)),
        r(Method::PUT, "/kv/", put(kv::empty_key)),
        r(Method::DELETE, "/kv/", delete(kv::empty_key_delete)),
        r(Method::GET, "/kv/{*key}", get(kv::get)),
        r(Method::PUT, "/kv/{*key}", put(kv::put)),
        r(Method::DELETE, "/kv/{*key}", delete(kv::delete)),
        r(Method::POST, "/batch/kv/get", post(kv_batch::get)),
        r(Method::POST, "/batch/kv/set", post(kv_batch::set)),
        r(Method::POST, "/batch/kv/delete", post(kv_batch::delete)),
        r(Method::POST, "/batch/kv/set-cas", post(kv_batch::set_cas)),
        r(
            Method::POST,
            "/batch/kv/delete-cas",
            post(kv_batch::delete_cas),
        ),
        r(Method::PUT, "/register", put(catalog::register)),
        r(
            Method::DELETE,
            "/deregister/{name}",
            delete(catalog::deregister),
        ),
        r(Method::PUT, "/heartbeat/{name}", put(catalog::heartbeat)),
        r(Method::GET, "/services", get(catalog::list_no_slash)),
        r(Method::GET, "/services/", get(catalog::list)),
        // Static segments beat `{name}` in axum's matcher, so these are not shadowed.
        r(Method::GET, "/services/query", get(catalog::query)),
        r(
            Method::GET,
            "/services/query/tags",
            get(catalog::query_tags),
        ),
        r(
            Method::GET,
            "/services/query/metadata",
            get(catalog::query_metadata),
        ),
        r(Method::GET, "/services/{name}", get(catalog::get)),
        r(
            Method::POST,
            "/batch/services/get",
            post(catalog_batch::get),
        ),
        r(
            Method::POST,
            "/batch/services/register",
            post(catalog_batch::register),
        ),
        r(
            Method::POST,
            "/batch/services/deregister",
            post(catalog_batch::deregister),
        ),
        r(Method::GET, "/cluster/status", get(cluster::status)),
        r(Method::GET, "/cluster/leader", get(cluster::leader)),
        r(Method::GET, "/cluster/peers", get(cluster::peers)),
        r(Method::POST, "/cluster/join", post(cluster::join)),
        r(
            Method::DELETE,
            "/cluster/leave/{id}",
            delete(cluster::leave),
        ),
        r(Method::POST, "/cluster/snapshot", post(cluster::snapshot)),
        r(Method::GET, "/health", get(health::health)),
        r(Method::GET, "/health/live", get(health::live)),
        r(Method::GET, "/health/ready", get(health::ready)),
        r(Method::GET, "/health/checks", get(checks::list)),
        r(Method::GET, "/health/service/{name}", get(checks::service)),
        r(Method::PUT, "/health/check/{id}", put(checks::update_ttl)),
        r(Method::GET, "/openapi.json", get(openapi::openapi_json)),
        r(Method::GET, "/debug/stages", get(stages::stages)),
    ]
}

/// The OpenAPI spelling of an axum path pattern (`{*key}` → `{key}`).
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// The REST router: every route of [`table`], a JSON 404 for unknown routes and a JSON 405
/// for known paths with the wrong method.
pub fn router(g: Gateway) -> Router {
    let limit = g.limits.max_request_bytes;
    let mut router = Router::new();
    for route in table() {
        router = router.route(route.path, route.handler);
    }
    #[cfg(feature = "failpoints")]
    if g.deps.faults.is_some() {
        router = router.route("/debug/faults", put(crate::gateway::debug::faults));
    }
    let (g404, g405) = (g.clone(), g.clone());
    router
        .fallback(move |method: Method, uri: Uri| async move {
            unknown(&g404, StatusCode::NOT_FOUND, &method, &uri)
        })
        .method_not_allowed_fallback(move |method: Method, uri: Uri| async move {
            unknown(&g405, StatusCode::METHOD_NOT_ALLOWED, &method, &uri)
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(g)
}

fn unknown(g: &Gateway, code: StatusCode, method: &Method, uri: &Uri) -> Response {
    let ctx = Ctx::new(uri.path(), g);
    let message = if code == StatusCode::NOT_FOUND {
        format!(
            "no route for {method} {}; see GET /openapi.json",
            uri.path()
        )
    } else {
        format!("method {method} is not allowed on {}", uri.path())
    };
    envelope(code, &message, &ctx)
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let doc = openapi::ApiDoc::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let mut missing = Vec::new();
        for route in table() {
            let path = openapi_path(route.path);
            let method = route.method.as_str().to_ascii_lowercase();
            if json["paths"][&path][&method].is_null() {
                missing.push(format!("{} {}", route.method, route.path));
            }
        }
        assert!(
            missing.is_empty(),
            "routes missing from /openapi.json: {missing:?}"
        );
    }

    #[test]
    fn every_documented_operation_is_a_route() {
        let doc = serde_json::to_value(openapi::ApiDoc::openapi()).unwrap();
        let routes: Vec<(String, String)> = table()
            .iter()
            .map(|r| (openapi_path(r.path), r.method.as_str().to_ascii_lowercase()))
            .collect();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    routes.contains(&(path.clone(), method.clone())),
                    "documented but not routed: {method} {path}"
                );
            }
        }
    }
}
