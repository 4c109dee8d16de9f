//! Input limits, checked before anything is proposed to Raft, so bad input changes nothing.
//! Every message names the field and the limit, for gRPC and REST alike.

use std::collections::HashSet;

use crate::error::{Error, Result};

/// The configured size limits (DESIGN.md §3): the config's type, with its defaults; the
/// checks below are added to it here.
pub use crate::config::Limits;

impl Limits {
    /// A key must be non-empty and at most `max_key_bytes` long.
    pub fn key(&self, field: &str, key: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if key.len() > self.max_key_bytes {
            return Err(Error::invalid(
                field,
                format!(
                    "key is {} bytes, the limit is {} bytes",
                    key.len(),
                    self.max_key_bytes
                ),
            ));
        }
        Ok(())
    }

    /// A value must be at most `max_value_bytes` long.
    pub fn value(&self, field: &str, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(Error::invalid(
                field,
                format!(
                    "value is {} bytes, the limit is {} bytes",
                    value.len(),
                    self.max_value_bytes
                ),
            ));
        }
        Ok(())
    }

    /// A batch must hold 1 to `max_batch_kv` items, each key at most once.
    pub fn batch<'a>(
        &self,
        field: &str,
        keys: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<()> {
        let n = keys.len();
        if n == 0 {
            return Err(Error::invalid(field, "must hold at least 1 item"));
        }
        if n > self.max_batch_kv {
            return Err(Error::invalid(
                field,
                format!(
                    "Maximum {} items per batch request (got {n})",
                    self.max_batch_kv
                ),
            ));
        }
        let mut seen = HashSet::with_capacity(n);
        for (i, k) in keys.enumerate() {
            self.key(&format!("{field}[{i}].key"), k)?;
            if !seen.insert(k) {
                return Err(Error::invalid(
                    &format!("{field}[{i}].key"),
                    format!("duplicate key '{k}' in one batch"),
                ));
            }
        }
        Ok(())
    }
}

impl Limits {
    /// A batch of writes: the [`Limits::batch`] rules on the keys, and each value at most
    /// `max_value_bytes`, reported as `<field>[i].value`.
    pub fn batch_writes<'a, I>(&self, field: &str, items: I) -> Result<()>
    where
        I: ExactSizeIterator<Item = (&'a str, &'a [u8])> + Clone,
    {
        self.batch(field, items.clone().map(|(k, _)| k))?;
        for (i, (_, value)) in items.enumerate() {
            self.value(&format!("{field}[{i}].value"), value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<()>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn keys_values_and_batches_are_bounded() {
        let l = Limits::default();
        assert_eq!(msg(l.key("key", "")), "key: must not be empty");
        assert!(msg(l.key("key", &"k".repeat(1025))).contains("the limit is 1024 bytes"));
        assert!(l.key("key", &"k".repeat(1024)).is_ok());
        assert!(msg(l.value("value", &vec![0; 1024 * 1024 + 1])).contains("1048576"));
        assert!(l.value("value", &vec![0; 1024 * 1024]).is_ok());
        let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
        assert!(msg(l.batch("items", many.iter().map(String::as_str))).contains("Maximum 1000"));
        assert!(msg(l.batch("keys", [].into_iter())).starts_with("keys: "));
        assert!(msg(l.batch("keys", ["a", "a"].into_iter())).contains("duplicate key 'a'"));
        assert!(msg(l.batch("keys", ["a", ""].into_iter())).starts_with("keys[1].key"));
    }
}
