//! The services the catalog workloads (`--op register|heartbeat|query`) work on, spelled once
//! so that both targets register the very same set: service `n` has a name, a group tag that
//! queries select on, and, for etcd, a key under its group's prefix and a JSON value of about
//! the size of Konsul's service entry.
//!
//! - `heartbeat` and `query` first register services `0 .. --key-space` (Konsul:
//!   `BatchRegister` of 100 per call; etcd: a lease per service with a fixed id, then a put
//!   under that lease), then heartbeat a random one / query a random group.
//! - `register` registers a new service per call, numbered by a counter shared by all clients
//!   and named with the run's nonce so that repeated runs do not just replace each other.

use std::time::Duration;

/// Services per `BatchRegister` call while pre-registering: Konsul's default batch limit.
pub const REGISTER_BATCH: u64 = 100;

/// First etcd lease id of the pre-registered services: service `n` holds lease
/// `LEASE_BASE + n`, so a heartbeat can name its lease without a lookup.
pub const LEASE_BASE: i64 = 0x4b5f_0000_0000;

/// How the catalog workloads shape their services.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Number of group tags (`g0 .. g<groups-1>`); service `n` is in group `n mod groups`,
    /// and a query asks for one group.
    pub groups: u64,
    /// TTL of every registration (Konsul `ttl_ms`, etcd lease TTL in whole seconds).
    pub ttl: Duration,
    /// Distinguishes the services of one `register` run from another's.
    pub nonce: String,
}

impl Shape {
    /// Name of pre-registered service `n`.
    pub fn name(&self, n: u64) -> String {
        format!("svc-{n}")
    }

    /// Name of the `n`-th service a `register` run creates.
    pub fn unique_name(&self, n: u64) -> String {
        format!("reg-{}-{n}", self.nonce)
    }

    /// The group tag of service `n`.
    pub fn group_of(&self, n: u64) -> String {
        self.group(n % self.groups)
    }

    /// Group tag number `g`.
    pub fn group(&self, g: u64) -> String {
        format!("g{g}")
    }

    /// The tags of service `n`.
    pub fn tags(&self, n: u64) -> Vec<String> {
        vec!["bench".to_string(), self.group_of(n)]
    }

    /// Address service `n` registers (only its shape matters).
    pub fn address(&self, n: u64) -> String {
        format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
    }

    /// Port every service registers.
    pub fn port(&self) -> u32 {
        8080
    }

    /// etcd: the prefix a query of group `g` ranges over.
    pub fn group_prefix(&self, g: u64) -> String {
        format!("svc/{}/", self.group(g))
    }

    /// etcd: the key of the service named `name`, number `n`.
    pub fn etcd_key(&self, n: u64, name: &str) -> String {
        format!("{}{name}", self.group_prefix(n % self.groups))
    }

    /// etcd: the value stored for a service, the JSON a registry would keep.
    pub fn etcd_value(&self, n: u64, name: &str) -> Vec<u8> {
        format!(
            r#"{{"name":"{name}","address":"{}","port":{},"tags":["bench","{}"]}}"#,
            self.address(n),
            self.port(),
            self.group_of(n)
        )
        .into_bytes()
    }

    /// etcd: the lease TTL in whole seconds (at least 1).
    pub fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX).max(1)
    }

    /// Konsul: the TTL in milliseconds.
    pub fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }
}

/// The end of the etcd range holding every key that starts with `prefix`: the prefix with its
/// last byte incremented (our prefixes end in `/`, never in 0xff).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            groups: 100,
            ttl: Duration::from_secs(60),
            nonce: "x".into(),
        }
    }

    #[test]
    fn a_group_prefix_range_holds_exactly_that_group() {
        let s = shape();
        let prefix = s.group_prefix(1);
        let end = prefix_end(&prefix);
        assert_eq!(end, b"svc/g10");
        let inside = s.etcd_key(101, &s.name(101));
        assert!(inside.starts_with(&prefix));
        assert!(inside.as_bytes() < end.as_slice());
        let other = s.etcd_key(10, &s.name(10));
        assert!(
            other.as_bytes() >= end.as_slice(),
            "group 10 is not in group 1"
        );
    }

    #[test]
    fn services_are_named_grouped_and_valued_consistently() {
        let s = shape();
        assert_eq!(s.name(7), "svc-7");
        assert_eq!(s.unique_name(7), "reg-x-7");
        assert_eq!(s.tags(207), ["bench", "g7"]);
        assert_eq!(s.address(258), "10.0.1.2");
        let v = String::from_utf8(s.etcd_value(7, "svc-7")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert_eq!(json["tags"][1], "g7");
        assert_eq!(s.ttl_secs(), 60);
        assert_eq!(s.ttl_ms(), 60_000);
    }
}
