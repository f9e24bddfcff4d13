//! `GatewaySettings::role`: with it, every RPC runs as that role, so its
//! grants and row level security decide what a push writes and a pull
//! returns; without it, the login role (a superuser here) sees everything.
//! Also the startup check of the role. Each test creates its own roles
//! with unique names and drops only those.

use serde_json::json;
use tokio_postgres::{Client, NoTls};

use super::{start, start_with, upsert};
use ebb::model::{Cursor, PushResult};
use ebb_gateway::{GatewayError, GatewaySettings, serve};
use ebb_tests::pg::TestDb;

/// Same default as `remote::sql::testdb`: the cluster, without a database.
fn base() -> String {
    std::env::var("EBB_TEST_PG").unwrap_or_else(|_| "host=/var/run/postgresql user=postgres".into())
}

pub(super) async fn admin() -> Client {
    let (client, connection) =
        tokio_postgres::connect(&format!("{} dbname=postgres", base()), NoTls)
            .await
            .expect("connect to test PostgreSQL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A role this test created; dropped with the value (after the scratch
/// databases holding its grants, which are declared later and so dropped
/// first).
pub(super) struct TestRole {
    pub(super) name: String,
}

impl TestRole {
    pub(super) async fn create(tag: &str, attributes: &str) -> TestRole {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("ebb_t_{tag}_{}", &id[..12]);
        admin()
            .await
            .batch_execute(&format!("CREATE ROLE \"{name}\" {attributes}"))
            .await
            .expect("create test role");
        TestRole { name }
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let name = self.name.clone();
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let _ = admin()
                    .await
                    .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
                    .await;
            });
        })
        .join();
        if joined.is_err() {
            eprintln!("could not drop test role {}", self.name);
        }
    }
}

/// What an API role needs (as `grants.sql` gives Supabase's), and a policy
/// on `products` hiding and refusing rows named "secret".
pub(super) async fn grant_and_protect(db: &TestDb, role: &str) {
    db.connect()
        .await
        .expect("connect")
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA public TO \"{role}\";
             GRANT SELECT, INSERT, UPDATE, DELETE ON products TO \"{role}\";
             GRANT EXECUTE ON FUNCTION public.ebb_push(jsonb), public.ebb_pull(text, jsonb, integer)
                 TO \"{role}\";
             ALTER TABLE products ENABLE ROW LEVEL SECURITY;
             CREATE POLICY not_secret ON products
                 USING (name <> 'secret') WITH CHECK (name <> 'secret');
             INSERT INTO products (id, name) VALUES ('hidden', 'secret'), ('shown', 'plain');"
        ))
        .await
        .expect("grants and policy");
    super::reinstall(db).await;
}

fn product(pk: &str, name: &str, counter: i64) -> ebb::model::Change {
    upsert(
        "products",
        pk,
        None,
        json!({"id": pk, "name": name}),
        "dev-a",
        counter,
    )
}

#[tokio::test]
async fn with_a_role_its_row_level_security_applies() {
    let role = TestRole::create("api", "NOLOGIN").await;
    let gw = start_with(|s| s.role = Some(role.name.clone())).await;
    grant_and_protect(&gw.db, &role.name).await;

    let results = gw
        .push(&[
            product("p1", "fine", 1),
            product("p2", "secret", 2),
            product("p3", "also fine", 3),
        ])
        .await;
    assert_eq!(results[0], PushResult::Applied { version: 1 });
    match &results[1] {
        PushResult::Rejected { code, .. } => assert_eq!(code, "42501"),
        other => panic!("a forbidden row is rejected, got {other:?}"),
    }
    assert_eq!(results[2], PushResult::Applied { version: 1 });

    let mut pks: Vec<String> = gw
        .pull_all("products", 100)
        .await
        .into_iter()
        .map(|r| r.pk)
        .collect();
    pks.sort();
    assert_eq!(pks, ["p1", "p3", "shown"], "the policy hides 'hidden'");

    // The switch ends with each call's transaction: the pool's sessions
    // are back to the login role.
    let stored: i64 = gw
        .db
        .connect()
        .await
        .expect("connect")
        .query_one("SELECT count(*) FROM products WHERE id = 'p2'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn without_a_role_the_login_role_sees_everything() {
    let role = TestRole::create("api", "NOLOGIN").await;
    let gw = start().await;
    grant_and_protect(&gw.db, &role.name).await;

    let results = gw.push(&[product("p2", "secret", 1)]).await;
    assert_eq!(results, vec![PushResult::Applied { version: 1 }]);
    let page = gw.pull("products", &Cursor::default(), 100).await;
    let mut pks: Vec<&str> = page.rows.iter().map(|r| r.pk.as_str()).collect();
    pks.sort();
    assert_eq!(pks, ["hidden", "p2", "shown"]);
}

async fn start_as(conn_str: String, role: &str) -> Result<(), GatewayError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut settings = GatewaySettings::new(conn_str, "k");
    settings.role = Some(role.to_owned());
    // Stops at once when it starts: only the startup check matters here.
    serve(listener, settings, async {}).await
}

#[tokio::test]
async fn startup_refuses_a_missing_role_or_one_the_login_role_cannot_switch_to() {
    let db = super::empty_db().await;
    let missing = format!("ebb_t_missing_{}", uuid::Uuid::new_v4().simple());
    match start_as(db.conn_str(), &missing).await {
        Err(GatewayError::Role(message)) => {
            assert!(message.contains("does not exist"), "{message}")
        }
        other => panic!("a missing role is refused, got {other:?}"),
    }

    let target = TestRole::create("target", "NOLOGIN").await;
    let password = uuid::Uuid::new_v4().simple().to_string();
    let login = TestRole::create("login", &format!("LOGIN PASSWORD '{password}'")).await;
    let as_login = format!(
        "host=127.0.0.1 user={} password={password} dbname={}",
        login.name, db.name
    );
    match start_as(as_login.clone(), &target.name).await {
        Err(GatewayError::Role(message)) => {
            assert!(message.contains("may not switch"), "{message}");
            assert!(!message.contains(&password), "no secret in errors");
        }
        other => panic!("a role the login role cannot switch to is refused, got {other:?}"),
    }

    admin()
        .await
        .batch_execute(&format!("GRANT \"{}\" TO \"{}\"", target.name, login.name))
        .await
        .expect("grant membership");
    start_as(as_login, &target.name)
        .await
        .expect("a member may switch");
    start_as(db.conn_str(), &target.name)
        .await
        .expect("a superuser may switch to any role");
    drop(db);
}
