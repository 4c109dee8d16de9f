//! Log entries, ids, votes, memberships, snapshot metadata and the Vote and AppendEntries
//! RPCs round-trip through their protobuf form; incomplete entries are refused.

use super::*;

#[test]
fn entries_of_every_kind_round_trip_through_bytes() {
    let entries: Vec<Entry> = vec![
        Entry {
            log_id: log_id(1, 1, 1),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: log_id(1, 1, 2),
            payload: EntryPayload::Membership(joint_membership()),
        },
        Entry {
            log_id: log_id(2, 3, 3),
            payload: EntryPayload::Normal(every_command().remove(4)),
        },
    ];
    for e in entries {
        assert_eq!(entry_from_bytes(&entry_to_bytes(e.clone())).unwrap(), e);
    }
    assert!(matches!(
        entry_from_bytes(&[0xff, 0xff]),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn incomplete_entries_are_refused() {
    let full = encode_entry(Entry {
        log_id: log_id(1, 1, 1),
        payload: EntryPayload::Blank,
    });
    let no_payload = pb::Entry {
        payload: None,
        ..full.clone()
    };
    assert_eq!(
        decode_entry(no_payload),
        Err(CodecError::Missing("Entry.payload"))
    );
    let no_log_id = pb::Entry {
        log_id: None,
        ..full.clone()
    };
    assert_eq!(
        decode_entry(no_log_id),
        Err(CodecError::Missing("Entry.log_id"))
    );
    let no_leader = pb::Entry {
        log_id: Some(pb::LogId {
            leader_id: None,
            index: 1,
        }),
        ..full
    };
    assert_eq!(
        decode_entry(no_leader),
        Err(CodecError::Missing("LogId.leader_id"))
    );
}

#[test]
fn ids_votes_and_optional_log_ids_round_trip() {
    let id = log_id(5, 2, 42);
    assert_eq!(decode_log_id(encode_log_id(&id)).unwrap(), id);
    assert_eq!(decode_opt_log_id(encode_opt_log_id(&None)).unwrap(), None);
    assert_eq!(
        decode_opt_log_id(encode_opt_log_id(&Some(id))).unwrap(),
        Some(id)
    );
    let leader = LeaderId::new(9, 3);
    assert_eq!(decode_leader_id(encode_leader_id(&leader)).unwrap(), leader);
    for vote in [Vote::new(3, 1), Vote::new_committed(4, 2), Vote::new(0, 0)] {
        assert_eq!(decode_vote(encode_vote(&vote)).unwrap(), vote);
    }
    let no_leader = pb::Vote {
        leader_id: None,
        committed: true,
    };
    assert_eq!(
        decode_vote(no_leader),
        Err(CodecError::Missing("Vote.leader_id"))
    );
}

#[test]
fn memberships_and_snapshot_meta_round_trip() {
    let m = joint_membership();
    assert_eq!(decode_membership(encode_membership(&m)), Ok(m));
    for stored in [
        StoredMembership::default(),
        StoredMembership::new(Some(log_id(1, 1, 2)), joint_membership()),
    ] {
        let back = decode_stored_membership(encode_stored_membership(&stored)).unwrap();
        assert_eq!(back, stored);
    }
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(2, 1, 10)),
        last_membership: StoredMembership::new(Some(log_id(1, 1, 2)), joint_membership()),
    };
    assert_eq!(
        decode_snapshot_meta(encode_snapshot_meta(&meta)).unwrap(),
        meta
    );
    let empty = SnapshotMeta::default();
    assert_eq!(
        decode_snapshot_meta(encode_snapshot_meta(&empty)).unwrap(),
        empty
    );
    let vote = Vote::new_committed(2, 1);
    let offer = SnapshotOffer {
        vote,
        meta,
        size: 3 << 20,
    };
    assert_eq!(
        decode_snapshot_header(encode_snapshot_header(&offer)).unwrap(),
        offer
    );
    let no_meta = pb::SnapshotHeader {
        meta: None,
        ..encode_snapshot_header(&offer)
    };
    assert_eq!(
        decode_snapshot_header(no_meta),
        Err(CodecError::Missing("SnapshotHeader.meta"))
    );
}

#[test]
fn vote_rpcs_round_trip() {
    for last in [None, Some(log_id(1, 2, 3))] {
        let req = VoteRequest::new(Vote::new(2, 2), last);
        assert_eq!(decode_vote_request(encode_vote_request(&req)).unwrap(), req);
        let resp = VoteResponse::new(Vote::new(2, 2), last, true);
        assert_eq!(
            decode_vote_response(encode_vote_response(&resp)).unwrap(),
            resp
        );
    }
    let no_vote = pb::VoteRequest {
        vote: None,
        last_log_id: None,
        leadership_transfer: false,
    };
    assert_eq!(
        decode_vote_request(no_vote),
        Err(CodecError::Missing("VoteRequest.vote"))
    );
}

#[test]
fn append_entries_rpcs_round_trip() {
    let entries = vec![
        Entry {
            log_id: log_id(3, 1, 5),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: log_id(3, 1, 6),
            payload: EntryPayload::Normal(every_command().remove(0)),
        },
    ];
    let req = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(3, 1),
        prev_log_id: Some(log_id(2, 2, 4)),
        entries: entries.clone(),
        leader_commit: Some(log_id(2, 2, 3)),
    };
    let back = decode_append_request(encode_append_request(req)).unwrap();
    assert_eq!(back.vote, Vote::new_committed(3, 1));
    assert_eq!(back.prev_log_id, Some(log_id(2, 2, 4)));
    assert_eq!(back.entries, entries);
    assert_eq!(back.leader_commit, Some(log_id(2, 2, 3)));

    let heartbeat = AppendEntriesRequest::<TypeConfig> {
        vote: Vote::new_committed(1, 1),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    let back = decode_append_request(encode_append_request(heartbeat)).unwrap();
    assert!(back.entries.is_empty() && back.prev_log_id.is_none());
    assert!(back.leader_commit.is_none());

    for resp in [
        AppendEntriesResponse::Success,
        AppendEntriesResponse::PartialSuccess(None),
        AppendEntriesResponse::PartialSuccess(Some(log_id(3, 1, 5))),
        AppendEntriesResponse::Conflict,
        AppendEntriesResponse::HigherVote(Vote::new(4, 2)),
    ] {
        assert_eq!(
            decode_append_response(encode_append_response(&resp)).unwrap(),
            resp
        );
    }
    let empty = pb::AppendEntriesResponse { result: None };
    assert_eq!(
        decode_append_response(empty),
        Err(CodecError::Missing("AppendEntriesResponse.result"))
    );
}

/// A peer message naming a term or index near 2^64 would make openraft overflow (and panic)
/// when it adds one; the codec refuses it before openraft sees it.
#[test]
fn terms_and_indices_that_would_overflow_are_refused() {
    let huge = |term: u64, index: u64| VoteRequest::<TypeConfig> {
        vote: Vote::new(term, 2),
        last_log_id: Some(log_id(1, 2, index)),
        leadership_transfer: false,
    };
    let ok = decode_vote_request(encode_vote_request(&huge(MAX_TERM_OR_INDEX, 7))).unwrap();
    assert_eq!(ok.vote, Vote::new(MAX_TERM_OR_INDEX, 2));
    assert_eq!(
        decode_vote_request(encode_vote_request(&huge(u64::MAX, 7))).unwrap_err(),
        CodecError::OutOfRange {
            field: "LeaderId.term",
            value: u64::MAX
        }
    );
    assert_eq!(
        decode_vote_request(encode_vote_request(&huge(3, u64::MAX))).unwrap_err(),
        CodecError::OutOfRange {
            field: "LogId.index",
            value: u64::MAX
        }
    );
    let entry = encode_entry(Entry {
        log_id: log_id(MAX_TERM_OR_INDEX + 1, 1, 1),
        payload: EntryPayload::Blank,
    });
    assert!(matches!(
        decode_entry(entry),
        Err(CodecError::OutOfRange {
            field: "LeaderId.term",
            ..
        })
    ));
}

/// AppendEntries whose entries skip an index, repeat one, or go back a term is refused.
#[test]
fn entries_that_do_not_follow_prev_log_id_are_refused() {
    let blank = |term, index| Entry {
        log_id: log_id(term, 1, index),
        payload: EntryPayload::Blank,
    };
    let request = |prev: Option<LogIdOf<TypeConfig>>, entries: Vec<Entry>| {
        encode_append_request(AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: prev,
            entries,
            leader_commit: None,
        })
    };
    assert!(decode_append_request(request(None, vec![blank(1, 0), blank(1, 1)])).is_ok());
    let refused = [
        (Some(log_id(2, 1, 4)), vec![blank(3, 6)], 5, 6),
        (Some(log_id(2, 1, 4)), vec![blank(3, 5), blank(3, 5)], 6, 5),
        (None, vec![blank(1, 1)], 0, 1),
        (Some(log_id(2, 1, 4)), vec![blank(1, 5)], 5, 5),
    ];
    for (prev, entries, expected, found) in refused {
        assert_eq!(
            decode_append_request(request(prev, entries)).unwrap_err(),
            CodecError::NotContiguous { expected, found }
        );
    }
}
