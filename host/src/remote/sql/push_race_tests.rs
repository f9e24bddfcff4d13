//! Tests of `ebb_push` under races on a real PostgreSQL: a retry racing
//! its first attempt gets the same answer, and two devices pushing on one
//! base get one applied and one conflict (split from push_tests.rs).

use serde_json::{Value, json};

use super::push_tests::product;
use super::testdb::ScratchDb;
use super::tests::{change, push};
use crate::model::PushResult;

/// Finding 2: a retry sent while the first attempt is still in flight (the
/// client timed out) waits for it and gets its answer, for a fresh insert
/// (no row to lock yet: it waits on the key) and for an update alike.
#[tokio::test]
async fn a_retry_racing_its_first_attempt_gets_the_same_answer() {
    let db = ScratchDb::with_example().await;
    for (base, counter, expect) in [(None, 1, 1), (Some(1), 2, 2)] {
        let mut a = db.connect().await;
        let b = db.connect().await;
        let attempt = change("products", "race", base, product("race", "x"), counter);
        let ta = a.transaction().await.expect("begin");
        let out: Value = ta
            .query_one("SELECT public.ebb_push($1::jsonb)", &[&json!([attempt])])
            .await
            .expect("first attempt")
            .get(0);
        assert_eq!(
            out["results"][0],
            json!({"status": "applied", "version": expect})
        );
        let retry = attempt.clone();
        let second = tokio::spawn(async move { push(&b, json!([retry])).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the retry must wait for the row");
        ta.commit().await.expect("commit first attempt");
        let r = second.await.expect("retry finishes");
        assert_eq!(r[0], PushResult::Applied { version: expect });
    }
}

/// Two devices writing the same row on the same base: whoever commits
/// second gets a conflict, never a silent overwrite, for a fresh insert
/// (no row to lock yet) and for an update alike.
#[tokio::test]
async fn concurrent_writers_on_one_base_get_one_applied_and_one_conflict() {
    let db = ScratchDb::with_example().await;
    for (base, name_a, name_b, expect_version, counter) in
        [(None, "A1", "B1", 1, 10), (Some(1), "A2", "B2", 2, 11)]
    {
        let mut a = db.connect().await;
        let b = db.connect().await;
        let ta = a.transaction().await.expect("begin");
        let mine = json!([change(
            "products",
            "race",
            base,
            Some(json!({"id": "race", "name": name_a})),
            counter
        )]);
        let out: Value = ta
            .query_one("SELECT public.ebb_push($1::jsonb)", &[&mine])
            .await
            .expect("push a")
            .get(0);
        assert_eq!(
            out["results"][0],
            json!({"status": "applied", "version": expect_version})
        );
        let mut theirs = change(
            "products",
            "race",
            base,
            Some(json!({"id": "race", "name": name_b})),
            counter,
        );
        theirs.device = "dev-b".into();
        let other = tokio::spawn(async move { push(&b, json!([theirs])).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        if other.is_finished() {
            panic!("b did not wait: {:?}", other.await);
        }
        ta.commit().await.expect("commit a");
        let r = other.await.expect("b finishes");
        match &r[0] {
            PushResult::Conflict {
                version,
                row: Some(row),
                deleted: false,
                ..
            } => {
                assert_eq!(*version, expect_version);
                assert_eq!(row["name"], json!(name_a));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
}
