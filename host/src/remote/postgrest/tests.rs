//! The client against a real local HTTP server (axum on 127.0.0.1:0) that
//! serves canned PostgREST-style answers, one scenario per path prefix:
//! `http://127.0.0.1:PORT/{scenario}/rpc/{name}`. This file holds the server,
//! the fixture and the happy path; `errors`, `retry_after` and `secrets`
//! hold the failure themes.

mod errors;
mod retry_after;
mod secrets;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::Client;
use crate::config::{KeySource, RateLimitConfig, RemoteConfig};
use crate::model::{Change, Cursor, Op, PushResult};
use crate::remote::{Remote, RemoteError};

const KEY: &str = "sb_secret_9f8e7d6c5b4a-never-print-me";

#[derive(Default)]
struct Seen {
    headers: Option<HeaderMap>,
    body: Option<serde_json::Value>,
}

type Shared = Arc<Mutex<Seen>>;

fn pgrst(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "details": null, "hint": null});
    (status, axum::Json(body)).into_response()
}

async fn handler(
    State(seen): State<Shared>,
    Path((scenario, rpc)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let echoed = headers
        .get("apikey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    {
        let mut seen = seen.lock().unwrap();
        seen.headers = Some(headers);
        seen.body = Some(parsed.clone());
    }
    let n = parsed["changes"].as_array().map_or(0, Vec::len);
    match (scenario.as_str(), rpc.as_str()) {
        ("ok", "ebb_push") => {
            let results: Vec<_> = (0..n)
                .map(|i| json!({"status": "applied", "version": i + 1}))
                .collect();
            axum::Json(json!({"results": results})).into_response()
        }
        ("ok", "ebb_pull") => axum::Json(json!({
            "rows": [{"pk": "a", "version": 3, "txid": "901", "deleted": false,
                      "origin": null, "row": {"id": "a", "name": "Ä \"q\""}}],
            "next": {"txid": "901", "pk": "a"},
            "has_more": false,
            "horizon": "905"
        }))
        .into_response(),
        ("ok" | "partial", "ebb_pull_all") => {
            let page = |pk: &str| json!({
                "rows": [{"pk": pk, "version": 1, "txid": "7", "deleted": false,
                          "origin": "till-2", "row": {"id": pk}}],
                "next": {"txid": "7", "pk": pk}, "has_more": false, "horizon": "8"
            });
            match scenario.as_str() {
                "ok" => axum::Json(json!({"items": page("i1"), "orders": page("o1")})),
                _ => axum::Json(json!({"orders": page("o1")})),
            }
            .into_response()
        }
        ("short", "ebb_push") => axum::Json(json!({"results": []})).into_response(),
        ("garbage", _) => (StatusCode::OK, "<html>not json</html>").into_response(),
        ("wrapped", "ebb_pull") => axum::Json(json!([{"ebb_pull": {
            "rows": [], "next": {"txid": "1", "pk": "a"}, "has_more": false, "horizon": "2"
        }}]))
        .into_response(),
        ("empty", _) => StatusCode::OK.into_response(),
        ("loop", "ebb_pull") => axum::Json(json!({
            "rows": [], "next": {"txid": "1", "pk": "a"}, "has_more": true, "horizon": "2"
        }))
        .into_response(),
        ("s401", _) => pgrst(
            StatusCode::UNAUTHORIZED,
            "PGRST301",
            "No suitable key or wrong key type",
        ),
        ("s404", _) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": "PGRST202",
                "message": "Could not find the function public.ebb_push(changes) in the schema cache",
                "details": "Searched for the function public.ebb_push with parameter changes",
                "hint": "Perhaps you meant to call the function public.ebb_pull"})),
        )
            .into_response(),
        ("s409", _) => (
            StatusCode::CONFLICT,
            axum::Json(json!({"code": "23505",
                "message": "duplicate key value violates unique constraint \"orders_pkey\"",
                "details": "Key (id)=(o1) already exists.", "hint": null})),
        )
            .into_response(),
        ("s429", _) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({"message": "Too many requests"})),
        )
            .into_response(),
        ("s503", _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "0")],
            axum::Json(json!({"code": "PGRST002", "details": null, "hint": null,
                "message": "Could not query the database for the schema cache. Retrying."})),
        )
            .into_response(),
        ("s502", _) => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            format!(
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>{}</body></html>",
                "padding ".repeat(100)
            ),
        )
            .into_response(),
        ("echo", _) => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": "PGRST301", "message": format!("bad key {echoed}"),
                "details": format!("got Bearer {echoed}"), "hint": echoed})),
        )
            .into_response(),
        ("slow", _) => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            axum::Json(json!({"results": []})).into_response()
        }
        _ => StatusCode::IM_A_TEAPOT.into_response(),
    }
}

struct Fixture {
    base: String,
    seen: Shared,
    _dir: tempfile::TempDir,
    key_file: std::path::PathBuf,
}

async fn fixture() -> Fixture {
    let seen = Shared::default();
    let app = Router::new()
        .route("/{scenario}/rpc/{rpc}", post(handler))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    Fixture {
        base: format!("http://{addr}"),
        seen,
        _dir: dir,
        key_file,
    }
}

impl Fixture {
    fn client(&self, scenario: &str) -> Client {
        self.client_at(
            &format!("{}/{scenario}/", self.base),
            Duration::from_secs(5),
        )
    }

    fn client_at(&self, root: &str, timeout: Duration) -> Client {
        let rate = RateLimitConfig {
            requests_per_second: 1000.0,
            rows_per_second: 0.0,
            burst: 100,
            max_retry_after: Duration::from_secs(3600),
        };
        self.client_with(root, timeout, &rate)
    }

    fn client_with(&self, root: &str, timeout: Duration, rate: &RateLimitConfig) -> Client {
        let remote = RemoteConfig {
            url: self.base.clone(),
            rest_root: root.to_owned(),
            api_key: Some(KeySource::File(self.key_file.clone())),
            api_key_required: true,
            access_token: None,
            timeout,
            connect_timeout: Duration::from_secs(2),
        };
        Client::new(&remote, rate).unwrap()
    }
}

fn change(pk: &str) -> Change {
    let mut row = serde_json::Map::new();
    row.insert("id".into(), json!(pk));
    Change {
        table: "orders".into(),
        pk: pk.into(),
        op: Op::Upsert,
        base_version: None,
        row: Some(row),
        device: "dev1".into(),
        counter: 7,
    }
}

/// Neither Display nor Debug of `e` shows the key.
fn assert_no_key(e: &RemoteError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(KEY), "key leaked: {text}");
    assert!(!text.contains("never-print-me"), "key leaked: {text}");
}

async fn push_err(f: &Fixture, scenario: &str) -> RemoteError {
    let e = f
        .client(scenario)
        .push(&[change("o1")])
        .await
        .expect_err(scenario);
    assert_no_key(&e);
    e
}

#[tokio::test]
async fn push_and_pull_send_the_contract() {
    let f = fixture().await;
    let client = f.client("ok");
    let results = client.push(&[change("o1"), change("o2")]).await.unwrap();
    assert_eq!(
        results,
        vec![
            PushResult::Applied { version: 1 },
            PushResult::Applied { version: 2 }
        ]
    );
    let (headers, body) = {
        let seen = f.seen.lock().unwrap();
        (seen.headers.clone().unwrap(), seen.body.clone().unwrap())
    };
    assert_eq!(headers["apikey"], KEY);
    assert_eq!(headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["accept"], "application/json");
    assert_eq!(
        headers["user-agent"],
        concat!("ebb/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(body["changes"][1]["pk"], "o2");
    assert_eq!(body["changes"][0]["op"], "upsert");

    let cursor = Cursor {
        txid: "900".into(),
        pk: "z".into(),
    };
    let page = client.pull("orders", &cursor, 50).await.unwrap();
    assert_eq!(page.rows.len(), 1);
    assert_eq!(page.rows[0].row.as_ref().unwrap()["name"], "Ä \"q\"");
    assert_eq!(page.next.txid, "901");
    assert!(
        page.bytes > 100,
        "the answer's size, for pacing: {}",
        page.bytes
    );
    let body = f.seen.lock().unwrap().body.clone().unwrap();
    assert_eq!(
        body,
        json!({"tbl": "orders", "cursor": {"txid": "900", "pk": "z", "rows": "arrays"}, "page": 50})
    );
    assert!(!format!("{client:?}").contains(KEY));
}

#[tokio::test]
async fn pull_all_sends_every_cursor_and_answers_in_the_order_asked() {
    let f = fixture().await;
    let asked = vec![
        ("orders".to_string(), Cursor::default()),
        (
            "items".to_string(),
            Cursor {
                txid: "5".into(),
                pk: "i0".into(),
            },
        ),
    ];
    let pages = f.client("ok").pull_all(&asked, 10).await.unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].rows[0].pk, "o1");
    assert_eq!(pages[1].rows[0].pk, "i1");
    let body = f.seen.lock().unwrap().body.clone().unwrap();
    assert_eq!(
        body,
        json!({"cursors": {"orders": {"txid": "", "pk": "", "rows": "arrays"}, "items": {"txid": "5", "pk": "i0", "rows": "arrays"}},
               "page": 10})
    );
    // A page bigger than asked, or a table left out, is not followed.
    let e = f.client("ok").pull_all(&asked, 0).await.unwrap_err();
    assert!(e.to_string().contains("1 rows for a page of 0"), "{e}");
    let e = f.client("partial").pull_all(&asked, 10).await.unwrap_err();
    assert!(matches!(e, RemoteError::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("no page for table \"items\""), "{e}");
}
