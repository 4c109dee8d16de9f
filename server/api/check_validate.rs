//! Input rules for health-check definitions (reference contract §2.3), checked with the
//! service that carries them before anything is proposed to Raft. Fills in the defaults
//! (id, name, interval, timeout, HTTP method) so the log holds complete definitions. Every
//! failure is an `INVALID_ARGUMENT` naming the field and the limit.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::store::{CheckDefinition, CheckKind, Service};

/// Most checks on one service.
pub const MAX_CHECKS: usize = 32;
/// Longest check id or name, in characters.
pub const MAX_CHECK_ID_CHARS: usize = 255;
/// Probe interval when none is given.
pub const DEFAULT_INTERVAL_MS: u64 = 30_000;
/// Shortest probe interval.
pub const MIN_INTERVAL_MS: u64 = 100;
/// Longest probe interval.
pub const MAX_INTERVAL_MS: u64 = 24 * 60 * 60 * 1_000;
/// Probe timeout when none is given.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Shortest probe timeout.
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Longest probe timeout.
pub const MAX_TIMEOUT_MS: u64 = 5 * 60 * 1_000;
/// Shortest TTL of a TTL check (0 means none).
pub const MIN_CHECK_TTL_MS: u64 = 1_000;
/// Longest TTL of a TTL check.
pub const MAX_CHECK_TTL_MS: u64 = 24 * 60 * 60 * 1_000;
/// Longest HTTP check URL, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// Most extra headers of an HTTP check.
pub const MAX_HEADERS: usize = 32;
/// Longest output a client may report for a TTL check, in characters.
pub const MAX_OUTPUT_CHARS: usize = 4096;
/// Methods an HTTP check may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A check as a client described it: empty id/name and zero durations mean "default".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCheck {
    /// Check id; empty = generated from the service key.
    pub id: String,
    /// Name; empty = `<service name>-health`.
    pub name: String,
    /// What to probe (a TTL check with `ttl_ms` 0 when the client named nothing).
    pub kind: CheckKind,
    /// 0 = [`DEFAULT_INTERVAL_MS`].
    pub interval_ms: u64,
    /// 0 = [`DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u64,
}

/// Checks `raw` (named under `field`, e.g. `service.checks`) for `service` and returns the
/// definitions to store, defaults filled in.
pub fn checks(field: &str, service: &Service, raw: Vec<RawCheck>) -> Result<Vec<CheckDefinition>> {
    if raw.len() > MAX_CHECKS {
        return Err(Error::invalid(
            field,
            format!("{} checks, the limit is {MAX_CHECKS}", raw.len()),
        ));
    }
    let only = raw.len() == 1;
    let mut seen = HashSet::with_capacity(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw.into_iter().enumerate() {
        let f = format!("{field}[{i}]");
        let id = if c.id.is_empty() {
            default_id(service, if only { None } else { Some(i + 1) })
        } else {
            check_id(&format!("{f}.id"), &c.id)?;
            c.id
        };
        if !seen.insert(id.clone()) {
            return Err(Error::invalid(
                &format!("{f}.id"),
                format!("duplicate check id: {id}"),
            ));
        }
        let name = if c.name.is_empty() {
            format!("{}-health", service.name)
        } else {
            let n = c.name.chars().count();
            if n > MAX_CHECK_ID_CHARS {
                return Err(Error::invalid(
                    &format!("{f}.name"),
                    format!("is {n} characters, the limit is {MAX_CHECK_ID_CHARS}"),
                ));
            }
            c.name
        };
        let kind = kind(&f, c.kind)?;
        let interval_ms = duration(
            &format!("{f}.interval"),
            c.interval_ms,
            DEFAULT_INTERVAL_MS,
            MIN_INTERVAL_MS,
            MAX_INTERVAL_MS,
        )?;
        let timeout_ms = duration(
            &format!("{f}.timeout"),
            c.timeout_ms,
            DEFAULT_TIMEOUT_MS,
            MIN_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        )?;
        out.push(CheckDefinition {
            id,
            name,
            kind,
            interval_ms,
            timeout_ms,
        });
    }
    Ok(out)
}

/// `service:<key>` or `service:<key>:<n>`, with the key's `/` written as `:` so the id
/// fits in a URL path segment.
fn default_id(service: &Service, n: Option<usize>) -> String {
    let key = service.key().replace('/', ":");
    match n {
        None => format!("service:{key}"),
        Some(n) => format!("service:{key}:{n}"),
    }
}

fn check_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// A check id as clients give it: 1..255 characters of `[A-Za-z0-9-_.:]`.
pub fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    let n = id.chars().count();
    if n > MAX_CHECK_ID_CHARS {
        return Err(Error::invalid(
            field,
            format!("is {n} characters, the limit is {MAX_CHECK_ID_CHARS}"),
        ));
    }
    if !id.chars().all(check_id_char) {
        return Err(Error::invalid(
            field,
            format!("'{id}' may only hold [A-Za-z0-9-_.:]"),
        ));
    }
    Ok(())
}

/// A TTL check's reported output: at most [`MAX_OUTPUT_CHARS`].
pub fn output(field: &str, output: &str) -> Result<()> {
    let n = output.chars().count();
    if n > MAX_OUTPUT_CHARS {
        return Err(Error::invalid(
            field,
            format!("is {n} characters, the limit is {MAX_OUTPUT_CHARS}"),
        ));
    }
    Ok(())
}

fn duration(field: &str, ms: u64, default: u64, min: u64, max: u64) -> Result<u64> {
    if ms == 0 {
        return Ok(default);
    }
    if !(min..=max).contains(&ms) {
        return Err(Error::invalid(
            field,
            format!("{ms} ms is out of range: must be between {min} ms and {max} ms"),
        ));
    }
    Ok(ms)
}

fn kind(f: &str, kind: CheckKind) -> Result<CheckKind> {
    Ok(match kind {
        CheckKind::Ttl { ttl_ms } => {
            if ttl_ms != 0 && !(MIN_CHECK_TTL_MS..=MAX_CHECK_TTL_MS).contains(&ttl_ms) {
                return Err(Error::invalid(
                    &format!("{f}.ttl"),
                    format!(
                        "{ttl_ms} ms is out of range: must be 0 (no expiry) or between \
                         {MIN_CHECK_TTL_MS} ms (1s) and {MAX_CHECK_TTL_MS} ms (24h)"
                    ),
                ));
            }
            CheckKind::Ttl { ttl_ms }
        }
        CheckKind::Http {
            url,
            method,
            headers,
            tls_skip_verify,
        } => {
            http_url(&format!("{f}.http"), &url)?;
            let method = if method.is_empty() {
                "GET".to_owned()
            } else {
                method.to_ascii_uppercase()
            };
            if !HTTP_METHODS.contains(&method.as_str()) {
                return Err(Error::invalid(
                    &format!("{f}.method"),
                    format!("'{method}' is not one of {}", HTTP_METHODS.join(", ")),
                ));
            }
            http_headers(&format!("{f}.headers"), &headers)?;
            CheckKind::Http {
                url,
                method,
                headers,
                tls_skip_verify,
            }
        }
        CheckKind::Tcp { address } => {
            host_port(&format!("{f}.tcp"), &address)?;
            CheckKind::Tcp { address }
        }
        CheckKind::Grpc {
            address,
            service,
            use_tls,
        } => {
            host_port(&format!("{f}.grpc"), &address)?;
            let n = service.chars().count();
            if n > MAX_CHECK_ID_CHARS {
                return Err(Error::invalid(
                    &format!("{f}.grpc"),
                    format!("service name is {n} characters, the limit is {MAX_CHECK_ID_CHARS}"),
                ));
            }
            CheckKind::Grpc {
                address,
                service,
                use_tls,
            }
        }
    })
}

fn http_url(field: &str, url: &str) -> Result<()> {
    let n = url.chars().count();
    if n > MAX_URL_CHARS {
        return Err(Error::invalid(
            field,
            format!("URL is {n} characters, the limit is {MAX_URL_CHARS}"),
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::invalid(field, format!("'{url}' is not a valid URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(()),
        _ => Err(Error::invalid(
            field,
            format!("'{url}' must be an absolute http:// or https:// URL"),
        )),
    }
}

fn http_headers(field: &str, headers: &BTreeMap<String, String>) -> Result<()> {
    if headers.len() > MAX_HEADERS {
        return Err(Error::invalid(
            field,
            format!("{} headers, the limit is {MAX_HEADERS}", headers.len()),
        ));
    }
    for (name, value) in headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(Error::invalid(
                field,
                format!("'{name}' is not a valid header name"),
            ));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(Error::invalid(
                &format!("{field}.{name}"),
                "is not a valid header value",
            ));
        }
    }
    Ok(())
}

/// `host:port` with a non-empty host and a port of 1..65535 (`[v6]:port` allowed).
pub fn host_port(field: &str, address: &str) -> Result<()> {
    let bad = || {
        Error::invalid(
            field,
            format!("'{address}' must be host:port with a port between 1 and 65535"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match port.parse::<u16>() {
        Ok(p) if p >= 1 && !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(id: Option<&str>) -> Service {
        Service {
            name: "web".into(),
            id: id.map(str::to_owned),
            address: "10.0.0.1".into(),
            port: 80,
            ..Service::default()
        }
    }

    fn raw(kind: CheckKind) -> RawCheck {
        RawCheck {
            id: String::new(),
            name: String::new(),
            kind,
            interval_ms: 0,
            timeout_ms: 0,
        }
    }

    fn err(r: Result<Vec<CheckDefinition>>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_filled_in() {
        let one = checks(
            "c",
            &svc(Some("a")),
            vec![raw(CheckKind::Ttl { ttl_ms: 0 })],
        )
        .unwrap();
        assert_eq!(one[0].id, "service:web:a");
        assert_eq!(one[0].name, "web-health");
        assert_eq!((one[0].interval_ms, one[0].timeout_ms), (30_000, 10_000));
        let two = checks(
            "c",
            &svc(None),
            vec![
                raw(CheckKind::Tcp {
                    address: "h:1".into(),
                }),
                raw(CheckKind::Http {
                    url: "http://h:2/".into(),
                    method: "post".into(),
                    headers: BTreeMap::new(),
                    tls_skip_verify: false,
                }),
            ],
        )
        .unwrap();
        assert_eq!(
            (two[0].id.as_str(), two[1].id.as_str()),
            ("service:web:1", "service:web:2")
        );
        assert!(matches!(&two[1].kind, CheckKind::Http { method, .. } if method == "POST"));
    }

    #[test]
    fn bad_checks_name_the_field() {
        let s = svc(None);
        let e = err(checks("c", &s, vec![raw(CheckKind::Ttl { ttl_ms: 10 })]));
        assert!(e.contains("c[0].ttl") && e.contains("1000 ms"), "{e}");
        let mut r = raw(CheckKind::Tcp {
            address: "h:1".into(),
        });
        r.interval_ms = 50;
        let e = err(checks("c", &s, vec![r]));
        assert!(e.contains("c[0].interval") && e.contains("100 ms"), "{e}");
        let mut r = raw(CheckKind::Tcp {
            address: "h:1".into(),
        });
        r.timeout_ms = 10 * 60 * 1000;
        assert!(err(checks("c", &s, vec![r])).contains("c[0].timeout"));
        for address in ["nohost", "h:0", "h:70000", ":80"] {
            let e = err(checks(
                "c",
                &s,
                vec![raw(CheckKind::Tcp {
                    address: address.into(),
                })],
            ));
            assert!(e.contains("c[0].tcp"), "{address}: {e}");
        }
        let e = err(checks(
            "c",
            &s,
            vec![raw(CheckKind::Http {
                url: "ftp://x/".into(),
                method: String::new(),
                headers: BTreeMap::new(),
                tls_skip_verify: false,
            })],
        ));
        assert!(e.contains("c[0].http"), "{e}");
        let e = err(checks(
            "c",
            &s,
            vec![raw(CheckKind::Http {
                url: "http://x/".into(),
                method: "BREW".into(),
                headers: BTreeMap::new(),
                tls_skip_verify: false,
            })],
        ));
        assert!(e.contains("c[0].method"), "{e}");
        let mut r = raw(CheckKind::Ttl { ttl_ms: 0 });
        r.id = "a/b".into();
        assert!(err(checks("c", &s, vec![r])).contains("c[0].id"));
        let mut a = raw(CheckKind::Ttl { ttl_ms: 0 });
        a.id = "x".into();
        let e = err(checks("c", &s, vec![a.clone(), a]));
        assert!(e.contains("duplicate check id"), "{e}");
        let many = vec![raw(CheckKind::Ttl { ttl_ms: 0 }); MAX_CHECKS + 1];
        assert!(err(checks("c", &s, many)).contains("the limit is 32"));
    }
}
