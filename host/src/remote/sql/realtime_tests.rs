//! Tests of the change nudges (realtime.sql) on a real PostgreSQL: one
//! `pg_notify('ebb_changes')` per table and committed transaction, none for
//! a rollback or a write that changed nothing; on a database shaped like
//! Supabase (a `realtime` schema), one `realtime.send` per table and
//! transaction on the private topic, and the read policy on
//! realtime.messages; all of it safe to install twice.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::testdb::{EXAMPLE_SCHEMA, ScratchDb, example_tables};

/// A connection LISTENing on `ebb_changes`, and what it hears.
async fn listener(db: &ScratchDb) -> (Client, mpsc::UnboundedReceiver<Value>) {
    let (client, mut connection) = tokio_postgres::connect(&db.conn_str(), NoTls)
        .await
        .expect("connect");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let Ok(AsyncMessage::Notification(n)) = message {
                let payload = serde_json::from_str(n.payload()).expect("JSON payload");
                if tx.send(payload).is_err() {
                    return;
                }
            }
        }
    });
    client
        .batch_execute("LISTEN ebb_changes")
        .await
        .expect("listen");
    (client, rx)
}

/// Everything heard until a marker notification sent after `sql` arrives.
async fn heard(c: &Client, rx: &mut mpsc::UnboundedReceiver<Value>, sql: &str) -> Vec<Value> {
    let _ = c.batch_execute(sql).await;
    c.batch_execute("SELECT pg_notify('ebb_changes', '{\"marker\":true}')")
        .await
        .expect("marker");
    let mut out = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("notification within 30s")
            .expect("listener alive");
        if n["marker"] == json!(true) {
            return out;
        }
        out.push(n);
    }
}

fn tables(heard: &[Value]) -> Vec<&str> {
    heard
        .iter()
        .map(|n| n["payload"]["table"].as_str().expect("table"))
        .collect()
}

#[tokio::test]
async fn one_notification_per_table_and_committed_transaction() {
    let db = ScratchDb::with_example().await;
    let (_listening, mut rx) = listener(&db).await;
    let c = db.connect().await;

    let got = heard(
        &c,
        &mut rx,
        "BEGIN;
         INSERT INTO products (id, name) VALUES ('p1', 'Cola'), ('p2', 'Tea');
         UPDATE products SET stock = 3 WHERE id = 'p1';
         INSERT INTO customers (id, name) VALUES (1, 'Ana');
         COMMIT;",
    )
    .await;
    assert_eq!(tables(&got), ["products", "customers"], "{got:?}");
    assert_eq!(got[0]["topic"], "ebb");
    assert_eq!(got[0]["event"], "change");
    let txid = got[0]["payload"]["txid"].as_str().expect("txid as text");
    assert!(txid.parse::<u64>().is_ok(), "{txid}");
    assert_eq!(got[1]["payload"]["txid"], got[0]["payload"]["txid"]);
    assert_eq!(
        got[0]["payload"].as_object().map(|o| o.len()),
        Some(2),
        "table and txid only, never row data: {got:?}"
    );

    let got = heard(
        &c,
        &mut rx,
        "BEGIN; INSERT INTO products (id, name) VALUES ('p3', 'x'); ROLLBACK;",
    )
    .await;
    assert!(got.is_empty(), "a rollback nudges nobody: {got:?}");
    let got = heard(&c, &mut rx, "UPDATE products SET stock = 1 WHERE false").await;
    assert!(got.is_empty(), "a write of nothing nudges nobody: {got:?}");

    let got = heard(&c, &mut rx, "DELETE FROM products WHERE id = 'p2'").await;
    assert_eq!(tables(&got), ["products"]);
    let got = heard(&c, &mut rx, "TRUNCATE debt_payments").await;
    assert_eq!(tables(&got), ["debt_payments"]);
    // A savepoint rolled back takes its nudge with it; a later write in the
    // same transaction still sends one.
    let got = heard(
        &c,
        &mut rx,
        "BEGIN;
         SAVEPOINT s; INSERT INTO products (id, name) VALUES ('p4', 'x'); ROLLBACK TO s;
         INSERT INTO products (id, name) VALUES ('p5', 'y');
         COMMIT;",
    )
    .await;
    assert_eq!(tables(&got), ["products"]);
}

#[tokio::test]
async fn on_supabase_each_transaction_broadcasts_once_on_the_private_topic() {
    let db = ScratchDb::create("rt").await;
    let c = db.connect().await;
    super::grants_tests::ensure_api_roles(&c).await;
    // Supabase's realtime schema, reduced to what the script touches.
    c.batch_execute(
        "CREATE SCHEMA realtime;
         CREATE TABLE realtime.messages (id bigserial PRIMARY KEY, topic text NOT NULL,
             extension text NOT NULL, payload jsonb, event text, private boolean);
         ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
         CREATE FUNCTION realtime.topic() RETURNS text LANGUAGE sql STABLE
             AS $$ SELECT nullif(current_setting('realtime.topic', true), '') $$;
         CREATE FUNCTION realtime.send(payload jsonb, event text, topic text,
                                       private boolean DEFAULT true) RETURNS void
             LANGUAGE sql AS $$ INSERT INTO realtime.messages (topic, extension, payload,
                 event, private) VALUES (topic, 'broadcast', payload, event, private) $$;",
    )
    .await
    .expect("realtime schema");
    c.batch_execute(EXAMPLE_SCHEMA).await.expect("schema");
    let install = super::install_sql(&example_tables());
    c.batch_execute(&install).await.expect("install");
    c.batch_execute(&install).await.expect("install again");

    c.batch_execute(
        "BEGIN;
         INSERT INTO customers (id, name) VALUES (1, 'Ana'), (2, 'Bo');
         UPDATE customers SET phone = '1' WHERE id = 1;
         COMMIT;
         BEGIN; INSERT INTO customers (id, name) VALUES (3, 'x'); ROLLBACK;",
    )
    .await
    .expect("writes");
    // A role with no right on realtime.messages (a till on Supabase) still
    // broadcasts: the trigger function is SECURITY DEFINER.
    c.batch_execute(
        "GRANT ALL ON customers TO authenticated;
         SET ROLE authenticated;
         INSERT INTO customers (id, name) VALUES (4, 'Cy');
         RESET ROLE;",
    )
    .await
    .expect("a write as authenticated");
    let rows = c
        .query(
            "SELECT topic, extension, event, private, payload FROM realtime.messages",
            &[],
        )
        .await
        .expect("messages");
    assert_eq!(rows.len(), 2, "one broadcast per table and transaction");
    let (topic, ext, event): (String, String, String) =
        (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(
        (topic.as_str(), ext.as_str(), event.as_str()),
        ("ebb", "broadcast", "change")
    );
    assert!(rows[0].get::<_, bool>(3), "private");
    let payload: Value = rows[0].get(4);
    assert_eq!(payload["table"], "customers");

    let policies: Vec<(String, String)> = c
        .query(
            "SELECT policyname, qual FROM pg_policies
             WHERE schemaname = 'realtime' AND tablename = 'messages'",
            &[],
        )
        .await
        .expect("policies")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(policies.len(), 1, "{policies:?}");
    assert_eq!(policies[0].0, "ebb_nudges_read");
    assert!(policies[0].1.contains("'ebb'::text"), "{policies:?}");
    let triggers: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_trigger WHERE tgname = '_ebb_nudge'",
            &[],
        )
        .await
        .expect("triggers")
        .get(0);
    assert_eq!(triggers, 4, "one per synced table, also after a re-run");
}

#[tokio::test]
async fn ebb_nudges_names_each_table_s_topic_and_whether_realtime_is_there() {
    let db = ScratchDb::with_example().await;
    let c = db.connect().await;
    let ask = || async {
        let row = c
            .query_one("SELECT public.ebb_nudges()::text", &[])
            .await
            .expect("ebb_nudges");
        serde_json::from_str::<Value>(row.get(0)).expect("JSON")
    };
    let all = |topic: Value| {
        json!({"realtime": false, "tables": {"products": topic.clone(), "customers": topic.clone(),
                                              "debts": topic.clone(), "debt_payments": topic}})
    };
    assert_eq!(ask().await, all(json!("ebb")));
    // Another topic, as `realtime.topic` in policies.toml would give.
    c.batch_execute(&super::install_sql_on(&example_tables(), "shop-7"))
        .await
        .expect("install on another topic");
    assert_eq!(ask().await, all(json!("shop-7")));
    // A trigger gone (an older install): null for that table.
    c.batch_execute("DROP TRIGGER _ebb_nudge ON products")
        .await
        .expect("drop");
    assert_eq!(ask().await["tables"]["products"], Value::Null);
}
