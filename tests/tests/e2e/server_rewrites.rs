//! A server that stores a till's write with other values than were sent:
//! a `BEFORE` trigger of its own (as Supabase's `moddatetime` or a
//! normalizing trigger are), and a `numeric(10,2)` column that rounds the
//! till's REAL money. The till that wrote the row takes the server's
//! values when its own write comes back, counts it in the round's report
//! and pushes nothing back; a row the server stored as sent is not
//! written again, and a row edited again meanwhile keeps the edit.

use ebb_tests::{Device, Env, Gateway, TestDb, rows};
use serde_json::json;

use super::integer_keys::{LOCAL, SERVER, TABLES, Till};
use crate::common::sync_all;

const SHOUT: &str = "
CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name LIKE 'shout %' THEN NEW.name := upper(NEW.name); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER shout BEFORE INSERT OR UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION shout();";

/// Two rounds of `device` (its own rows come back in the second): how
/// many changes it pushed, and how many rows the server stored otherwise.
async fn two_rounds(env: &Env, device: &mut Device) -> (usize, usize) {
    let (mut pushed, mut changed) = (0, 0);
    for _ in 0..2 {
        env.settle().await.unwrap();
        let r = device.sync_ok().await.unwrap();
        (pushed, changed) = (pushed + r.pushed, changed + r.changed_by_server);
    }
    (pushed, changed)
}

#[tokio::test]
async fn a_write_the_server_stores_otherwise_is_taken_back_and_counted() {
    let env = Env::new().await.unwrap();
    env.db.exec(SHOUT).await.unwrap();
    let mut a = env.default_device().unwrap();
    let mut b = env.default_device().unwrap();
    let loud = rows::product("shout tea", 5);
    // The app spells this date with its own offset; the server keeps the
    // instant and spells it in UTC: the same value, nothing to take back.
    let quiet = rows::with(
        &rows::product("Cake", 7),
        &json!({"updated_at": "2025-01-31T16:05:00+02:00"}),
    );
    let (loud_id, quiet_id) = (rows::id_of(&loud), rows::id_of(&quiet));
    a.insert("products", &loud).unwrap();
    a.insert("products", &quiet).unwrap();

    let (_, changed) = two_rounds(&env, &mut a).await;
    assert_eq!(changed, 1, "the trigger's row, not the other");
    let local = a.engine().local();
    let noted = local.rewritten(crate::common::now_ms()).unwrap();
    assert_eq!(noted.len(), 1);
    assert_eq!(
        (
            noted[0].keys.clone(),
            noted[0].columns.clone(),
            noted[0].rows
        ),
        (vec![loud_id.clone()], vec!["name".to_string()], 1)
    );
    let status = local
        .status(crate::common::now_ms(), std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(status.rewritten, 1, "ebb status counts it");
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    let server = env.db.row("products", &loud_id).await.unwrap().unwrap();
    assert_eq!(server["name"], "SHOUT TEA");
    for d in [&a, &b] {
        let row = d.row("products", &loud_id).unwrap().unwrap();
        assert_eq!(row["name"], "SHOUT TEA");
        assert!(d.queue().unwrap().is_empty(), "{:?}", d.queue());
    }
    assert_eq!(
        a.row("products", &quiet_id).unwrap(),
        Some(quiet.clone()),
        "the app's own spelling of the same instant is kept"
    );
    // Taken without a push back: the server's row is still the version
    // the till wrote.
    assert_eq!(env.db.version("products", &loud_id).await.unwrap(), Some(1));
    let again = a.sync_ok().await.unwrap();
    assert_eq!((again.pushed, again.changed_by_server), (0, 0));

    // An update rewritten the same way; a stock edit the server keeps.
    a.update("products", &loud_id, &json!({"name": "shout coffee"}))
        .unwrap();
    a.update("products", &quiet_id, &json!({"stock": 6}))
        .unwrap();
    assert_eq!(two_rounds(&env, &mut a).await, (2, 1));
    let row = a.row("products", &loud_id).unwrap().unwrap();
    assert_eq!(row["name"], "SHOUT COFFEE");
    assert_eq!(a.row("products", &quiet_id).unwrap().unwrap()["stock"], 6);
}

/// A point-of-sale till whose server keeps sale totals as `numeric(10,2)`:
/// a total of 1.005 is stored as 1.01, and the till then shows 1.01 too.
#[tokio::test]
async fn money_a_numeric_column_rounds_comes_back_rounded() {
    let server = SERVER.replace("total double precision", "total numeric(10,2)");
    let db = TestDb::create_with(&server, &TABLES).await.unwrap();
    let gateway = Gateway::start(&db.conn_str()).await.unwrap();
    let mut till = Till::with_schema(gateway.addr(), gateway.key(), LOCAL).unwrap();
    till.app
        .execute(
            "INSERT INTO products (name, price, stock) VALUES ('Gum', 0.335, 50)",
            [],
        )
        .unwrap();
    till.sync(&db).await.unwrap();
    let sale = till.sell(1, 3, 0.335, "cash").unwrap();
    let total = |till: &Till| -> f64 {
        till.app
            .query_row("SELECT total FROM sales WHERE id = ?1", [sale], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_ne!(total(&till), 1.01);
    for _ in 0..2 {
        till.sync(&db).await.unwrap();
    }
    let stored: f64 = db
        .connect()
        .await
        .unwrap()
        .query_one("SELECT total::float8 FROM sales", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!((stored, total(&till)), (1.01, 1.01));
    let queued: i64 = till
        .app
        .query_row("SELECT count(*) FROM _ebb_queue", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 0, "taken, not pushed back");
}

/// The server's value is one the till's own rules refuse: the row is held
/// as a conflict for a person (announced as such), not counted as taken.
#[tokio::test]
async fn a_rewrite_the_till_refuses_is_held_not_counted() {
    let env = Env::new().await.unwrap();
    env.db
        .exec(
            "CREATE FUNCTION bang() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$;
             CREATE TRIGGER bang BEFORE INSERT ON products
                 FOR EACH ROW EXECUTE FUNCTION bang();",
        )
        .await
        .unwrap();
    let mut a = env.default_device().unwrap();
    a.app()
        .execute_batch(
            "CREATE TRIGGER no_bangs BEFORE UPDATE OF name ON products
             WHEN NEW.name LIKE '%!' BEGIN SELECT RAISE(ABORT, 'no bangs here'); END;",
        )
        .unwrap();
    let p = rows::product("Tea", 5);
    let id = rows::id_of(&p);
    a.insert("products", &p).unwrap();
    let (_, changed) = two_rounds(&env, &mut a).await;
    assert_eq!(changed, 0, "held, not taken");
    assert_eq!(a.row("products", &id).unwrap().unwrap()["name"], "Tea");
    let status = a
        .engine()
        .local()
        .status(crate::common::now_ms(), std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!((status.open_conflicts, status.rewritten), (1, 0));
}
