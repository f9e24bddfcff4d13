//! PostgREST's RPC behaviour: auth, statuses, error bodies, headers, limits.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{KEY, start, start_with, upsert};
use ebb::model::PushResult;

fn assert_error_body(body: &serde_json::Value, code: &str) {
    assert_eq!(body["code"], json!(code), "{body}");
    assert!(body["message"].is_string(), "{body}");
    for field in ["details", "hint"] {
        assert!(body.get(field).is_some(), "{field} missing: {body}");
    }
}

#[tokio::test]
async fn success_is_200_json_utf8_on_both_roots() {
    let gw = start().await;
    for root in ["/rest/v1", ""] {
        let reply = gw
            .post(
                &format!("{root}/rpc/ebb_pull"),
                json!({"tbl": "products"}).to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            reply.headers["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(reply.body["rows"], json!([]));
        assert_eq!(reply.body["has_more"], json!(false));
    }
}

#[tokio::test]
async fn wrong_or_missing_key_is_401() {
    let gw = start().await;
    let body = json!({"tbl": "products"}).to_string();
    let cases = [
        (None, None),
        (Some("wrong"), None),
        (Some("wrong"), Some(format!("Bearer {KEY}"))),
        (Some(KEY), Some("Bearer wrong".to_string())),
        (Some(KEY), Some(format!("Basic {KEY}"))),
        (Some(&KEY[..KEY.len() - 1]), None),
    ];
    for (apikey, authorization) in cases {
        let mut request = gw
            .request(Method::POST, "/rest/v1/rpc/ebb_pull")
            .body(body.clone());
        if let Some(k) = apikey {
            request = request.header("apikey", k);
        }
        if let Some(a) = &authorization {
            request = request.header("Authorization", a);
        }
        let reply = gw.send(request).await;
        assert_eq!(reply.status, 401, "{apikey:?} {authorization:?}");
        assert_error_body(&reply.body, "PGRST301");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        assert!(!reply.body.to_string().contains(KEY), "the key leaked");
    }
    // apikey alone is enough (Authorization is optional).
    let reply = gw
        .send(
            gw.request(Method::POST, "/rpc/ebb_pull")
                .header("apikey", KEY)
                .body(body),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn unknown_function_and_wrong_parameters_are_404_pgrst202() {
    let gw = start().await;
    let reply = gw.post("/rest/v1/rpc/drop_everything", "{}").await;
    assert_eq!(reply.status, 404);
    assert_error_body(&reply.body, "PGRST202");
    assert_eq!(
        reply.body["message"],
        "Could not find the function public.drop_everything without parameters in the schema cache"
    );
    let reply = gw
        .post(
            "/rest/v1/rpc/ebb_pull",
            json!({"table": "products"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_error_body(&reply.body, "PGRST202");
    let reply = gw.post("/rest/v1/nowhere", "{}").await;
    assert_eq!(reply.status, 404);
    assert_error_body(&reply.body, "PGRST125");
}

#[tokio::test]
async fn malformed_body_is_400_pgrst102() {
    let gw = start().await;
    for body in ["{", "not json", "[1,2]", "\"text\"", "{\"changes\": [}"] {
        let reply = gw.post("/rest/v1/rpc/ebb_push", body).await;
        assert_eq!(reply.status, 400, "{body:?}");
        assert_error_body(&reply.body, "PGRST102");
    }
    // An empty body is no arguments, as in PostgREST: ebb_push without
    // `changes` is no such function.
    for body in ["", "  \n"] {
        let reply = gw.post("/rest/v1/rpc/ebb_push", body).await;
        assert_eq!(reply.status, 404, "{body:?}: {}", reply.body);
        assert_error_body(&reply.body, "PGRST202");
    }
    let reply = gw.post("/rest/v1/rpc/ebb_push", vec![0xff_u8, 0xfe]).await;
    assert_eq!(reply.status, 400);
    assert_error_body(&reply.body, "PGRST102");
}

#[tokio::test]
async fn postgres_errors_come_back_with_postgrest_statuses() {
    let gw = start().await;
    // A value PostgreSQL cannot convert: 22P02 -> 400.
    let reply = gw
        .post(
            "/rest/v1/rpc/ebb_pull",
            json!({"tbl": "products", "page": "many"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_error_body(&reply.body, "22P02");
    // A table that is not synced: 22023 -> 400.
    let reply = gw
        .post(
            "/rest/v1/rpc/ebb_pull",
            json!({"tbl": "pg_authid"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_error_body(&reply.body, "22023");
    // changes that are not an array.
    let reply = gw
        .post(
            "/rest/v1/rpc/ebb_push",
            json!({"changes": {"a": 1}}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_error_body(&reply.body, "22023");
}

#[tokio::test]
async fn other_methods_are_405() {
    let gw = start().await;
    let reply = gw
        .send(
            gw.request(Method::GET, "/rest/v1/rpc/ebb_pull?tbl=products")
                .header("apikey", KEY),
        )
        .await;
    assert_eq!(reply.status, 405);
    assert_error_body(&reply.body, "PGRST101");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let gw = start_with(|s| s.max_body_bytes = 1024).await;
    let big = json!({"changes": [upsert("products", "p", None, json!({"id": "p", "name": "x".repeat(4096)}), "d", 1)]});
    let reply = gw.post("/rest/v1/rpc/ebb_push", big.to_string()).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_error_body(&reply.body, "PGRST413");
}

#[tokio::test]
async fn database_down_is_503_with_retry_after() {
    let gw = start_with(|s| {
        // Nothing listens on port 1.
        s.database_url = "host=127.0.0.1 port=1 user=postgres password=hunter2 dbname=x".into();
        s.pool_wait_timeout = Duration::from_secs(2);
    })
    .await;
    let reply = gw
        .post(
            "/rest/v1/rpc/ebb_pull",
            json!({"tbl": "products"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_error_body(&reply.body, "PGRST000");
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        !reply.body.to_string().contains("hunter2"),
        "password leaked"
    );
}

/// A push stuck behind a lock hits statement_timeout: 57014 is not turned
/// into a per-change rejection (it would not be permanent); the whole call
/// fails with 500, and a second request meanwhile waits for the only
/// pooled connection and gets 504 PGRST003.
#[tokio::test]
async fn timeouts_fail_the_call_and_an_exhausted_pool_is_504() {
    let gw = start_with(|s| {
        s.pool_size = 1;
        s.statement_timeout = Duration::from_millis(1500);
        s.pool_wait_timeout = Duration::from_millis(300);
    })
    .await;
    let first = gw
        .push(&[upsert(
            "customers",
            "1",
            None,
            json!({"id": 1, "name": "Ann"}),
            "d",
            1,
        )])
        .await;
    assert_eq!(first, vec![PushResult::Applied { version: 1 }]);

    let mut locker = gw.db.connect().await.expect("connect");
    let tx = locker.transaction().await.expect("begin");
    tx.execute("SELECT 1 FROM customers WHERE id = 1 FOR UPDATE", &[])
        .await
        .expect("lock");
    let body = json!({"changes": [upsert("customers", "1", Some(1), json!({"id": 1, "name": "Bo"}), "d", 2)]});
    let blocked = gw.post("/rest/v1/rpc/ebb_push", body.to_string());
    let waiting = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        gw.post(
            "/rest/v1/rpc/ebb_pull",
            json!({"tbl": "customers"}).to_string(),
        )
        .await
    };
    let (blocked, waiting) = tokio::join!(blocked, waiting);
    tx.rollback().await.expect("rollback");
    assert_eq!(blocked.status, 500, "{}", blocked.body);
    assert_error_body(&blocked.body, "57014");
    assert_eq!(waiting.status, 504, "{}", waiting.body);
    assert_error_body(&waiting.body, "PGRST003");
    assert!(waiting.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn bad_settings_are_refused_without_echoing_secrets() {
    use ebb_gateway::{GatewayError, GatewaySettings, serve};
    let cases = [
        GatewaySettings::new("host=/tmp user=postgres", ""),
        {
            let mut s = GatewaySettings::new("host=/tmp user=postgres", KEY);
            s.pool_size = 0;
            s
        },
        GatewaySettings::new("postgres://u:hunter2@host:notaport/db", KEY),
        GatewaySettings::new("password=hunter2 sslmode=bogus", KEY),
        {
            // A JWT secret shorter than PostgREST accepts.
            let mut s = GatewaySettings::new("host=/tmp user=postgres", KEY);
            s.jwt = Some(ebb_gateway::JwtSettings {
                secret: b"hunter2".to_vec(),
                audience: None,
            });
            s
        },
    ];
    for settings in cases {
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains(KEY),
            "{debug}"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let err = serve(listener, settings, async {})
            .await
            .expect_err("refused");
        assert!(
            matches!(
                err,
                GatewayError::Settings(_) | GatewayError::DatabaseUrl(_)
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(!text.contains("hunter2") && !text.contains(KEY), "{text}");
    }
}
