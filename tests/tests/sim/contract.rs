//! The contract of `ebb_push` / `ebb_pull`, one generic case per guarantee,
//! run against the fake server (`FakeRemote`) and against the real gateway
//! on a fresh PostgreSQL database with the real PostgREST client. The
//! simulation's verdicts are only as good as the fake is faithful: this
//! suite is what holds it to the real server.
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

/// Each case as two tests: `<case>::fake` and `<case>::gateway` (used by
/// the case modules below, declared after it).
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
