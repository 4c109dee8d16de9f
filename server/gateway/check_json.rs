//! Health checks as JSON (reference contract §2.3): the definition a client registers
//! inside a service (`checks: [...]`, durations as Go strings such as "30s") and the check
//! with its status that the `/health/*` routes answer (durations as integer nanoseconds,
//! times as RFC 3339). Conversions to and from the typed API's check types.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::catalog_types::CheckView;
use crate::api::check_validate::RawCheck;
use crate::config::parse::duration;
use crate::error::{Error, Result};
use crate::gateway::format::{go_duration, rfc3339};
use crate::store::{CheckDefinition, CheckKind, CheckStatus};

/// How the contract writes a time that never happened (Go's zero time.Time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A check definition inside a registration. Exactly one of `http`, `tcp`, `grpc` or
/// `ttl` (none: a TTL check that never expires).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckJson {
    /// Check id; generated from the service when omitted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Name; `<service>-health` when omitted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The owning service; when given it must be the registering service's name (or its
    /// `name/id` key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// URL of an HTTP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `host:port` of a TCP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// `host:port` or `host:port/service` of a gRPC health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<String>,
    /// TTL of a TTL check, e.g. "15s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Time between probes, e.g. "10s" (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Time one probe may take, e.g. "2s" (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// HTTP method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Extra HTTP request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// HTTP check: accept any server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_skip_verify: Option<bool>,
    /// gRPC check: connect with TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_use_tls: Option<bool>,
}

/// Milliseconds of a Go duration string; a non-zero duration under 1 ms counts as 1 ms so
/// that the range check refuses it rather than reading it as "default".
fn millis(field: &str, text: &Option<String>) -> Result<u64> {
    let Some(text) = text else { return Ok(0) };
    let d = duration(text).map_err(|e| Error::invalid(field, e))?;
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(if ms == 0 && !d.is_zero() { 1 } else { ms })
}

impl CheckJson {
    /// The definition as the typed API takes it (defaults filled in there); `field` names
    /// this check (e.g. `checks[0]`) and `owner` lists what `service_id` may say.
    pub fn into_raw(self, field: &str, owner: &[&str]) -> Result<RawCheck> {
        if let Some(sid) = &self.service_id
            && !owner.contains(&sid.as_str())
        {
            return Err(Error::invalid(
                &format!("{field}.service_id"),
                format!(
                    "'{sid}' is not the service being registered ({})",
                    owner.join(" or ")
                ),
            ));
        }
        let given: Vec<&str> = [
            ("http", self.http.is_some()),
            ("tcp", self.tcp.is_some()),
            ("grpc", self.grpc.is_some()),
            ("ttl", self.ttl.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect();
        if given.len() > 1 {
            return Err(Error::invalid(
                field,
                format!(
                    "give only one of http, tcp, grpc or ttl (got {})",
                    given.join(", ")
                ),
            ));
        }
        // Fields of one kind on a check of another kind are a mistake, not something to drop.
        let stray: Vec<&str> = [
            ("method", self.method.is_some() && self.http.is_none()),
            ("headers", self.headers.is_some() && self.http.is_none()),
            (
                "tls_skip_verify",
                self.tls_skip_verify.is_some() && self.http.is_none(),
            ),
            (
                "grpc_use_tls",
                self.grpc_use_tls.is_some() && self.grpc.is_none(),
            ),
        ]
        .into_iter()
        .filter_map(|(n, bad)| bad.then_some(n))
        .collect();
        if let Some(first) = stray.first() {
            let owner = if *first == "grpc_use_tls" {
                "grpc"
            } else {
                "http"
            };
            return Err(Error::invalid(
                &format!("{field}.{first}"),
                format!("only applies to {owner} checks"),
            ));
        }
        let kind = if let Some(url) = self.http {
            CheckKind::Http {
                url,
                method: self.method.unwrap_or_default(),
                headers: self.headers.unwrap_or_default(),
                tls_skip_verify: self.tls_skip_verify.unwrap_or(false),
            }
        } else if let Some(address) = self.tcp {
            CheckKind::Tcp { address }
        } else if let Some(target) = self.grpc {
            let (address, service) = match target.split_once('/') {
                Some((a, s)) => (a.to_owned(), s.to_owned()),
                None => (target, String::new()),
            };
            CheckKind::Grpc {
                address,
                service,
                use_tls: self.grpc_use_tls.unwrap_or(false),
            }
        } else {
            CheckKind::Ttl {
                ttl_ms: millis(&format!("{field}.ttl"), &self.ttl)?,
            }
        };
        Ok(RawCheck {
            id: self.id,
            name: self.name,
            kind,
            interval_ms: millis(&format!("{field}.interval"), &self.interval)?,
            timeout_ms: millis(&format!("{field}.timeout"), &self.timeout)?,
        })
    }

    /// The JSON echo of a stored definition.
    pub fn from_definition(d: &CheckDefinition, service_id: &str) -> Self {
        let ms = |n: u64| Some(go_duration(Duration::from_millis(n)));
        let mut out = Self {
            id: d.id.clone(),
            name: d.name.clone(),
            service_id: Some(service_id.to_owned()),
            interval: ms(d.interval_ms),
            timeout: ms(d.timeout_ms),
            ..Self::default()
        };
        match &d.kind {
            CheckKind::Http {
                url,
                method,
                headers,
                tls_skip_verify,
            } => {
                out.http = Some(url.clone());
                out.method = Some(method.clone());
                out.headers = (!headers.is_empty()).then(|| headers.clone());
                out.tls_skip_verify = Some(*tls_skip_verify);
            }
            CheckKind::Tcp { address } => out.tcp = Some(address.clone()),
            CheckKind::Grpc {
                address,
                service,
                use_tls,
            } => {
                out.grpc = Some(if service.is_empty() {
                    address.clone()
                } else {
                    format!("{address}/{service}")
                });
                out.grpc_use_tls = Some(*use_tls);
            }
            CheckKind::Ttl { ttl_ms } => out.ttl = ms(*ttl_ms),
        }
        out
    }
}

/// A check and its status, as `/health/checks` and `/health/service/{name}` answer it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckOut {
    /// Check id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Catalog key of the owning service (its name, or `name/id`).
    pub service_id: String,
    /// Name of the owning service.
    pub service_name: String,
    /// `ttl`, `http`, `tcp` or `grpc`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `passing`, `warning` or `critical`.
    pub status: &'static str,
    /// Output of the latest probe or report.
    pub output: String,
    /// RFC 3339 time of the latest probe or report (Go's zero time before any).
    pub last_check: String,
    /// Nanoseconds between probes.
    pub interval: u64,
    /// Nanoseconds one probe may take.
    pub timeout: u64,
    /// HTTP check URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// HTTP headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// HTTP: certificate not verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_skip_verify: Option<bool>,
    /// TCP check address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// gRPC check target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<String>,
    /// gRPC: TLS used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_use_tls: Option<bool>,
    /// TTL check: nanoseconds one report holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// TTL check: RFC 3339 deadline of the latest report (Go's zero time when none).
    pub expires_at: String,
}

fn time_of(ms: u64) -> String {
    if ms == 0 {
        ZERO_TIME.to_owned()
    } else {
        rfc3339(UNIX_EPOCH + Duration::from_millis(ms))
    }
}

impl CheckOut {
    /// The JSON view of one check.
    pub fn from_view(c: CheckView) -> Self {
        let status = match c.status {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        };
        let d = c.definition;
        let echo = CheckJson::from_definition(&d, &c.service_key);
        let kind = match &d.kind {
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::Ttl { .. } => "ttl",
        };
        let ns = |ms: u64| ms.saturating_mul(1_000_000);
        Self {
            id: d.id,
            name: d.name,
            service_id: c.service_key,
            service_name: c.service_name,
            kind,
            status,
            output: c.output,
            last_check: time_of(c.last_check_ms),
            interval: ns(d.interval_ms),
            timeout: ns(d.timeout_ms),
            http: echo.http,
            method: echo.method,
            headers: echo.headers,
            tls_skip_verify: echo.tls_skip_verify,
            tcp: echo.tcp,
            grpc: echo.grpc,
            grpc_use_tls: echo.grpc_use_tls,
            ttl: match d.kind {
                CheckKind::Ttl { ttl_ms } => Some(ns(ttl_ms)),
                _ => None,
            },
            expires_at: time_of(c.expires_at_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_take_go_durations_and_one_kind() {
        let c: CheckJson =
            serde_json::from_str(r#"{"http":"http://h:1/x","interval":"1.5s","timeout":"500ms"}"#)
                .unwrap();
        let raw = c.into_raw("checks[0]", &["web"]).unwrap();
        assert_eq!((raw.interval_ms, raw.timeout_ms), (1500, 500));
        let c: CheckJson = serde_json::from_str(r#"{"http":"http://h/","tcp":"h:1"}"#).unwrap();
        let e = c.into_raw("checks[0]", &["web"]).unwrap_err().to_string();
        assert!(e.contains("checks[0]") && e.contains("only one"), "{e}");
        let c: CheckJson = serde_json::from_str(r#"{"ttl":"soon"}"#).unwrap();
        let e = c.into_raw("checks[1]", &["web"]).unwrap_err().to_string();
        assert!(e.contains("checks[1].ttl"), "{e}");
        let c: CheckJson = serde_json::from_str(r#"{"ttl":"10us"}"#).unwrap();
        assert_eq!(
            c.into_raw("c", &["web"]).unwrap().kind,
            CheckKind::Ttl { ttl_ms: 1 }
        );
        let c: CheckJson = serde_json::from_str(r#"{"service_id":"db"}"#).unwrap();
        let e = c.into_raw("c", &["web"]).unwrap_err().to_string();
        assert!(e.contains("c.service_id"), "{e}");
        let c: CheckJson = serde_json::from_str(r#"{"tcp":"h:1","method":"GET"}"#).unwrap();
        let e = c.into_raw("c", &["web"]).unwrap_err().to_string();
        assert!(e.contains("c.method") && e.contains("http"), "{e}");
        let c: CheckJson =
            serde_json::from_str(r#"{"http":"http://h/","grpc_use_tls":true}"#).unwrap();
        let e = c.into_raw("c", &["web"]).unwrap_err().to_string();
        assert!(e.contains("c.grpc_use_tls"), "{e}");
        let c: CheckJson = serde_json::from_str(r#"{"grpc":"h:9/pkg.Svc"}"#).unwrap();
        assert!(matches!(
            c.into_raw("c", &["web"]).unwrap().kind,
            CheckKind::Grpc { address, service, .. } if address == "h:9" && service == "pkg.Svc"
        ));
    }
}
