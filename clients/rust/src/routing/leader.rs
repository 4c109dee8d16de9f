//! What the client believes about the leader: the URI of the node that last accepted a
//! leader-only call or that a follower named in its redirect. Leader-only calls go there
//! first; the belief is dropped as soon as that node fails or stops being the leader.

use std::sync::Mutex;

/// The remembered leader address, shared by every clone of a client.
#[derive(Default)]
pub(crate) struct LeaderHint {
    uri: Mutex<Option<String>>,
}

impl LeaderHint {
    /// The leader's URI, if one is known.
    pub(crate) fn get(&self) -> Option<String> {
        self.lock().clone()
    }

    /// Remembers `uri` as the leader.
    pub(crate) fn set(&self, uri: &str) {
        let mut g = self.lock();
        if g.as_deref() != Some(uri) {
            *g = Some(uri.to_owned());
        }
    }

    /// Forgets the leader if it is `uri`: a failure at some other node must not erase a
    /// leader that another call has just learned.
    pub(crate) fn forget_if(&self, uri: &str) {
        let mut g = self.lock();
        if g.as_deref() == Some(uri) {
            *g = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.uri.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_only_the_node_that_failed() {
        let h = LeaderHint::default();
        assert_eq!(h.get(), None);
        h.set("http://a:1");
        h.forget_if("http://b:1");
        assert_eq!(h.get().as_deref(), Some("http://a:1"));
        h.forget_if("http://a:1");
        assert_eq!(h.get(), None);
    }
}
