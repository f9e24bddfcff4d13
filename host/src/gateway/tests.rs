//! The gateway's contract suite: the two RPCs over HTTP against a real
//! PostgreSQL, each test on its own scratch database with the example
//! schema and the install script applied, the gateway on 127.0.0.1:0.
//! What PostgREST does (statuses, error bodies, headers) is what these hold
//! the gateway to; `push_contract.rs` and `pull_contract.rs` hold the sync
//! guarantees.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{GatewaySettings, serve};
use crate::model::{Change, Cursor, Op, PullPage, PushResult};
use crate::remote::sql::testdb::{ScratchDb, settle};

mod jwt;
mod jwt_client;
mod protocol;
mod pull_contract;
mod push_contract;
mod role;

const KEY: &str = "test-key-not-a-secret";

/// A running gateway on its own database. Stops when dropped.
pub(super) struct Gateway {
    pub(super) base: String,
    pub(super) db: ScratchDb,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A reply: status, headers, and the body as JSON.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
}

pub(super) async fn start() -> Gateway {
    start_with(|_| {}).await
}

pub(super) async fn start_with(adjust: impl FnOnce(&mut GatewaySettings)) -> Gateway {
    let db = ScratchDb::with_example().await;
    let mut settings = GatewaySettings::new(db.conn_str(), KEY);
    adjust(&mut settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(listener, settings, async {
            let _ = stopped.await;
        })
        .await
        .expect("gateway serves");
    });
    Gateway {
        base,
        db,
        http: reqwest::Client::new(),
        stop: Some(stop),
    }
}

impl Gateway {
    /// POSTs raw bytes to `path` with the right key.
    pub(super) async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("apikey", KEY)
                .header("Authorization", format!("Bearer {KEY}"))
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await
    }

    pub(super) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("body is JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub(super) async fn push(&self, changes: &[Change]) -> Vec<PushResult> {
        let body = json!({ "changes": changes }).to_string();
        let reply = self.post("/rest/v1/rpc/ebb_push", body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_value(reply.body["results"].clone()).expect("results are PushResults")
    }

    /// Pulls once everything committed so far is below the horizon.
    pub(super) async fn pull(&self, table: &str, cursor: &Cursor, page: i32) -> PullPage {
        settle(&self.db.connect().await).await;
        self.pull_now(table, cursor, page).await
    }

    pub(super) async fn pull_now(&self, table: &str, cursor: &Cursor, page: i32) -> PullPage {
        let body = json!({ "tbl": table, "cursor": cursor, "page": page }).to_string();
        let reply = self.post("/rest/v1/rpc/ebb_pull", body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_value(reply.body).expect("a PullPage")
    }

    /// Every page of `table` from the start.
    pub(super) async fn pull_all(&self, table: &str, page: i32) -> Vec<crate::model::PulledRow> {
        let mut cursor = Cursor::default();
        let mut rows = Vec::new();
        loop {
            let got = self.pull(table, &cursor, page).await;
            rows.extend(got.rows);
            cursor = got.next;
            if !got.has_more {
                return rows;
            }
        }
    }
}

pub(super) fn upsert(
    table: &str,
    pk: &str,
    base: Option<i64>,
    row: Value,
    device: &str,
    counter: i64,
) -> Change {
    Change {
        table: table.into(),
        pk: pk.into(),
        op: Op::Upsert,
        base_version: base,
        row: row.as_object().cloned(),
        device: device.into(),
        counter,
    }
}

pub(super) fn delete(
    table: &str,
    pk: &str,
    base: Option<i64>,
    device: &str,
    counter: i64,
) -> Change {
    Change {
        table: table.into(),
        pk: pk.into(),
        op: Op::Delete,
        base_version: base,
        row: None,
        device: device.into(),
        counter,
    }
}

pub(super) const WAIT: Duration = Duration::from_secs(5);
