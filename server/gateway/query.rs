//! The query parameters several REST routes share: read consistency, `passing`, and the
//! last-value-wins parsing of routes that read their query as pairs (`min_index`). Route
//! files use these from here instead of from each other.

use std::collections::HashMap;

use konsul_proto::v1 as pb;

use crate::error::Error;
use crate::gateway::freshness;

/// Parses the read-consistency query parameters shared by every read route.
pub fn read_consistency(q: &HashMap<String, String>) -> Result<pb::Consistency, Error> {
    if let Some(v) = q.get("consistency") {
        return match v.as_str() {
            "stale" => Ok(pb::Consistency::Stale),
            "leader" | "default" => Ok(pb::Consistency::Leader),
            "strong" | "linearizable" => Ok(pb::Consistency::Strong),
            other => Err(Error::invalid(
                "consistency",
                format!("must be stale, leader or strong (got '{other}')"),
            )),
        };
    }
    Ok(match q.get("consistent").map(String::as_str) {
        Some("true") => pb::Consistency::Strong,
        _ => pb::Consistency::Stale,
    })
}

/// The `passing` query parameter: absent or `false` → all, empty or `true` → passing only.
pub fn passing_param(value: Option<&str>) -> Result<bool, Error> {
    match value {
        None | Some("false") => Ok(false),
        Some("" | "true") => Ok(true),
        Some(other) => Err(Error::invalid(
            "passing",
            format!("'{other}' is not true or false"),
        )),
    }
}

/// The `passing` parameter of a route that reads its query as pairs (the last one wins).
pub fn last_passing(pairs: &[(String, String)]) -> Result<bool, Error> {
    passing_param(last(pairs, "passing"))
}

/// The `min_index` of a route that reads its query as pairs (absent: 0, no wait).
pub fn last_min_index(pairs: &[(String, String)]) -> Result<u64, Error> {
    freshness::min_index_value(last(pairs, "min_index"))
}

/// The last value of query parameter `name` among `pairs`, if it was given.
fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
