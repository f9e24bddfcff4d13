//! JWT mode (`GatewaySettings::jwt`): each till's token names its role and
//! carries its claims, which row level security reads through
//! `current_setting('request.jwt.claims', true)`; refused tokens answer as
//! PostgREST does; the secret and tokens never reach a log or a body.

use std::sync::{Arc, Mutex};

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};

use super::role::{TestRole, admin, grant_and_protect};
use super::{Gateway, KEY, Reply, start_with, upsert};
use ebb::model::{Cursor, PullPage, PushResult};
use ebb_gateway::{GatewaySettings, JwtSettings};

pub(super) const SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";

pub(super) fn jwt_mode(s: &mut GatewaySettings) {
    s.jwt = Some(JwtSettings {
        secret: SECRET.as_bytes().to_vec(),
        audience: None,
    });
}

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn token_with(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

pub(super) fn token(claims: Value) -> String {
    token_with(SECRET, claims)
}

/// POSTs `body` with the shared key and, when given, `Authorization: Bearer`.
async fn call(gw: &Gateway, bearer: Option<&str>, path: &str, body: Value) -> Reply {
    let mut request = gw
        .request(Method::POST, path)
        .header("apikey", KEY)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(bearer) = bearer {
        request = request.header("Authorization", format!("Bearer {bearer}"));
    }
    gw.send(request).await
}

async fn pull(gw: &Gateway, bearer: Option<&str>) -> Reply {
    super::settle(&gw.db).await;
    let body = json!({"tbl": "products", "cursor": Cursor::default(), "page": 100});
    call(gw, bearer, "/rest/v1/rpc/ebb_pull", body).await
}

/// The primary keys a pull as `bearer` returns.
async fn pulled(gw: &Gateway, bearer: Option<&str>) -> Vec<String> {
    let reply = pull(gw, bearer).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page: PullPage = serde_json::from_value(reply.body).expect("a PullPage");
    let mut pks: Vec<String> = page.rows.into_iter().map(|r| r.pk).collect();
    pks.sort();
    pks
}

/// What a till's role needs, and a policy letting each till (its token's
/// `sub`) read and write only the products whose `note` names it; A owns
/// `a1`, B owns `b1`.
pub(super) async fn per_till_policy(gw: &Gateway, role: &str) {
    gw.db
        .connect()
        .await
        .expect("connect")
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA public TO \"{r}\";
             GRANT SELECT, INSERT, UPDATE, DELETE ON products TO \"{r}\";
             GRANT EXECUTE ON FUNCTION public.ebb_push(jsonb), public.ebb_pull(text, jsonb, integer)
                 TO \"{r}\";
             ALTER TABLE products ENABLE ROW LEVEL SECURITY;
             CREATE POLICY per_till ON products
                 USING (note = current_setting('request.jwt.claims', true)::json->>'sub')
                 WITH CHECK (note = current_setting('request.jwt.claims', true)::json->>'sub');
             INSERT INTO products (id, name, note) VALUES ('a1', 'apple', 'A'), ('b1', 'pear', 'B');",
            r = role
        ))
        .await
        .expect("grants and policy");
    super::reinstall(&gw.db).await;
}

#[tokio::test]
async fn each_till_runs_as_its_token_s_role_and_sees_its_own_rows() {
    let till = TestRole::create("till", "NOLOGIN").await;
    let gw = start_with(jwt_mode).await;
    per_till_policy(&gw, &till.name).await;
    let a = token(json!({"role": till.name, "sub": "A", "exp": now() + 300}));
    let b = token(json!({"role": till.name, "sub": "B", "exp": now() + 300}));

    assert_eq!(pulled(&gw, Some(&a)).await, ["a1"]);
    assert_eq!(pulled(&gw, Some(&b)).await, ["b1"]);

    let push = |bearer: String, pk: &str, note: &str, counter: i64| {
        let change = upsert(
            "products",
            pk,
            None,
            json!({"id": pk, "name": "x", "note": note}),
            "till",
            counter,
        );
        let body = json!({ "changes": [change] });
        let gw = &gw;
        async move {
            let reply = call(gw, Some(&bearer), "/rest/v1/rpc/ebb_push", body).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            let results: Vec<PushResult> =
                serde_json::from_value(reply.body["results"].clone()).expect("results");
            results.into_iter().next().expect("one result")
        }
    };
    assert_eq!(
        push(a.clone(), "a2", "A", 1).await,
        PushResult::Applied { version: 1 }
    );
    // B may neither take A's row nor write a row as A.
    let stolen = push(b.clone(), "a1", "B", 1).await;
    assert!(
        !matches!(stolen, PushResult::Applied { .. }),
        "B wrote A's row: {stolen:?}"
    );
    let forged = push(b.clone(), "b2", "A", 2).await;
    assert!(
        matches!(&forged, PushResult::Rejected { code, .. } if code == "42501"),
        "{forged:?}"
    );
    assert_eq!(pulled(&gw, Some(&a)).await, ["a1", "a2"]);
    let a1: String = gw
        .db
        .connect()
        .await
        .expect("connect")
        .query_one("SELECT note FROM products WHERE id = 'a1'", &[])
        .await
        .expect("a1")
        .get(0);
    assert_eq!(a1, "A");
}

/// Everything the gateway logs while it runs, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn refused_tokens_answer_as_postgrest_and_leak_nothing() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    // The test's runtime is single-threaded: the gateway logs here.
    let _guard = tracing::subscriber::set_default(subscriber);
    // With a single dispatcher registered, tracing computes a callsite's
    // interest from the default of whichever thread hits it first: another
    // test's thread, without a subscriber, would silence the gateway's
    // lines here. A second, live dispatcher makes it ask both.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let gw = start_with(jwt_mode).await;
    let missing = format!("ebb_t_nobody_{}", uuid::Uuid::new_v4().simple());
    let expired = token(json!({"role": "postgres", "exp": now() - 60}));
    let forged = token_with(
        "another-secret-that-is-32-bytes-long!",
        json!({"role": "postgres"}),
    );
    let no_role = token(json!({"sub": "A", "exp": now() + 300}));
    let no_such_role = token(json!({"role": missing, "exp": now() + 300}));
    let invalid = |m: &str| format!("Bearer error=\"invalid_token\", error_description=\"{m}\"");
    let cases = [
        (
            None,
            401,
            "PGRST302",
            "Anonymous access is disabled",
            "Bearer".to_string(),
        ),
        (
            Some(KEY),
            401,
            "PGRST302",
            "Anonymous access is disabled",
            "Bearer".into(),
        ),
        (
            Some(&no_role),
            401,
            "PGRST302",
            "Anonymous access is disabled",
            "Bearer".into(),
        ),
        (
            Some(&expired),
            401,
            "PGRST303",
            "JWT expired",
            invalid("JWT expired"),
        ),
        (
            Some(&forged),
            401,
            "PGRST301",
            "JWT cryptographic operation failed",
            invalid("JWT cryptographic operation failed"),
        ),
        (
            Some("not-a-jwt"),
            401,
            "PGRST301",
            "Expected 3 parts in JWT; got 1",
            invalid("Expected 3 parts in JWT; got 1"),
        ),
    ];
    let mut bodies = Vec::new();
    for (bearer, status, code, message, challenge) in cases {
        let reply = pull(&gw, bearer).await;
        assert_eq!(reply.status, status, "{bearer:?}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{}", reply.body);
        assert_eq!(reply.body["message"], message, "{}", reply.body);
        assert_eq!(reply.headers["www-authenticate"], challenge.as_str());
        bodies.push(reply.body.to_string());
    }

    // A role that does not exist: PostgreSQL's error, as a 401.
    let reply = pull(&gw, Some(&no_such_role)).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["code"], "22023");
    assert_eq!(
        reply.body["message"],
        format!("role \"{missing}\" does not exist")
    );
    bodies.push(reply.body.to_string());

    // A good token does not make up for a wrong key.
    let good = token(json!({"role": "postgres", "exp": now() + 300}));
    let reply = gw
        .send(
            gw.request(Method::POST, "/rest/v1/rpc/ebb_pull")
                .header("apikey", "not-the-key")
                .header("Authorization", format!("Bearer {good}"))
                .body(json!({"tbl": "products"}).to_string()),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["message"].as_str()),
        (401, Some("Invalid API key"))
    );
    bodies.push(reply.body.to_string());
    // And the good token works.
    assert_eq!(pulled(&gw, Some(&good)).await, Vec::<String>::new());

    let logs = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8");
    assert!(logs.contains("ebb_gateway"), "the gateway logged: {logs}");
    for secret in [SECRET, &good, &expired, &forged, &no_role, &no_such_role] {
        assert!(!logs.contains(secret), "a secret in the logs");
        for body in &bodies {
            assert!(!body.contains(secret), "a secret in {body}");
        }
    }
}

#[tokio::test]
async fn anonymous_requests_run_as_the_role_and_forbidden_switches_are_403() {
    let anon = TestRole::create("anon", "NOLOGIN").await;
    let other = TestRole::create("other", "NOLOGIN").await;
    let password = uuid::Uuid::new_v4().simple().to_string();
    let login = TestRole::create("login", &format!("LOGIN PASSWORD '{password}'")).await;
    admin()
        .await
        .batch_execute(&format!("GRANT \"{}\" TO \"{}\"", anon.name, login.name))
        .await
        .expect("grant anon to login");
    let gw = start_with(|s| {
        let dbname = s
            .database_url
            .rsplit("dbname=")
            .next()
            .unwrap_or_default()
            .to_owned();
        s.database_url = format!(
            "host=127.0.0.1 user={} password={password} dbname={dbname}",
            login.name
        );
        s.role = Some(anon.name.clone());
        // One connection, so each request reuses the one before it.
        s.pool_size = 1;
        jwt_mode(s);
    })
    .await;
    grant_and_protect(&gw.db, &anon.name).await;
    // A policy reading the claims as JSON, as Supabase's auth.jwt() does.
    gw.db
        .connect()
        .await
        .expect("connect")
        .batch_execute(
            "CREATE POLICY claims_are_json ON products AS RESTRICTIVE
                 USING (coalesce(current_setting('request.jwt.claims', true)::json->>'role', '')
                        IS NOT NULL)",
        )
        .await
        .expect("claims policy");
    super::reinstall(&gw.db).await;

    // No token, the shared key as bearer, a token without a role claim:
    // all run as the anonymous role, whose policy hides "hidden".
    let no_role = token(json!({"sub": "A", "exp": now() + 300}));
    let as_anon = token(json!({"role": anon.name, "exp": now() + 300}));
    for bearer in [
        None,
        Some(KEY),
        Some(no_role.as_str()),
        Some(as_anon.as_str()),
    ] {
        assert_eq!(pulled(&gw, bearer).await, ["shown"], "{bearer:?}");
    }
    // Anonymous again on the connection a token's claims were set on: the
    // claims are the anonymous role's, not an empty string SQL cannot read.
    assert_eq!(pulled(&gw, None).await, ["shown"]);

    // A role the login role may not switch to: PostgreSQL's 42501, 403.
    let forbidden = token(json!({"role": other.name, "exp": now() + 300}));
    let reply = pull(&gw, Some(&forbidden)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["code"], "42501");
    assert_eq!(
        reply.body["message"],
        format!("permission denied to set role \"{}\"", other.name)
    );
}
