//! Input rules for the catalog (reference contract §2.2), checked before anything is
//! proposed to Raft so that bad input changes nothing. Every failure is an
//! `INVALID_ARGUMENT` naming the field and the limit, for gRPC and REST alike.

use std::collections::{BTreeMap, HashSet};

use crate::config::{CatalogConfig, Limits};
use crate::error::{Error, Result};
use crate::store::Service;

/// Longest service name or instance id, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Most tags on one service.
pub const MAX_TAGS: usize = 64;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 255;
/// Most metadata pairs on one service.
pub const MAX_META: usize = 64;
/// Longest metadata key, in characters.
pub const MAX_META_KEY_CHARS: usize = 128;
/// Longest metadata value, in characters.
pub const MAX_META_VALUE_CHARS: usize = 512;
/// Shortest TTL accepted.
pub const MIN_TTL_MS: u64 = 1_000;
/// Longest TTL accepted.
pub const MAX_TTL_MS: u64 = 24 * 60 * 60 * 1_000;

/// The configured catalog limits (DESIGN.md §3) and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogLimits {
    /// Most services in one batch request (`limits.max_batch_services`).
    pub max_batch_services: usize,
    /// TTL a registration with `ttl_ms` 0 gets (`catalog.service_ttl`), in ms; config
    /// validation keeps it within [`MIN_TTL_MS`]..=[`MAX_TTL_MS`].
    pub default_ttl_ms: u64,
}

impl Default for CatalogLimits {
    /// From the configuration's defaults.
    fn default() -> Self {
        Self::from_config(&Limits::default(), &CatalogConfig::default())
    }
}

impl CatalogLimits {
    /// The catalog's share of the configured limits and TTL default.
    pub fn from_config(limits: &Limits, catalog: &CatalogConfig) -> Self {
        Self {
            max_batch_services: limits.max_batch_services,
            default_ttl_ms: u64::try_from(catalog.service_ttl.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// TTL in ms: 0 means the configured default; otherwise between 1 s and 24 h. Returns
    /// the TTL to store.
    pub fn ttl(&self, field: &str, ttl_ms: u64) -> Result<u64> {
        if ttl_ms == 0 {
            return Ok(self.default_ttl_ms);
        }
        if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&ttl_ms) {
            return Err(Error::invalid(
                field,
                format!(
                    "{ttl_ms} ms is out of range: must be between {MIN_TTL_MS} ms (1s) and {MAX_TTL_MS} ms (24h)"
                ),
            ));
        }
        Ok(ttl_ms)
    }

    /// A batch must hold 1 to `max_batch_services` entries.
    pub fn batch(&self, field: &str, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid(field, "must hold at least 1 service"));
        }
        if n > self.max_batch_services {
            return Err(Error::invalid(
                field,
                format!(
                    "Maximum {} services per batch request (got {n})",
                    self.max_batch_services
                ),
            ));
        }
        Ok(())
    }
}

/// A name or instance id: 1..255 characters, no '/' (keys are `name` or `name/id`).
pub fn name(field: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    let n = s.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(Error::invalid(
            field,
            format!("is {n} characters, the limit is {MAX_NAME_CHARS}"),
        ));
    }
    if s.contains('/') {
        return Err(Error::invalid(field, "must not contain '/'"));
    }
    Ok(())
}

/// A catalog key as clients send it to batch calls: `name` or `name/id`.
pub fn key(field: &str, k: &str) -> Result<()> {
    match k.split_once('/') {
        Some((n, id)) => {
            name(field, n)?;
            name(field, id)
        }
        None => name(field, k),
    }
}

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '/')
}

fn meta_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

/// Tags: at most 64, each 1..255 characters of `[A-Za-z0-9-_:./]`, no duplicates.
pub fn tags(field: &str, tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(
            field,
            format!("{} tags, the limit is {MAX_TAGS}", tags.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if t.is_empty() {
            return Err(Error::invalid(&f, "must not be empty"));
        }
        let n = t.chars().count();
        if n > MAX_TAG_CHARS {
            return Err(Error::invalid(
                &f,
                format!("is {n} characters, the limit is {MAX_TAG_CHARS}"),
            ));
        }
        if !t.chars().all(tag_char) {
            return Err(Error::invalid(
                &f,
                format!("'{t}' may only hold [A-Za-z0-9-_:./]"),
            ));
        }
        if !seen.insert(t.as_str()) {
            return Err(Error::invalid(&f, format!("duplicate tag: {t}")));
        }
    }
    Ok(())
}

/// Metadata: at most 64 pairs; keys 1..128 characters of `[A-Za-z0-9-_]` not starting with
/// `konsul_` or `_` (reserved); values at most 512 characters.
pub fn meta(field: &str, meta: &BTreeMap<String, String>) -> Result<()> {
    if meta.len() > MAX_META {
        return Err(Error::invalid(
            field,
            format!("{} keys, the limit is {MAX_META}", meta.len()),
        ));
    }
    for (k, v) in meta {
        let f = format!("{field}.{k}");
        if k.is_empty() {
            return Err(Error::invalid(field, "keys must not be empty"));
        }
        let n = k.chars().count();
        if n > MAX_META_KEY_CHARS {
            return Err(Error::invalid(
                &f,
                format!("key is {n} characters, the limit is {MAX_META_KEY_CHARS}"),
            ));
        }
        if !k.chars().all(meta_key_char) {
            return Err(Error::invalid(&f, "key may only hold [A-Za-z0-9-_]"));
        }
        if k.starts_with("konsul_") || k.starts_with('_') {
            return Err(Error::invalid(
                &f,
                "keys starting with 'konsul_' or '_' are reserved",
            ));
        }
        let n = v.chars().count();
        if n > MAX_META_VALUE_CHARS {
            return Err(Error::invalid(
                &f,
                format!("value is {n} characters, the limit is {MAX_META_VALUE_CHARS}"),
            ));
        }
    }
    Ok(())
}

/// Port: 1..65535.
pub fn port(field: &str, port: u32) -> Result<u16> {
    match u16::try_from(port) {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(Error::invalid(
            field,
            format!("service port must be between 1 and 65535 (got {port})"),
        )),
    }
}

/// A whole registration, its fields named under `field` (e.g. `service`, `services[3]`).
/// Returns the service as it will be stored (port narrowed, TTL defaulted from `limits`),
/// without checks: `check_validate::checks` fills those in.
#[allow(clippy::too_many_arguments)]
pub fn service(
    limits: &CatalogLimits,
    field: &str,
    svc_name: String,
    id: Option<String>,
    address: String,
    svc_port: u32,
    svc_tags: Vec<String>,
    svc_meta: BTreeMap<String, String>,
    ttl_ms: u64,
) -> Result<Service> {
    name(&format!("{field}.name"), &svc_name)?;
    if let Some(id) = &id {
        name(&format!("{field}.id"), id)?;
    }
    if address.is_empty() {
        return Err(Error::invalid(&format!("{field}.address"), "is required"));
    }
    let port = port(&format!("{field}.port"), svc_port)?;
    tags(&format!("{field}.tags"), &svc_tags)?;
    meta(&format!("{field}.meta"), &svc_meta)?;
    let ttl_ms = limits.ttl(&format!("{field}.ttl_ms"), ttl_ms)?;
    Ok(Service {
        name: svc_name,
        id,
        address,
        port,
        tags: svc_tags,
        meta: svc_meta,
        ttl_ms,
        checks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    fn svc(name: &str, address: &str, port: u32) -> Result<Service> {
        service(
            &CatalogLimits::default(),
            "service",
            name.into(),
            None,
            address.into(),
            port,
            vec![],
            BTreeMap::new(),
            0,
        )
    }

    #[test]
    fn names_are_required_bounded_and_slash_free() {
        assert_eq!(msg(svc("", "h", 80)), "service.name: is required");
        assert!(msg(svc(&"n".repeat(256), "h", 80)).contains("the limit is 255"));
        assert!(msg(svc("a/b", "h", 80)).contains("must not contain '/'"));
        assert!(svc(&"n".repeat(255), "h", 80).is_ok());
        assert!(msg(name("service.id", "x/y")).starts_with("service.id"));
        assert!(key("keys[0]", "web/1").is_ok());
        assert!(key("keys[0]", "web/").is_err());
    }

    #[test]
    fn address_and_port_are_required() {
        assert_eq!(msg(svc("web", "", 80)), "service.address: is required");
        assert!(msg(svc("web", "h", 0)).contains("between 1 and 65535"));
        assert!(msg(svc("web", "h", 65536)).contains("between 1 and 65535"));
        assert_eq!(svc("web", "h", 65535).unwrap().port, 65535);
    }

    #[test]
    fn tags_are_bounded_well_formed_and_distinct() {
        let many: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
        assert!(msg(tags("tags", &many)).contains("the limit is 64"));
        assert!(tags("tags", &many[..64]).is_ok());
        assert!(msg(tags("tags", &["".into()])).contains("tags[0]: must not be empty"));
        assert!(msg(tags("tags", &["t".repeat(256)])).contains("the limit is 255"));
        assert!(msg(tags("tags", &["a b".into()])).contains("[A-Za-z0-9-_:./]"));
        assert!(tags("tags", &["v1.2:x/y_z-w".into()]).is_ok());
        assert!(msg(tags("tags", &["web".into(), "web".into()])).contains("duplicate tag: web"));
    }

    #[test]
    fn meta_is_bounded_well_formed_and_not_reserved() {
        let m = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        let many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(msg(meta("meta", &many)).contains("the limit is 64"));
        assert!(msg(meta("meta", &m(&"k".repeat(129), "v"))).contains("the limit is 128"));
        assert!(msg(meta("meta", &m("a.b", "v"))).contains("[A-Za-z0-9-_]"));
        assert!(msg(meta("meta", &m("konsul_x", "v"))).contains("reserved"));
        assert!(msg(meta("meta", &m("_x", "v"))).contains("reserved"));
        assert!(msg(meta("meta", &m("k", &"v".repeat(513)))).contains("the limit is 512"));
        assert!(msg(meta("meta", &m("", "v"))).contains("must not be empty"));
        assert!(meta("meta", &m("env-1_x", &"v".repeat(512))).is_ok());
    }

    #[test]
    fn ttl_defaults_and_is_bounded() {
        let l = CatalogLimits::default();
        assert_eq!(
            l.ttl("ttl_ms", 0).unwrap(),
            30_000,
            "the config's default, the Go server's 30s"
        );
        assert!(msg(l.ttl("ttl_ms", 999)).contains("ttl_ms: 999 ms is out of range"));
        assert!(msg(l.ttl("ttl_ms", 999)).contains("between 1000 ms"));
        assert!(msg(l.ttl("ttl_ms", MAX_TTL_MS + 1)).contains("(24h)"));
        assert_eq!(l.ttl("ttl_ms", MAX_TTL_MS).unwrap(), MAX_TTL_MS);
    }

    #[test]
    fn the_configured_default_ttl_fills_in_a_missing_ttl() {
        let l = CatalogLimits {
            default_ttl_ms: 45_000,
            ..CatalogLimits::default()
        };
        assert_eq!(l.ttl("ttl_ms", 0).unwrap(), 45_000);
        assert_eq!(l.ttl("ttl_ms", 5_000).unwrap(), 5_000, "a given TTL wins");
        let s = service(
            &l,
            "service",
            "web".into(),
            None,
            "h".into(),
            80,
            vec![],
            BTreeMap::new(),
            0,
        )
        .unwrap();
        assert_eq!(s.ttl_ms, 45_000);
    }

    #[test]
    fn batches_hold_one_to_max_services() {
        let l = CatalogLimits::default();
        assert!(msg(l.batch("services", 0)).contains("at least 1"));
        assert!(msg(l.batch("services", 101)).contains("Maximum 100 services"));
        assert!(l.batch("services", 100).is_ok());
    }
}
