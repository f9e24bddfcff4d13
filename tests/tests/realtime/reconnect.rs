//! Faults between the till and the server: the websocket cut mid-stream
//! (a proxy or the network dropping it), the gateway restarted, and the
//! gateway's LISTEN connection to the database lost. Each time the
//! listener reports polling with a reason, comes back on its own, asks for
//! one pull of everything (nudges were missed meanwhile), and the first
//! write after it joined is nudged: the gateway admits a join only while
//! it listens to the database.

use anyhow::{Context, Result};
use ebb::remote::realtime::{Nudge, Status};
use ebb_tests::TestDb;
use tokio::sync::mpsc;

use super::common::{self, Relay, Served};

const WRITE: &str = "INSERT INTO customers (id, name, updated_at) \
                     VALUES (gen_random_uuid()::text, 'Ana', '2025-01-01T00:00:00Z')";

#[tokio::test]
async fn a_socket_cut_mid_stream_is_rejoined() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    let relay = Relay::start(gateway.addr).await?;
    let dir = tempfile::tempdir()?;
    let (listener, mut nudges) = common::listen(&dir, &format!("http://{}", relay.addr), &key, "")?;
    common::nudge(&mut nudges, |n| *n == Nudge::All).await?;
    db.exec(WRITE).await?;
    common::table(&mut nudges, "customers").await?;

    for round in 0..2 {
        relay.cut();
        common::status(&listener, |s| matches!(s, Status::Polling { .. }))
            .await
            .with_context(|| format!("cut {round}: polling"))?;
        common::nudge(&mut nudges, |n| *n == Nudge::All)
            .await
            .with_context(|| format!("cut {round}: rejoined, a pull of everything"))?;
        assert_eq!(listener.status(), Status::Connected);
        write_relayed(&db, &mut nudges)
            .await
            .with_context(|| format!("cut {round}: a write relayed"))?;
    }
    Ok(())
}

/// One write, and its nudge.
async fn write_relayed(db: &TestDb, nudges: &mut mpsc::Receiver<Nudge>) -> Result<()> {
    db.exec(WRITE).await?;
    common::table(nudges, "customers").await?;
    Ok(())
}

#[tokio::test]
async fn a_restarted_gateway_is_rejoined() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    let addr = gateway.addr;
    let dir = tempfile::tempdir()?;
    let (listener, mut nudges) = common::listen(&dir, &format!("http://{addr}"), &key, "")?;
    common::nudge(&mut nudges, |n| *n == Nudge::All).await?;

    gateway.stop().await?;
    let down = common::status(&listener, |s| matches!(s, Status::Polling { .. })).await?;
    eprintln!("while the gateway is down: {down:?}");
    let gateway = Served::start(addr, &db.conn_str(), &key).await?;
    common::nudge(&mut nudges, |n| *n == Nudge::All).await?;
    write_relayed(&db, &mut nudges).await?;
    drop(gateway);
    Ok(())
}

#[tokio::test]
async fn a_lost_listen_connection_closes_the_channel_until_it_is_back() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("http://{}", gateway.addr);
    let (listener, mut nudges) = common::listen(&dir, &url, &key, "")?;
    common::nudge(&mut nudges, |n| *n == Nudge::All).await?;
    write_relayed(&db, &mut nudges).await?;

    // The database ends the gateway's LISTEN session (a restart or a
    // pooler would): its nudges stop, so the till must not stay joined.
    let mut watch = listener.watch();
    watch.borrow_and_update();
    db.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query = 'LISTEN ebb_changes'",
    )
    .await?;
    let down = tokio::time::timeout(common::PATIENCE, async {
        loop {
            watch.changed().await?;
            if let Status::Polling { reason } = watch.borrow_and_update().clone() {
                return anyhow::Ok(reason);
            }
        }
    })
    .await
    .context("the till stayed joined to a gateway that lost its LISTEN")??;
    assert!(down.contains("not listening"), "{down}");
    common::nudge(&mut nudges, |n| *n == Nudge::All)
        .await
        .context("rejoined when the gateway listens again")?;
    assert_eq!(listener.status(), Status::Connected);
    write_relayed(&db, &mut nudges).await?;
    Ok(())
}
