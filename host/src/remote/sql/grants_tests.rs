//! Tests of the privilege model against a real PostgreSQL set up like
//! Supabase (its API roles, and its default privileges that grant them
//! everything created in `public`): API roles can call ebb_push and
//! ebb_pull, which still run under their rights and row level security,
//! but cannot read or write ebb's bookkeeping tables directly.

use serde_json::json;
use tokio_postgres::Client;

use super::testdb::{EXAMPLE_SCHEMA, ScratchDb, example_tables};
use super::tests::{change, pull, push};
use crate::model::{Cursor, PushResult};

const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// Creates Supabase's API roles (NOLOGIN) when this cluster lacks them.
/// Roles are cluster-wide, so they are left in place for other tests and
/// created race-free (several tests may get here at once).
pub(super) async fn ensure_api_roles(c: &Client) {
    for role in API_ROLES {
        c.batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} NOLOGIN;
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;"
        ))
        .await
        .expect("create API role");
    }
}

/// A database shaped like a Supabase project: default privileges give the
/// API roles everything the installer creates in `public`, then the example
/// schema and ebb are installed.
async fn supabase_like() -> (ScratchDb, Client) {
    let db = ScratchDb::create("grants").await;
    let c = db.connect().await;
    ensure_api_roles(&c).await;
    c.batch_execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public
             GRANT ALL ON TABLES TO anon, authenticated, service_role;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public
             GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
         GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;",
    )
    .await
    .expect("default privileges");
    c.batch_execute(EXAMPLE_SCHEMA).await.expect("schema");
    c.batch_execute(&super::install_sql(&example_tables()))
        .await
        .expect("install");
    (db, c)
}

/// Runs `sql` and expects it refused for lack of privilege.
async fn denied(c: &Client, role: &str, sql: &str) {
    let err = c
        .batch_execute(sql)
        .await
        .expect_err(&format!("{role} must not run: {sql}"));
    let code = err.code().map(|s| s.code().to_string()).unwrap_or_default();
    assert_eq!(code, "42501", "{role}: {sql}: {err}");
}

/// Finding 12: a device that could write `_ebb_applied` could plant an
/// answer for another device's change ("applied", never written), and one
/// that could write tombstones could delete rows on every device.
#[tokio::test]
async fn api_roles_cannot_touch_the_bookkeeping_tables() {
    let (_db, c) = supabase_like().await;
    for role in API_ROLES {
        c.batch_execute(&format!("SET ROLE {role}"))
            .await
            .expect("set role");
        denied(
            &c,
            role,
            "INSERT INTO public._ebb_applied (device, tbl, pk, counter, result)
             VALUES ('dev-b', 'products', 'p1', 99, '{\"status\": \"applied\", \"version\": 1}')",
        )
        .await;
        denied(&c, role, "UPDATE public._ebb_applied SET counter = 0").await;
        denied(&c, role, "SELECT * FROM public._ebb_applied").await;
        // Tombstones are read under the table's policies, never written.
        denied(&c, role, "DELETE FROM _ebb_deleted.products").await;
        denied(&c, role, "TRUNCATE _ebb_deleted.products").await;
        denied(
            &c,
            role,
            "INSERT INTO _ebb_deleted.products (_ebb_pk, _ebb_version, _ebb_txid)
             VALUES ('p9', 9, '1')",
        )
        .await;
        denied(
            &c,
            role,
            "INSERT INTO public._ebb_tables (tbl, pk) VALUES ('secrets', 'id')",
        )
        .await;
        let n: i64 = c
            .query_one("SELECT count(*) FROM public._ebb_tables", &[])
            .await
            .expect("the allowlist stays readable")
            .get(0);
        assert_eq!(n, 4, "{role}");
        c.batch_execute("RESET ROLE").await.expect("reset role");
    }
}

/// The same roles still sync through the functions: writes, idempotent
/// retries, deletes and pulled tombstones, all under their own rights.
#[tokio::test]
async fn api_roles_sync_through_the_functions() {
    let (_db, c) = supabase_like().await;
    c.batch_execute("SET ROLE authenticated")
        .await
        .expect("set role");
    let first = change(
        "products",
        "p1",
        None,
        Some(json!({"id": "p1", "name": "Tea"})),
        1,
    );
    assert_eq!(
        push(&c, json!([first.clone()])).await[0],
        PushResult::Applied { version: 1 }
    );
    assert_eq!(
        push(&c, json!([first])).await[0],
        PushResult::Applied { version: 1 },
        "a retry is answered from the bookkeeping the role cannot read"
    );
    assert_eq!(
        push(&c, json!([change("products", "p1", Some(1), None, 2)])).await[0],
        PushResult::Applied { version: 2 }
    );
    let page = pull(&c, "products", &Cursor::default(), 10).await;
    assert_eq!(page.rows.len(), 1);
    assert!(page.rows[0].deleted && page.rows[0].version == 2);
    assert_eq!(page.rows[0].origin.as_deref(), Some("dev-a"));

    // Row level security still decides: without the table grant, nothing.
    c.batch_execute(
        "RESET ROLE; REVOKE ALL ON products FROM authenticated; SET ROLE authenticated",
    )
    .await
    .expect("revoke");
    let r = push(
        &c,
        json!([change(
            "products",
            "p2",
            None,
            Some(json!({"id": "p2", "name": "x"})),
            3
        )]),
    )
    .await;
    assert!(
        matches!(&r[0], PushResult::Rejected { code, .. } if code == "42501"),
        "{r:?}"
    );
}
