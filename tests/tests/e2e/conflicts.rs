//! Concurrent edits of one row on two devices: `server_wins`, `client_wins`
//! and `manual` each give the documented outcome; a manual conflict waits
//! in `_ebb_conflicts` until `resolve_conflict` (or `ebb conflicts
//! resolve`) settles it.

use ebb::local::Choice;
use ebb_tests::{Device, DeviceSpec, Env, rows};
use serde_json::{Value, json};

use crate::common::{now_ms, sync_all};

/// A customer both devices have, then edited to `name` "A" on `a` (pushed
/// first) and "B" on `b`. Returns its id after `b`'s first round.
async fn race(env: &Env, a: &mut Device, b: &mut Device) -> String {
    let c = rows::customer("Orig");
    let id = rows::id_of(&c);
    a.insert("customers", &c).unwrap();
    sync_all(env, &mut [&mut *a, &mut *b]).await.unwrap();
    a.update("customers", &id, &json!({"name": "A"})).unwrap();
    b.update("customers", &id, &json!({"name": "B"})).unwrap();
    sync_all(env, &mut [&mut *a, &mut *b]).await.unwrap();
    id
}

fn name(d: &Device, id: &str) -> Value {
    d.row("customers", id).unwrap().unwrap()["name"].clone()
}

async fn server_name(env: &Env, id: &str) -> Value {
    env.db.row("customers", id).await.unwrap().unwrap()["name"].clone()
}

#[tokio::test]
async fn server_wins_takes_the_remote_row() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("server_wins");
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let id = race(&env, &mut a, &mut b).await;
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(name(&b, &id), "A");
    assert_eq!(name(&a, &id), "A");
    assert_eq!(server_name(&env, &id).await, "A");
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
    assert!(b.engine.local().conflicts(false).unwrap().is_empty());
}

#[tokio::test]
async fn client_wins_pushes_the_local_edit_over() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("client_wins");
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let id = race(&env, &mut a, &mut b).await;
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(server_name(&env, &id).await, "B");
    assert_eq!(name(&b, &id), "B");
    assert_eq!(name(&a, &id), "B");
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
    assert!(b.engine.local().conflicts(false).unwrap().is_empty());
}

#[tokio::test]
async fn manual_waits_for_a_person_then_takes_local() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("manual");
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let id = race(&env, &mut a, &mut b).await;
    sync_all(&env, &mut [&mut b]).await.unwrap();
    let open = b.engine.local().conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let conflict = &open[0];
    assert_eq!(
        (conflict.table.as_str(), conflict.pk.as_str()),
        ("customers", id.as_str())
    );
    assert_eq!(conflict.local.as_ref().unwrap()["name"], "B");
    assert_eq!(conflict.remote.as_ref().unwrap()["name"], "A");
    assert_eq!(
        conflict.base.as_ref().map(|b| b["name"].clone()),
        Some(json!("Orig"))
    );
    // Nothing moves while it is open.
    assert_eq!(name(&b, &id), "B");
    assert_eq!(server_name(&env, &id).await, "A");

    b.engine
        .local_mut()
        .resolve_conflict(conflict.id, Choice::Local, now_ms())
        .unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(server_name(&env, &id).await, "B");
    assert_eq!(name(&a, &id), "B");
    assert!(b.engine.local().conflicts(false).unwrap().is_empty());
    let all = b.engine.local().conflicts(true).unwrap();
    assert!(all[0].resolved_at.is_some(), "{all:?}");
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
}

#[tokio::test]
async fn manual_then_take_remote() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("manual");
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let id = race(&env, &mut a, &mut b).await;
    sync_all(&env, &mut [&mut b]).await.unwrap();
    let open = b.engine.local().conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    b.engine
        .local_mut()
        .resolve_conflict(open[0].id, Choice::Remote, now_ms())
        .unwrap();
    assert_eq!(name(&b, &id), "A");
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(server_name(&env, &id).await, "A");
    assert_eq!(env.db.version("customers", &id).await.unwrap(), Some(2));
    assert!(b.queue().unwrap().is_empty(), "{:?}", b.queue());
}

/// The same through the `ebb` binary, when a build left one in the target
/// dir (`cargo build -p ebb`); skipped with a note otherwise.
#[tokio::test]
async fn manual_resolved_with_the_cli() {
    let Some(ebb) = ebb_tests::ebb_binary() else {
        eprintln!("skipped: no ebb binary in the target dir (cargo build -p ebb)");
        return;
    };
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("manual");
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let id = race(&env, &mut a, &mut b).await;
    sync_all(&env, &mut [&mut b]).await.unwrap();
    let open = b.engine.local().conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let out = std::process::Command::new(ebb)
        .arg("--config")
        .arg(b.dir.path().join("policies.toml"))
        .args([
            "conflicts",
            "resolve",
            &open[0].id.to_string(),
            "--take",
            "local",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ebb conflicts resolve: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
    assert_eq!(server_name(&env, &id).await, "B");
    assert_eq!(name(&a, &id), "B");
}

/// The end of a round deletes settled conflicts older than
/// `sync.keep_resolved_conflicts` (default 90 days) and keeps recent
/// settled ones and open ones.
#[tokio::test]
async fn a_round_prunes_settled_conflicts_past_their_retention() {
    let env = Env::new().await.unwrap();
    let spec = DeviceSpec::default().conflict_all("manual");
    let (mut a, mut b) = (env.device(&spec).unwrap(), env.device(&spec).unwrap());
    let id = race(&env, &mut a, &mut b).await;
    sync_all(&env, &mut [&mut b]).await.unwrap();
    let open = b.engine.local().conflicts(false).unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let day = 86_400_000;
    for (pk, resolved_at) in [("old", now_ms() - 91 * day), ("recent", now_ms() - day)] {
        b.app()
            .execute(
                "INSERT INTO _ebb_conflicts (tbl, pk, remote_version, policy, reason,
                     created_at, resolved_at, resolution)
                 VALUES ('customers', ?1, 1, 'server_wins', 'settled by the table''s policy',
                     ?2, ?2, 'take-remote')",
                rusqlite::params![pk, resolved_at],
            )
            .unwrap();
    }
    sync_all(&env, &mut [&mut b]).await.unwrap();
    let kept: Vec<(String, bool)> = b
        .engine
        .local()
        .conflicts(true)
        .unwrap()
        .into_iter()
        .map(|c| (c.pk, c.resolved_at.is_some()))
        .collect();
    assert_eq!(kept, [(id, false), ("recent".to_string(), true)]);
}
