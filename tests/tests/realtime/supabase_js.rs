//! Fidelity with Supabase's own client: `@supabase/realtime-js`, run by
//! node (tests/realtime-js/receive.mjs), joins the private channel on the
//! gateway with an access token and receives ebb's broadcast of a write
//! made on the server: with the key as token (Supabase's anon key), with
//! the 2.0.0 serializer, and in JWT mode with a till's token; an anonymous
//! join of the private channel is refused in JWT mode, as on Supabase.
//! Skipped, saying so, when node or npm is missing; the package is
//! installed with npm into tests/realtime-js on first run
//! (`EBB_REALTIME_JS_VERSION` pins another version than install.sh's).

use std::process::Stdio;

use anyhow::{Context, Result, bail};
use ebb_gateway::{GatewaySettings, JwtSettings};
use ebb_tests::{TestDb, repo_path};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::common::{self, PATIENCE, Served};

const SECRET: &str = "realtime-js-secret-0123456789abcdefghij";

fn have(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs realtime-js; false (after saying why) when node is missing.
async fn installed() -> Result<bool> {
    if !have("node") || !have("npm") {
        eprintln!("SKIPPED: node and npm are needed to run @supabase/realtime-js");
        return Ok(false);
    }
    let install = Command::new("bash")
        .arg(repo_path("tests/realtime-js/install.sh"))
        .status()
        .await
        .context("run tests/realtime-js/install.sh")?;
    if !install.success() {
        bail!("installing @supabase/realtime-js failed ({install}); see its output above");
    }
    Ok(true)
}

/// Runs receive.mjs against `gateway` with `env`; once it has joined,
/// writes a row on the server. `Ok(message)` is the broadcast it got,
/// `Err` what it said instead.
async fn receive(db: &TestDb, gateway: &Served, key: &str, env: &[(&str, &str)]) -> Result<Value> {
    let mut node = Command::new("node");
    node.arg(repo_path("tests/realtime-js/receive.mjs"))
        .env(
            "EBB_REALTIME_URL",
            format!("ws://{}/realtime/v1", gateway.addr),
        )
        .env("EBB_REALTIME_KEY", key)
        .env("EBB_REALTIME_TOPIC", "ebb")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        node.env(name, value);
    }
    let mut node = node.spawn().context("start node")?;
    let mut lines = BufReader::new(node.stdout.take().context("stdout")?).lines();
    let run = async {
        while let Some(line) = lines.next_line().await? {
            eprintln!("realtime-js: {line}");
            if line == "SUBSCRIBED" {
                db.exec(
                    "INSERT INTO customers (id, name, updated_at) \
                     VALUES (gen_random_uuid()::text, 'Ana', '2025-01-01T00:00:00Z')",
                )
                .await?;
            } else if let Some(json) = line.strip_prefix("BROADCAST ") {
                return Ok(serde_json::from_str(json)?);
            } else if line.starts_with("ERROR") {
                bail!("{line}");
            }
        }
        bail!("node exited before a broadcast arrived")
    };
    let answer = tokio::time::timeout(PATIENCE, run)
        .await
        .context("no broadcast within the patience")?;
    let _ = node.kill().await;
    answer
}

fn assert_nudge(message: &Value) {
    assert_eq!(message["type"], "broadcast", "{message}");
    assert_eq!(message["event"], "change", "{message}");
    assert_eq!(message["payload"]["table"], "customers", "{message}");
    assert!(message["payload"]["txid"].is_string(), "{message}");
}

#[tokio::test]
async fn realtime_js_receives_ebb_broadcasts_from_the_gateway() -> Result<()> {
    if !installed().await? {
        return Ok(());
    }
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    assert_nudge(&receive(&db, &gateway, &key, &[]).await?);
    let v2 = receive(&db, &gateway, &key, &[("EBB_REALTIME_VSN", "2.0.0")]).await?;
    assert_nudge(&v2);
    Ok(())
}

#[tokio::test]
async fn realtime_js_joins_with_a_tills_token_in_jwt_mode() -> Result<()> {
    if !installed().await? {
        return Ok(());
    }
    let db = TestDb::create().await?;
    let key = common::key();
    let jwt = |s: &mut GatewaySettings| {
        s.jwt = Some(JwtSettings {
            secret: SECRET.as_bytes().to_vec(),
            audience: None,
        });
        s.role = Some("postgres".into());
    };
    let gateway = Served::start_with("127.0.0.1:0".parse()?, &db.conn_str(), &key, jwt).await?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 600;
    let claims = json!({"role": "authenticated", "sub": "till-7", "exp": exp});
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )?;
    assert_nudge(&receive(&db, &gateway, &key, &[("EBB_REALTIME_TOKEN", &token)]).await?);

    // The key as token is anonymous in JWT mode: the private join is refused.
    let refused = receive(&db, &gateway, &key, &[]).await;
    let said = format!(
        "{:#}",
        refused.expect_err("an anonymous private join was accepted")
    );
    assert!(said.contains("CHANNEL_ERROR"), "{said}");
    assert!(said.contains("Unauthorized"), "{said}");
    Ok(())
}
