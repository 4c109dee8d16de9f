//! Cluster events for the operator's log, one info line each: this node's view of the leader
//! changed (a new leader, or none), and, on the leader, a peer stopped answering or answers
//! again. openraft's own logs stay at warn by default (`raft.log_level`), so these lines are
//! what a node says about its cluster.
//!
//! ```text
//!  RaftNode::start ──spawn──► every tick: metrics (leader, term, members) + LastContact
//!                                 ──► Watch::observe ──► Event ──► tracing::info!
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;

use super::contact::LastContact;
use super::{KonsulRaft, NodeId};

/// What the node sees at one tick.
#[derive(Debug, Clone, PartialEq)]
struct Observation {
    term: u64,
    /// The leader's name, when one is known.
    leader: Option<String>,
    /// Whether this node is the leader.
    leading: bool,
    /// Each other member's name and how long ago it last answered (`None`: never).
    peers: BTreeMap<String, Option<Duration>>,
}

/// One line for the log.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Leader {
        name: String,
        term: u64,
    },
    NoLeader {
        term: u64,
    },
    PeerLost {
        name: String,
        silent: Option<Duration>,
    },
    PeerBack {
        name: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Leader { name, term } => write!(f, "leader is {name} (term {term})"),
            Event::NoLeader { term } => write!(f, "no leader known (term {term})"),
            Event::PeerLost {
                name,
                silent: Some(d),
            } => write!(f, "peer lost: {name} has not answered for {d:.1?}"),
            Event::PeerLost { name, silent: None } => {
                write!(
                    f,
                    "peer lost: {name} has not answered since this node leads"
                )
            }
            Event::PeerBack { name } => write!(f, "peer back: {name} answers again"),
        }
    }
}

/// The last state logged, so each change is logged once.
#[derive(Debug, Default)]
struct Watch {
    /// The leader last reported (`Some(None)`: "no leader" was reported).
    leader: Option<Option<String>>,
    /// Peers reported lost and not back yet (only while leading).
    lost: BTreeSet<String>,
    /// How long this node has led without a break, in ticks' time.
    led_for: Duration,
}

impl Watch {
    /// The events between the last observation and `now`, one `tick` later. A peer is lost
    /// once silent for more than `lost_after` (or, never heard from, once this node has led
    /// that long).
    fn observe(&mut self, now: &Observation, tick: Duration, lost_after: Duration) -> Vec<Event> {
        let mut events = Vec::new();
        if self.leader.as_ref() != Some(&now.leader) {
            // Stay quiet about "no leader" before any leader was ever reported (startup).
            match &now.leader {
                Some(name) => events.push(Event::Leader {
                    name: name.clone(),
                    term: now.term,
                }),
                None if self.leader.is_some() => events.push(Event::NoLeader { term: now.term }),
                None => {}
            }
            if now.leader.is_some() || self.leader.is_some() {
                self.leader = Some(now.leader.clone());
            }
        }
        if !now.leading {
            self.lost.clear();
            self.led_for = Duration::ZERO;
            return events;
        }
        self.led_for += tick;
        for (name, silent) in &now.peers {
            let lost = match silent {
                Some(d) => *d > lost_after,
                None => self.led_for > lost_after,
            };
            if lost && self.lost.insert(name.clone()) {
                events.push(Event::PeerLost {
                    name: name.clone(),
                    silent: *silent,
                });
            } else if !lost && self.lost.remove(name) {
                events.push(Event::PeerBack { name: name.clone() });
            }
        }
        // A removed member is neither lost nor back: it is gone.
        self.lost.retain(|name| now.peers.contains_key(name));
        events
    }
}

/// Starts the event log for `raft` (this node is `me`): ticks every `lost_after / 2`, a peer
/// counts as lost after `lost_after` without an answer. Ends when the Raft core stops.
pub(super) fn spawn(raft: KonsulRaft, me: NodeId, contact: LastContact, lost_after: Duration) {
    let tick = (lost_after / 2).max(Duration::from_millis(10));
    tokio::spawn(async move {
        let metrics = raft.metrics();
        let mut watch = Watch::default();
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if raft.is_initialized().await.is_err() {
                return;
            }
            let now = {
                let m = metrics.borrow_watched();
                let membership = m.membership_config.membership();
                let name_of = |id: &NodeId| membership.get_node(id).map(|n| n.name.clone());
                Observation {
                    term: m.current_term,
                    leader: m.current_leader.as_ref().and_then(name_of),
                    leading: m.current_leader == Some(me),
                    peers: membership
                        .nodes()
                        .filter(|(id, _)| **id != me)
                        .map(|(id, n)| (n.name.clone(), contact.since(*id)))
                        .collect(),
                }
            };
            for event in watch.observe(&now, tick, lost_after) {
                tracing::info!("{event}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(500);
    const LOST: Duration = Duration::from_secs(1);

    fn seen(term: u64, leader: Option<&str>, leading: bool, peers: &[(&str, u64)]) -> Observation {
        Observation {
            term,
            leader: leader.map(str::to_owned),
            leading,
            peers: peers
                .iter()
                .map(|(n, ms)| (n.to_string(), Some(Duration::from_millis(*ms))))
                .collect(),
        }
    }

    #[test]
    fn each_leader_change_is_one_line_and_startup_without_a_leader_is_quiet() {
        let mut w = Watch::default();
        assert!(w.observe(&seen(0, None, false, &[]), TICK, LOST).is_empty());
        let n2 = Event::Leader {
            name: "n2".into(),
            term: 1,
        };
        assert_eq!(
            w.observe(&seen(1, Some("n2"), false, &[]), TICK, LOST),
            [n2]
        );
        assert!(
            w.observe(&seen(1, Some("n2"), false, &[]), TICK, LOST)
                .is_empty()
        );
        assert_eq!(
            w.observe(&seen(2, None, false, &[]), TICK, LOST),
            [Event::NoLeader { term: 2 }]
        );
        assert!(w.observe(&seen(2, None, false, &[]), TICK, LOST).is_empty());
        let n1 = Event::Leader {
            name: "n1".into(),
            term: 3,
        };
        assert_eq!(w.observe(&seen(3, Some("n1"), true, &[]), TICK, LOST), [n1]);
    }

    #[test]
    fn the_leader_reports_a_silent_peer_once_and_again_when_it_answers() {
        let mut w = Watch::default();
        let lead = |peers: &[(&str, u64)]| seen(1, Some("n1"), true, peers);
        w.observe(&lead(&[("n2", 100), ("n3", 100)]), TICK, LOST);
        assert_eq!(
            w.observe(&lead(&[("n2", 100), ("n3", 1500)]), TICK, LOST),
            [Event::PeerLost {
                name: "n3".into(),
                silent: Some(Duration::from_millis(1500))
            }]
        );
        assert!(
            w.observe(&lead(&[("n2", 100), ("n3", 2000)]), TICK, LOST)
                .is_empty(),
            "reported once"
        );
        assert_eq!(
            w.observe(&lead(&[("n2", 100), ("n3", 50)]), TICK, LOST),
            [Event::PeerBack { name: "n3".into() }]
        );
        // A follower says nothing about peers.
        let follow = seen(2, Some("n2"), false, &[("n3", 5000)]);
        let events = w.observe(&follow, TICK, LOST);
        assert_eq!(events.len(), 1, "only the new leader: {events:?}");
    }

    #[test]
    fn a_peer_never_heard_from_is_lost_once_the_leader_has_led_long_enough() {
        let mut w = Watch::default();
        let mut lead = seen(1, Some("n1"), true, &[]);
        lead.peers.insert("n2".into(), None);
        w.observe(&lead, TICK, LOST);
        assert!(w.observe(&lead, TICK, LOST).is_empty(), "1 s: not yet");
        assert_eq!(
            w.observe(&lead, TICK, LOST),
            [Event::PeerLost {
                name: "n2".into(),
                silent: None
            }]
        );
        assert!(
            Event::PeerLost {
                name: "n2".into(),
                silent: None
            }
            .to_string()
            .contains("n2")
        );
    }
}
