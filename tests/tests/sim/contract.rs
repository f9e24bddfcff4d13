//! The contract of `ebb_push` / `ebb_pull`, one generic case per guarantee,
//! run against the fake server (`FakeRemote`) and against the real gateway
//! on a fresh PostgreSQL database with the real PostgREST client. The
//! simulation's verdicts are only as good as the fake is faithful: this
//! suite is what holds it to the real server.
//!
//! The same cases run against any PostgREST (Supabase, a self-hosted one, a
//! clone) as `<case>::postgrest`, ignored unless asked for:
//! `EBB_POSTGREST_URL` (its REST root), `EBB_POSTGREST_DB` (a Postgres
//! connection to the database behind it, for the back office and for
//! emptying the tables between cases: use a scratch database),
//! `EBB_POSTGREST_KEY` / `EBB_POSTGREST_TOKEN` (apikey and bearer, each
//! optional); see docs/operations.md, "The contract suite".
//!
//! This file holds the two worlds, the macro that runs a case in both and
//! the helpers; the cases are in `contract_push.rs` (what a push answers)
//! and `contract_pull.rs` (what a pull returns).

use ebb::model::{Change, Cursor, Op, PullPage, PulledRow, PushResult, Row};
use ebb::remote::Remote;
use ebb::remote::postgrest::Client;
use ebb_tests::sim::{Backoffice, PgBackoffice};
use ebb_tests::{DeviceSpec, Gateway, TestDb};
use serde_json::{Value, json};

/// The real side: a database, a gateway over it, a client and the back
/// office. Dropped in field order (traffic before the database).
pub struct PgWorld {
    pub client: Client,
    pub server: PgBackoffice,
    _gateway: Gateway,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl PgWorld {
    pub async fn start() -> anyhow::Result<PgWorld> {
        let db = TestDb::create().await?;
        let gateway = Gateway::start(&db.conn_str()).await?;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("api_key"), gateway.key())?;
        let root = format!("http://{}/rest/v1", gateway.addr());
        let path = dir.path().join("policies.toml");
        std::fs::write(&path, DeviceSpec::default().policies_toml(&root))?;
        let config = ebb::config::load(&path)?;
        let client = Client::new(&config.remote, &config.rate_limit)?;
        let server = PgBackoffice::connect(&db.conn_str()).await?;
        Ok(PgWorld {
            client,
            server,
            _gateway: gateway,
            _db: db,
            _dir: dir,
        })
    }
}

/// The world of an outside PostgREST, from the environment (see the module
/// doc). The database must hold example/server.sql with ebb installed on
/// its tables; each case starts by emptying them (cases run one at a time).
pub struct ExternalWorld {
    pub client: Client,
    pub server: PgBackoffice,
    _dir: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One case at a time against the shared outside database.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl ExternalWorld {
    pub async fn start() -> anyhow::Result<ExternalWorld> {
        use anyhow::Context;
        let turn = TURN.lock().await;
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let root = var("EBB_POSTGREST_URL").context("set EBB_POSTGREST_URL to the REST root")?;
        let db = var("EBB_POSTGREST_DB").context("set EBB_POSTGREST_DB to its database")?;
        let dir = tempfile::tempdir()?;
        let mut auth = String::new();
        for (env, key, file) in [
            ("EBB_POSTGREST_KEY", "api_key_file", "api_key"),
            ("EBB_POSTGREST_TOKEN", "access_token_file", "token"),
        ] {
            if let Some(secret) = var(env) {
                std::fs::write(dir.path().join(file), secret)?;
                auth.push_str(&format!("{key} = \"{file}\"\n"));
            }
        }
        if auth.is_empty() {
            auth.push_str("anonymous = true\n");
        }
        let text = DeviceSpec::default()
            .policies_toml(&root)
            .replace("api_key_file = \"api_key\"\n", &auth);
        let path = dir.path().join("policies.toml");
        std::fs::write(&path, text)?;
        let config = ebb::config::load(&path)?;
        let client = Client::new(&config.remote, &config.rate_limit)?;
        let admin = ebb_tests::pg::connect(&db).await?;
        admin
            .batch_execute(EMPTY_EVERYTHING)
            .await
            .context("empty the example tables and ebb's bookkeeping")?;
        let server = PgBackoffice::connect(&db).await?;
        Ok(ExternalWorld {
            client,
            server,
            _dir: dir,
            _turn: turn,
        })
    }
}

/// Empties the example tables, then every table of ebb's (the tombstones in
/// `_ebb_deleted` too) except the list of synced tables (the truncate
/// trigger turns the emptied rows into tombstones first), so versions start
/// again at 1.
const EMPTY_EVERYTHING: &str = "
TRUNCATE products, customers, debts, debt_payments CASCADE;
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
           WHERE (schemaname = 'public' AND tablename LIKE '\\_ebb\\_%' AND tablename <> '_ebb_tables')
              OR schemaname = '_ebb_deleted'
  LOOP
    EXECUTE 'TRUNCATE ' || t;
  END LOOP;
END $$;
";

/// Each case as three tests: `<case>::fake`, `<case>::gateway` and the
/// ignored `<case>::postgrest` (used by the case modules below, declared
/// after it).
macro_rules! contract {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn fake() {
                let fake = ebb_tests::sim::FakeRemote::new();
                super::$case(&fake, &fake).await;
            }

            #[tokio::test]
            async fn gateway() {
                let world = crate::contract::PgWorld::start().await.unwrap();
                super::$case(&world.client, &world.server).await;
            }

            #[tokio::test]
            #[ignore = "needs EBB_POSTGREST_URL and EBB_POSTGREST_DB (docs/operations.md)"]
            async fn postgrest() {
                let world = crate::contract::ExternalWorld::start().await.unwrap();
                super::$case(&world.client, &world.server).await;
            }
        }
    )*};
}

#[path = "contract_pull.rs"]
mod pull;
#[path = "contract_push.rs"]
mod push;

pub fn row(value: Value) -> Row {
    value.as_object().cloned().unwrap_or_default()
}

pub fn customer(pk: &str, name: &str) -> Row {
    row(
        json!({"id": pk, "name": name, "phone": null, "email": null, "notes": null,
               "updated_at": "2025-01-31T14:05:00Z"}),
    )
}

pub fn upsert(pk: &str, base: Option<i64>, row: Row, device: &str, counter: i64) -> Change {
    Change {
        table: "customers".into(),
        pk: pk.into(),
        op: Op::Upsert,
        base_version: base,
        row: Some(row),
        device: device.into(),
        counter,
    }
}

pub fn delete(pk: &str, base: Option<i64>, device: &str, counter: i64) -> Change {
    Change {
        op: Op::Delete,
        row: None,
        ..upsert(pk, base, Row::new(), device, counter)
    }
}

pub async fn push_one<R: Remote>(remote: &R, change: Change) -> PushResult {
    let mut results = remote.push(&[change]).await.expect("push");
    assert_eq!(results.len(), 1, "{results:?}");
    results.remove(0)
}

pub const fn applied(version: i64) -> PushResult {
    PushResult::Applied { version }
}

/// Every row of `table` changed since the start, all pages of `page`.
pub async fn pull_all<R: Remote, B: Backoffice>(
    remote: &R,
    server: &B,
    table: &str,
    page: usize,
) -> (Vec<PulledRow>, Vec<PullPage>) {
    server.settle().await.expect("settle");
    let mut cursor = Cursor::default();
    let (mut rows, mut pages) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let p = remote.pull(table, &cursor, page).await.expect("pull");
        rows.extend(p.rows.iter().cloned());
        cursor = p.next.clone();
        let more = p.has_more;
        pages.push(p);
        if !more {
            break;
        }
    }
    (rows, pages)
}
