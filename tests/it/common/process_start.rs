//! Starting a `konsul` process for `ProcessCluster`: the environment it gets (settings,
//! dial routes as `KONSUL_FAULT_ROUTES` or a `PUT /debug/faults` body) and reading the
//! addresses it listens on from its startup line.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use super::DEADLINE;
use super::mesh::RouteList;

pub(super) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn routes_env(routes: &RouteList) -> String {
    routes
        .iter()
        .map(|(from, to)| format!("{from}={to}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn routes_json(routes: &RouteList) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = routes
        .iter()
        .map(|(from, to)| (from.clone(), serde_json::Value::String(to.clone())))
        .collect();
    serde_json::json!({ "routes": map })
}

/// Reads the child's startup line ("... listening: gRPC+REST on <addr>, Raft peers on
/// <addr>") and keeps draining its stdout afterwards. `None` when the process closes stdout
/// first (it exited, e.g. because a port was still in use).
pub(super) async fn startup_addresses(child: &mut Child) -> Option<(SocketAddr, SocketAddr)> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("startup line in time")
        .ok()??;
    let field = |marker: &str| -> SocketAddr {
        line.split(marker)
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected startup line: {line}"))
    };
    let addrs = (field("gRPC+REST on "), field("Raft peers on "));
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(addrs)
}
