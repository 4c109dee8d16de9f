//! The query parameters several REST routes share: read consistency, `passing`, and the
//! last-value-wins parsing of routes that read their query as pairs (`min_index`). Route
//! files use these from here instead of from each other.

use std::collections::HashMap;

use crate::api::ReadOptions;
use crate::error::Error;
use crate::gateway::freshness;
use crate::raft::node::ReadConsistency;

/// The freshness a REST read asks for: its consistency parameters (stale by default, as
/// the Go server served every read) and `min_index`.
pub fn read_options(q: &HashMap<String, String>) -> Result<ReadOptions, Error> {
    Ok(ReadOptions {
        consistency: read_consistency(q)?,
        min_index: freshness::min_index(q)?,
    })
}

/// Parses the read-consistency query parameters shared by every read route.
pub fn read_consistency(q: &HashMap<String, String>) -> Result<ReadConsistency, Error> {
    let consistent = flag("consistent", q.get("consistent").map(String::as_str))?;
    if let Some(v) = q.get("consistency") {
        return match v.as_str() {
            "stale" => Ok(ReadConsistency::Stale),
            "leader" | "default" => Ok(ReadConsistency::Leader),
            "strong" | "linearizable" => Ok(ReadConsistency::Strong),
            other => Err(Error::invalid(
                "consistency",
                format!("must be stale, leader or strong (got '{other}')"),
            )),
        };
    }
    Ok(if consistent {
        ReadConsistency::Strong
    } else {
        ReadConsistency::Stale
    })
}

/// A flag parameter (`passing`, `consistent`, `metadata`): absent or `false` → off, empty
/// (`?passing`, as Consul writes flags) or `true` → on; anything else names the parameter.
pub fn flag(name: &str, value: Option<&str>) -> Result<bool, Error> {
    match value {
        None | Some("false") => Ok(false),
        Some("" | "true") => Ok(true),
        Some(other) => Err(Error::invalid(
            name,
            format!("'{other}' is not true or false"),
        )),
    }
}

/// The `passing` query parameter: absent or `false` → all, empty or `true` → passing only.
pub fn passing_param(value: Option<&str>) -> Result<bool, Error> {
    flag("passing", value)
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
