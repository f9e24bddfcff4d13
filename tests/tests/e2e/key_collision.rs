//! Two devices that create different rows under the same text key have a
//! key collision, not an edit conflict: under `server_wins` (or any
//! policy) it is never settled by taking a side. It is held for a person,
//! counted, and keeps health degraded until settled; the local row stays.

use ebb::local::LocalStatus;
use ebb_tests::{DeviceSpec, Env, rows};
use serde_json::json;

use crate::common::sync_all;

fn collisions(status: &LocalStatus) -> u64 {
    status.open_collisions
}

#[tokio::test]
async fn an_insert_insert_on_one_key_is_held_for_a_person() {
    for policy in ["server_wins", "client_wins", "merge"] {
        let env = Env::new().await.unwrap();
        let spec = DeviceSpec::default().conflict_all(policy);
        let mut a = env.device(&spec).unwrap();
        let mut b = env.device(&spec).unwrap();
        let mine = rows::customer("Ada");
        let id = rows::id_of(&mine);
        let theirs = rows::with(&mine, &json!({"name": "Bob", "phone": "+1 555 0111"}));
        a.insert("customers", &mine).unwrap();
        b.insert("customers", &theirs).unwrap();
        sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();

        // The server keeps the first row; b keeps its own, held.
        assert_eq!(
            env.db.row("customers", &id).await.unwrap().unwrap()["name"],
            "Ada",
            "{policy}"
        );
        assert_eq!(
            b.row("customers", &id).unwrap().unwrap()["name"],
            "Bob",
            "{policy}"
        );
        let open = b.engine.local().conflicts(false).unwrap();
        assert_eq!(open.len(), 1, "{policy}: {open:?}");
        assert_eq!(open[0].policy, "key_collision", "{policy}");
        assert!(
            open[0].reason.contains("key collision"),
            "{}",
            open[0].reason
        );
        let status = b
            .engine
            .local()
            .status(i64::MAX / 2, std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(collisions(&status), 1, "{policy}");
        let health = ebb::cli::view::health(&b.config, &status, crate::common::now_ms());
        assert!(!health.healthy, "{policy}: {health:?}");

        // Another round changes nothing: still held, nothing overwritten.
        sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();
        assert_eq!(b.row("customers", &id).unwrap().unwrap()["name"], "Bob");
        assert_eq!(a.row("customers", &id).unwrap().unwrap()["name"], "Ada");
        assert_eq!(b.engine.local().conflicts(false).unwrap().len(), 1);
    }
}
