//! Access tokens on the gateway in JWT mode: a till joins the private
//! channel with its own token, a rotated token file is re-read and sent
//! before the old token expires (the channel stays joined), and a till
//! without a token of its own is refused and keeps polling, saying why.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ebb::remote::realtime::{Nudge, Status};
use ebb_gateway::{GatewaySettings, JwtSettings};
use ebb_tests::TestDb;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::common::{self, Served};

const SECRET: &str = "realtime-token-secret-0123456789abcdefgh";

fn jwt_mode(s: &mut GatewaySettings) {
    s.jwt = Some(JwtSettings {
        secret: SECRET.as_bytes().to_vec(),
        audience: None,
    });
    s.role = Some("postgres".into());
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn token(sub: &str, exp: u64) -> Result<String> {
    let claims = json!({"role": "authenticated", "sub": sub, "exp": exp});
    Ok(encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )?)
}

const WRITE: &str = "INSERT INTO customers (id, name, updated_at) \
                     VALUES (gen_random_uuid()::text, 'Ana', '2025-01-01T00:00:00Z')";

#[tokio::test]
async fn a_rotated_token_file_keeps_the_channel_joined() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let addr = "127.0.0.1:0".parse()?;
    let gateway = Served::start_with(addr, &db.conn_str(), &key, jwt_mode).await?;
    let dir = tempfile::tempdir()?;
    let short = now() + 5;
    std::fs::write(dir.path().join("till.jwt"), token("till-7", short)?)?;
    let (listener, mut nudges) = common::listen_with(
        &dir,
        &format!("http://{}", gateway.addr),
        &key,
        "access_token_file = \"till.jwt\"\n",
        "",
    )?;
    common::nudge(&mut nudges, |n| *n == Nudge::All).await?;
    // The refresher writes a longer-lived token before the first expires.
    std::fs::write(dir.path().join("till.jwt"), token("till-7", now() + 600)?)?;
    while now() <= short + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    db.exec(WRITE).await?;
    let next = common::nudge(&mut nudges, |_| true).await?;
    assert!(
        matches!(&next, Nudge::Table { table, .. } if table == "customers"),
        "the channel was closed and rejoined ({next:?}): the new token was not sent"
    );
    assert_eq!(listener.status(), Status::Connected);
    Ok(())
}

#[tokio::test]
async fn without_a_token_of_its_own_a_till_keeps_polling() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let addr = "127.0.0.1:0".parse()?;
    let gateway = Served::start_with(addr, &db.conn_str(), &key, jwt_mode).await?;
    let dir = tempfile::tempdir()?;
    let (listener, _nudges) = common::listen(&dir, &format!("http://{}", gateway.addr), &key, "")?;
    let status = common::status(&listener, |s| matches!(s, Status::Polling { .. })).await?;
    let Status::Polling { reason } = status else {
        unreachable!()
    };
    assert!(reason.contains("Unauthorized"), "{reason}");
    assert!(!reason.contains(&key), "{reason}");
    Ok(())
}
