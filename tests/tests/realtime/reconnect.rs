//! Faults between the till and the server: the websocket cut mid-stream
//! (a proxy or the network dropping it) and the gateway restarted. Each
//! time the listener reports polling with a reason, comes back on its own,
//! asks for one pull of everything (nudges were missed meanwhile), and
//! nudges flow again.

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
        write_until_relayed(&db, &mut nudges)
            .await
            .with_context(|| format!("cut {round}: a write relayed"))?;
    }
    Ok(())
}

/// Writes until a nudge of the write comes through: one made while the
/// server side of a fresh socket is still being set up is covered by the
/// pull-everything nudge of the join, not by a nudge of its own.
async fn write_until_relayed(db: &TestDb, nudges: &mut mpsc::Receiver<Nudge>) -> Result<()> {
    let relayed = async {
        loop {
            db.exec(WRITE).await?;
            let wait = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                common::table(nudges, "customers"),
            );
            if let Ok(Ok(_)) = wait.await {
                return anyhow::Ok(());
            }
        }
    };
    tokio::time::timeout(common::PATIENCE, relayed).await?
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
    // The new gateway LISTENs on its own connection; a write made before it
    // listens is covered by the pull-everything nudge above.
    write_until_relayed(&db, &mut nudges).await?;
    drop(gateway);
    Ok(())
}
