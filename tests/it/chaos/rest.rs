//! The REST side of the fault suite's clients: one call with its redirects followed and its
//! answer sorted into known / failed (nothing written) / unknown, and one read with the
//! node that answered and the index it reflected.

use super::workload::Targets;

/// How one call ended.
pub enum Outcome<T> {
    /// The answer came back.
    Known(T),
    /// Nothing was done (refused before being applied, never sent).
    Failed,
    /// It may or may not have been applied.
    Unknown,
}

impl<T> Outcome<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Known(v) => Outcome::Known(f(v)),
            Outcome::Failed => Outcome::Failed,
            Outcome::Unknown => Outcome::Unknown,
        }
    }
}

/// A REST answer that is known.
pub enum Rest {
    Ok(serde_json::Value),
    Conflict,
    NotFound,
}

/// One REST call (following up to three redirects).
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    mut url: String,
    body: Option<serde_json::Value>,
    id: Option<&str>,
) -> Outcome<Rest> {
    for _ in 0..3 {
        let mut req = http.request(method.clone(), format!("http://{url}"));
        if let Some(b) = &body {
            req = req.json(b);
        }
        if let Some(id) = id {
            req = req.header("X-Konsul-Request-Id", id);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Outcome::Failed,
            Err(_) => return Outcome::Unknown,
        };
        let status = resp.status().as_u16();
        if status == 307 {
            let Some(next) = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.strip_prefix("http://"))
            else {
                return Outcome::Failed;
            };
            url = next.to_owned();
            continue;
        }
        let json: serde_json::Value = match resp.json().await {
            Ok(j) => j,
            Err(_) => return Outcome::Unknown,
        };
        return match status {
            200 => Outcome::Known(Rest::Ok(json)),
            409 => Outcome::Known(Rest::Conflict),
            404 => Outcome::Known(Rest::NotFound),
            503 if json["error"] == "outcome unknown" => Outcome::Unknown,
            // no leader, no quorum, write queue full, bad request: nothing written.
            _ if status == 503 || status == 429 || status == 400 => Outcome::Failed,
            _ => Outcome::Unknown,
        };
    }
    Outcome::Failed
}

/// A REST read of `url` (sent to `node`): the value and index, the node that answered
/// when known (a forwarded read is answered by the leader, unnamed), and X-Konsul-Index.
pub async fn read(
    http: &reqwest::Client,
    targets: &Targets,
    mut url: String,
    mut node: usize,
) -> Option<(Option<(u64, u64)>, Option<usize>, u64)> {
    for _ in 0..3 {
        let resp = http.get(format!("http://{url}")).send().await.ok()?;
        let status = resp.status().as_u16();
        if status == 307 {
            let next = resp.headers().get("location")?.to_str().ok()?;
            url = next.strip_prefix("http://")?.to_owned();
            node = targets
                .nodes
                .iter()
                .position(|n| url.starts_with(n.as_str()))?;
            continue;
        }
        let index: Option<u64> = resp
            .headers()
            .get("X-Konsul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        // A forwarded read is answered by the leader, whichever it is: no node to check.
        let served = index
            .filter(|_| !targets.forwarding.contains(&node))
            .map(|_| node);
        let index = index.unwrap_or(0);
        return match status {
            200 => {
                let json: serde_json::Value = resp.json().await.ok()?;
                let value = parse(json["value"].as_str()?.as_bytes());
                Some((Some((value, json["modify_index"].as_u64()?)), served, index))
            }
            404 => Some((None, served, index)),
            _ => None,
        };
    }
    None
}

/// A stored value as the number the suite wrote; anything else reads as a value nobody
/// wrote, which the checker reports.
pub fn parse(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}
