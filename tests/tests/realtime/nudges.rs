//! A write on the server reaches a listening till as a nudge for its
//! table: written by another till through ebb_push, or by SQL on the
//! server; a wrong key or a foreign topic gets none.

use anyhow::Result;
use ebb::remote::realtime::{Listener, Nudge, Status};
use ebb_tests::{Device, DeviceSpec, TestDb, rows};

use super::common::{self, Served};

#[tokio::test]
async fn a_push_from_one_till_nudges_the_others() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    let url = format!("http://{}", gateway.addr);
    let dir = tempfile::tempdir()?;
    let (listener, mut nudges) = common::listen(&dir, &url, &key, "")?;
    assert_eq!(
        common::nudge(&mut nudges, |_| true).await?,
        Nudge::All,
        "pull once on joining"
    );
    assert_eq!(listener.status(), Status::Connected);
    let config = ebb::config::load(&dir.path().join("policies.toml"))?;
    let settings = ebb::remote::realtime::Settings::from_config(&config)?.expect("enabled");
    assert_eq!(
        Listener::probe(settings).await,
        Ok(()),
        "ebb check's probe joins"
    );

    let mut till = Device::create(&DeviceSpec::default(), &format!("{url}/rest/v1"), &key)?;
    till.insert("customers", &rows::customer("Ana"))?;
    till.sync_ok().await?;
    let Nudge::Table { txid, .. } = common::table(&mut nudges, "customers").await? else {
        unreachable!()
    };
    assert!(
        txid.is_some_and(|t| t.parse::<u64>().is_ok()),
        "the transaction id"
    );

    // A write made on the server itself (a back office) nudges too.
    db.exec("UPDATE customers SET phone = '555'").await?;
    common::table(&mut nudges, "customers").await?;
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_or_another_topic_gets_no_nudges() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    let url = format!("http://{}", gateway.addr);

    let dir = tempfile::tempdir()?;
    let (refused, _nudges) = common::listen(&dir, &url, "not-the-key", "")?;
    let status = common::status(&refused, |s| matches!(s, Status::Polling { .. })).await?;
    let Status::Polling { reason } = status else {
        unreachable!()
    };
    assert!(reason.contains("401"), "{reason}");
    assert!(
        !reason.contains("not-the-key"),
        "the key is never shown: {reason}"
    );

    // What `ebb check` asks: can this till join?
    let config = ebb::config::load(&dir.path().join("policies.toml"))?;
    let settings = ebb::remote::realtime::Settings::from_config(&config)?.expect("enabled");
    let probed = Listener::probe(settings)
        .await
        .expect_err("a wrong key joined");
    assert!(probed.contains("401"), "{probed}");

    let other = tempfile::tempdir()?;
    let (_l, mut elsewhere) = common::listen(&other, &url, &key, "topic = \"elsewhere\"\n")?;
    let ours = tempfile::tempdir()?;
    let (_m, mut nudges) = common::listen(&ours, &url, &key, "")?;
    common::nudge(&mut elsewhere, |n| *n == Nudge::All).await?;
    common::nudge(&mut nudges, |n| *n == Nudge::All).await?;
    db.exec(
        "INSERT INTO customers (id, name, updated_at) \
         VALUES ('c-sql', 'Bo', '2025-01-01T00:00:00Z')",
    )
    .await?;
    common::table(&mut nudges, "customers").await?;
    assert!(
        elsewhere.try_recv().is_err(),
        "a nudge on topic ebb reached a till joined to another"
    );
    Ok(())
}
