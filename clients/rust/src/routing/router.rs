//! The retry loop shared by every call (see the module doc of `routing`).
//!
//! Safety argument for replays: a redirect, a "no leader" answer, a refusal (no quorum, a
//! full queue) and a connection that was never established all mean the request changed
//! nothing, so sending the same request again (to the leader, later, or elsewhere) cannot
//! apply it twice. A write that carries a request id is also resent when its outcome is
//! unknown: the server applies one id at most once and answers a retry with the first
//! outcome. Anything else that goes wrong after a write without an id was sent ends the
//! call with `Error::Indeterminate`, and so does an identified write whose retry budget
//! runs out while its outcome is still unknown.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::address;
use super::backoff::Backoff;
use super::channels::Channels;
use super::leader::LeaderHint;
use super::outcome::{Outcome, classify};
use crate::client::Settings;
use crate::error::{Error, Result};

/// Which nodes may serve a call, and whether it changes state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Route {
    leader_only: bool,
    writes: bool,
    /// The write carries a request id, so an unknown outcome may be retried.
    identified: bool,
}

impl Route {
    /// A read that only the leader serves (default, leader and strong consistency).
    pub(crate) const LEADER_READ: Route = Route {
        leader_only: true,
        writes: false,
        identified: false,
    };
    /// A read any node serves from its own state (stale reads, a node's view of the cluster).
    pub(crate) const ANY_READ: Route = Route {
        leader_only: false,
        writes: false,
        identified: false,
    };
    /// A write through the Raft log.
    pub(crate) const LEADER_WRITE: Route = Route {
        leader_only: true,
        writes: true,
        identified: false,
    };
    /// A write through the Raft log that carries a request id: retried when its outcome is
    /// unknown.
    pub(crate) const IDENTIFIED_WRITE: Route = Route {
        leader_only: true,
        writes: true,
        identified: true,
    };
    /// A call with side effects on whichever node receives it (a snapshot).
    pub(crate) const ANY_WRITE: Route = Route {
        leader_only: false,
        writes: true,
        identified: false,
    };
}

/// Endpoints, cached channels and the leader hint of one client (shared by its clones).
pub(crate) struct Router {
    endpoints: Vec<String>,
    cursor: AtomicUsize,
    channels: Channels,
    leader: LeaderHint,
    settings: Settings,
}

/// What to do after a failed attempt.
struct Next {
    uri: String,
    backoff: bool,
    error: Error,
}

impl Router {
    /// A router over `endpoints` (already validated, at least one).
    pub(crate) fn new(endpoints: Vec<String>, settings: Settings) -> Result<Self> {
        let endpoints = endpoints
            .iter()
            .map(|e| address::normalize(e))
            .collect::<Result<Vec<_>>>()?;
        if endpoints.is_empty() {
            return Err(Error::InvalidArgument(
                "at least one endpoint is required".into(),
            ));
        }
        Ok(Self {
            endpoints,
            cursor: AtomicUsize::new(0),
            channels: Channels::new(settings.clone()),
            leader: LeaderHint::default(),
            settings,
        })
    }

    /// The configured endpoints as URIs.
    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The URI currently believed to be the leader's.
    pub(crate) fn leader_hint(&self) -> Option<String> {
        self.leader.get()
    }

    /// Sends `message` along `route`, retrying as the module doc describes. `send` performs
    /// one attempt on a channel.
    pub(crate) async fn call<Req, Resp, F, Fut>(
        &self,
        route: Route,
        message: Req,
        send: F,
    ) -> Result<Resp>
    where
        Req: Clone,
        F: Fn(Channel, Request<Req>) -> Fut,
        Fut: Future<Output = std::result::Result<Response<Resp>, Status>>,
    {
        let s = &self.settings;
        let deadline = Instant::now() + s.retry_deadline;
        let mut backoff = Backoff::new(s.backoff_initial, s.backoff_max);
        let mut uri = self.first_choice(route);
        let mut attempt = 1;
        // Once an attempt of a write may have been applied, the call can no longer end with
        // an error that says "nothing was written", whatever later attempts meet.
        let mut maybe_applied: Option<(String, String)> = None;
        // Nodes this call could not connect to: a redirect back to one of them (a follower
        // that has not yet noticed its leader died) waits like an election does.
        let mut unreachable: Vec<String> = Vec::new();
        loop {
            let channel = self.channels.get(&uri)?;
            let mut request = Request::new(message.clone());
            request.set_timeout(s.request_timeout);
            let status = match send(channel, request).await {
                Ok(response) => {
                    if route.leader_only {
                        self.leader.set(&uri);
                    }
                    return Ok(response.into_inner());
                }
                Err(status) => status,
            };
            let next = match self.after_failure(route, &uri, status) {
                Ok(next) => next,
                Err(e) => return Err(keep_unknown(e, maybe_applied)),
            };
            match &next.error {
                Error::Indeterminate { endpoint, message } => {
                    maybe_applied = Some((endpoint.clone(), message.clone()));
                }
                Error::Transport { endpoint, .. } if !unreachable.contains(endpoint) => {
                    unreachable.push(endpoint.clone());
                }
                _ => {}
            }
            if attempt >= s.max_attempts {
                return Err(keep_unknown(next.error, maybe_applied));
            }
            let pause = if next.backoff || unreachable.contains(&next.uri) {
                backoff.next_delay()
            } else {
                Default::default()
            };
            if Instant::now() + pause >= deadline {
                return Err(keep_unknown(next.error, maybe_applied));
            }
            tokio::time::sleep(pause).await;
            uri = next.uri;
            attempt += 1;
        }
    }

    /// Decides where the next attempt goes, or ends the call with `Err`.
    fn after_failure(&self, route: Route, uri: &str, status: Status) -> Result<Next> {
        let outcome = classify(&status);
        if route.identified {
            // An outcome the server may or may not have applied: the same id again is safe.
            let unknown = match &outcome {
                Outcome::MaybeSent(m) | Outcome::Unavailable(m) => Some(m.clone()),
                Outcome::Interrupted => Some(format!("{}: {}", status.code(), status.message())),
                _ => None,
            };
            if let Some(message) = unknown {
                self.leader.forget_if(uri);
                return Ok(Next {
                    uri: self.rotate_from(uri),
                    backoff: true,
                    error: Error::Indeterminate {
                        endpoint: uri.to_owned(),
                        message,
                    },
                });
            }
        }
        let next = match outcome {
            Outcome::Redirect(addr) => {
                let leader = address::leader_uri(&addr)?;
                self.leader.set(&leader);
                Next {
                    // A node that names itself has stale leader information: give it time.
                    backoff: leader == uri,
                    uri: leader,
                    error: Error::NoLeader,
                }
            }
            Outcome::NoLeader => {
                self.leader.forget_if(uri);
                Next {
                    uri: self.rotate_from(uri),
                    backoff: true,
                    error: Error::NoLeader,
                }
            }
            Outcome::NotSent(message) => {
                self.leader.forget_if(uri);
                let next = self.rotate_from(uri);
                Next {
                    // Try the other endpoints at once; pause once they have all been tried.
                    backoff: next == self.endpoints[0] || self.endpoints.len() == 1,
                    uri: next,
                    error: Error::Transport {
                        endpoint: uri.to_owned(),
                        message,
                    },
                }
            }
            Outcome::MaybeSent(message) if route.writes => {
                self.leader.forget_if(uri);
                return Err(Error::Indeterminate {
                    endpoint: uri.to_owned(),
                    message,
                });
            }
            Outcome::MaybeSent(message) => {
                self.leader.forget_if(uri);
                Next {
                    uri: self.rotate_from(uri),
                    backoff: true,
                    error: Error::Transport {
                        endpoint: uri.to_owned(),
                        message,
                    },
                }
            }
            // The server accepted the write and then failed (e.g. Raft stopped): the entry
            // may still commit under a later leader.
            Outcome::Unavailable(message) if route.writes => {
                self.leader.forget_if(uri);
                return Err(Error::Indeterminate {
                    endpoint: uri.to_owned(),
                    message,
                });
            }
            Outcome::Unavailable(message) | Outcome::Refused(message) => {
                self.leader.forget_if(uri);
                Next {
                    uri: self.rotate_from(uri),
                    backoff: true,
                    error: Error::Unavailable(message),
                }
            }
            Outcome::Interrupted if route.writes => {
                return Err(Error::Indeterminate {
                    endpoint: uri.to_owned(),
                    message: format!("{}: {}", status.code(), status.message()),
                });
            }
            Outcome::Interrupted | Outcome::Final => return Err(Error::from_status(status)),
        };
        Ok(next)
    }

    /// Where the first attempt goes: the leader if one is known and needed, else the
    /// current endpoint.
    fn first_choice(&self, route: Route) -> String {
        if route.leader_only
            && let Some(leader) = self.leader.get()
        {
            return leader;
        }
        self.current()
    }

    fn current(&self) -> String {
        let i = self.cursor.load(Ordering::Relaxed) % self.endpoints.len();
        self.endpoints[i].clone()
    }

    /// The endpoint to try after `failed`: the next configured one if `failed` is the
    /// current one, else the current one (`failed` was a leader outside the list, or another
    /// call has already moved on).
    fn rotate_from(&self, failed: &str) -> String {
        let n = self.endpoints.len();
        let i = self.cursor.load(Ordering::Relaxed);
        if self.endpoints[i % n] == failed {
            // Lost races only mean two calls moved the cursor; any endpoint is fine.
            let _ =
                self.cursor
                    .compare_exchange(i, (i + 1) % n, Ordering::Relaxed, Ordering::Relaxed);
        }
        self.current()
    }
}

/// The error a call ends with: `e`, unless it claims nothing was written while an earlier
/// attempt may have been applied; then the earlier attempt's unknown outcome.
fn keep_unknown(e: Error, maybe_applied: Option<(String, String)>) -> Error {
    match (e, maybe_applied) {
        (
            Error::NoLeader | Error::Transport { .. } | Error::Unavailable(_),
            Some((endpoint, message)),
        ) => Error::Indeterminate { endpoint, message },
        (e, _) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(endpoints: &[&str]) -> Router {
        Router::new(
            endpoints.iter().map(|s| s.to_string()).collect(),
            Settings::default(),
        )
        .unwrap()
    }

    fn not_leader(addr: &str) -> Status {
        let mut s = Status::unavailable("not leader");
        s.metadata_mut()
            .insert("konsul-leader-addr", addr.parse().unwrap());
        s
    }

    #[test]
    fn needs_an_endpoint() {
        assert!(matches!(
            Router::new(vec![], Settings::default()),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn a_redirect_is_remembered_and_followed() {
        let r = router(&["a:1", "b:1"]);
        let next = r
            .after_failure(Route::LEADER_WRITE, "http://a:1", not_leader("c:1"))
            .unwrap();
        assert_eq!(next.uri, "http://c:1");
        assert!(!next.backoff);
        assert_eq!(r.leader_hint().as_deref(), Some("http://c:1"));
        assert_eq!(r.first_choice(Route::LEADER_READ), "http://c:1");
        assert_eq!(r.first_choice(Route::ANY_READ), "http://a:1");
    }

    #[test]
    fn unreachable_endpoints_rotate() {
        let r = router(&["a:1", "b:1"]);
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "no");
        let s = Status::from_error(Box::new(tonic::ConnectError(Box::new(refused))));
        let next = r
            .after_failure(Route::LEADER_WRITE, "http://a:1", s)
            .unwrap();
        assert_eq!(next.uri, "http://b:1");
        assert!(!next.backoff, "the second endpoint is tried at once");
        assert!(matches!(next.error, Error::Transport { .. }));
    }

    #[test]
    fn a_write_that_may_have_been_sent_is_not_replayed() {
        let r = router(&["a:1"]);
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let write = r.after_failure(
            Route::LEADER_WRITE,
            "http://a:1",
            Status::from_error(Box::new(reset)),
        );
        assert!(matches!(write, Err(Error::Indeterminate { .. })));

        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let read = r.after_failure(
            Route::LEADER_READ,
            "http://a:1",
            Status::from_error(Box::new(reset)),
        );
        assert!(matches!(read, Ok(Next { backoff: true, .. })));
    }

    #[test]
    fn final_answers_end_the_call() {
        let r = router(&["a:1"]);
        let e = r
            .after_failure(
                Route::LEADER_WRITE,
                "http://a:1",
                Status::aborted("CAS conflict"),
            )
            .err()
            .unwrap();
        assert!(matches!(e, Error::CasConflict { .. }));
    }

    #[test]
    fn an_unknown_outcome_is_never_downgraded_to_nothing_written() {
        let unknown = Some(("http://a:1".to_owned(), "reset".to_owned()));
        for e in [
            Error::NoLeader,
            Error::Unavailable("no quorum".into()),
            Error::Transport {
                endpoint: "http://b:1".into(),
                message: "refused".into(),
            },
        ] {
            assert!(matches!(
                keep_unknown(e, unknown.clone()),
                Error::Indeterminate { endpoint, .. } if endpoint == "http://a:1"
            ));
        }
        let conflict = Error::CasConflict {
            message: "c".into(),
        };
        assert!(matches!(
            keep_unknown(conflict, unknown),
            Error::CasConflict { .. }
        ));
        assert!(matches!(
            keep_unknown(Error::NoLeader, None),
            Error::NoLeader
        ));
    }

    #[test]
    fn an_identified_write_with_an_unknown_outcome_is_retried() {
        let r = router(&["a:1", "b:1"]);
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let next = r
            .after_failure(
                Route::IDENTIFIED_WRITE,
                "http://a:1",
                Status::from_error(Box::new(reset)),
            )
            .unwrap();
        assert_eq!(next.uri, "http://b:1");
        assert!(matches!(next.error, Error::Indeterminate { .. }));
    }

    #[test]
    fn a_write_the_server_gave_up_on_is_indeterminate() {
        let r = router(&["a:1"]);
        let late = || Status::deadline_exceeded("deadline passed");
        let write = r.after_failure(Route::LEADER_WRITE, "http://a:1", late());
        assert!(matches!(write, Err(Error::Indeterminate { .. })));
        let read = r.after_failure(Route::LEADER_READ, "http://a:1", late());
        assert!(matches!(read, Err(Error::Status(s)) if s.code() == tonic::Code::DeadlineExceeded));
    }
}
