//! The identity record on a real directory, and the caller check the peer service applies.

use std::sync::Arc;

use super::*;
use crate::deps::SeededEntropy;

fn deps(seed: u64) -> Deps {
    Deps {
        rng: Arc::new(SeededEntropy::from_seed(seed)),
        ..Deps::production()
    }
}

#[tokio::test]
async fn created_once_then_kept_while_the_node_has_raft_state() {
    let dir = tempfile::tempdir().unwrap();
    let deps = deps(7);
    assert_eq!(load_checked(dir.path(), "n1", &deps).await.unwrap(), None);
    let first = keep_or_renew(None, "n1", true, dir.path(), &deps)
        .await
        .unwrap();
    assert_eq!(first.name, "n1");
    assert_ne!(first.incarnation, 0);

    // Reopened (a restart): the same record, kept because the log has state.
    let recorded = load_checked(dir.path(), "n1", &deps).await.unwrap();
    assert_eq!(recorded.as_ref(), Some(&first));
    let kept = keep_or_renew(recorded, "n1", false, dir.path(), &deps)
        .await
        .unwrap();
    assert_eq!(kept, first);
}

#[tokio::test]
async fn an_empty_log_means_a_new_incarnation() {
    let dir = tempfile::tempdir().unwrap();
    let deps = deps(8);
    let first = create(dir.path(), "n1", &deps).await.unwrap();
    let recorded = load_checked(dir.path(), "n1", &deps).await.unwrap();
    let renewed = keep_or_renew(recorded, "n1", true, dir.path(), &deps)
        .await
        .unwrap();
    assert_ne!(renewed.incarnation, first.incarnation);
    assert_eq!(
        load(dir.path(), &deps).await.unwrap(),
        Some(renewed),
        "the new incarnation is what a restart reads"
    );
}

#[tokio::test]
async fn a_data_dir_of_another_node_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let deps = deps(9);
    create(dir.path(), "n2", &deps).await.unwrap();
    let err = load_checked(dir.path(), "n3", &deps).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(msg.contains("belongs to node 'n2'"), "{msg}");
    assert!(msg.contains("configured as 'n3'"), "{msg}");
}

#[test]
fn callers_are_checked_against_name_and_incarnation() {
    let me = Identity {
        name: "n3".into(),
        incarnation: 42,
    };
    assert_eq!(me.check_caller(None, None), Ok(()), "an older peer");
    assert_eq!(me.check_caller(Some("n3"), Some("42")), Ok(()));
    assert_eq!(me.check_caller(Some("n3"), Some("0")), Ok(()), "unknown");
    assert_eq!(me.check_caller(Some("n3"), None), Ok(()));

    let wiped = me.check_caller(Some("n3"), Some("41")).unwrap_err();
    assert!(
        wiped.contains("this node is n3 incarnation 42, the caller expects incarnation 41"),
        "{wiped}"
    );
    assert!(wiped.contains("DELETE /cluster/leave/n3"), "{wiped}");

    let other = me.check_caller(Some("n4"), Some("42")).unwrap_err();
    assert!(other.contains("expects node n4"), "{other}");
    assert!(me.check_caller(Some("n3"), Some("x")).is_err());
}
