//! The request ids the SDK puts on every KV write, so that the router may resend a write
//! whose outcome it did not learn: the server applies one id at most once and answers the
//! retry with the first attempt's outcome.
//!
//! Each [`crate::Client`] (and its clones) draws one random client id when it is built and
//! numbers its writes from 1; a resent write keeps its number.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use konsul_proto::v1 as pb;

/// The id source of one client, shared by its clones.
#[derive(Debug)]
pub(crate) struct RequestIds {
    client_id: String,
    next: AtomicU64,
}

impl RequestIds {
    /// A fresh client id: 128 bits from the standard library's randomly keyed hasher (its
    /// keys come from the OS and differ for every `RandomState`), mixed with the process
    /// id, as hex. No RNG crate needed for an id that only has to be unique.
    pub(crate) fn new() -> Self {
        let mut words = [0u64; 2];
        for (i, w) in words.iter_mut().enumerate() {
            let mut h = RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_usize(i);
            *w = h.finish();
        }
        Self {
            client_id: format!("rs-{:016x}{:016x}", words[0], words[1]),
            next: AtomicU64::new(1),
        }
    }

    /// The id of the next write.
    pub(crate) fn next(&self) -> pb::RequestId {
        pb::RequestId {
            client_id: self.client_id.clone(),
            seq: self.next.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// This client's id.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbered_per_client_and_clients_differ() {
        let a = RequestIds::new();
        let b = RequestIds::new();
        assert_ne!(a.client_id(), b.client_id());
        assert_eq!(a.next().seq, 1);
        let second = a.next();
        assert_eq!((second.client_id.as_str(), second.seq), (a.client_id(), 2));
        assert!(a.client_id().len() <= 128);
        assert!(
            a.client_id()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        );
    }
}
