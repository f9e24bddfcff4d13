//! The daemon is the library's: an app embeds it with its own shutdown
//! future and follows its events in-process, without the CLI. A reader
//! that never reads does not slow it: it loses its oldest events and is
//! told how many.

use std::time::Duration;

use anyhow::{Context, Result};
use ebb::ops::daemon::Daemon;
use ebb::ops::events::Stamped;
use ebb::remote::postgrest::Client;
use ebb_tests::Env;
use ebb_tests::rows::{customer, id_of};
use serde_json::Value;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

/// The next event of `kind` (others skipped), as JSON.
async fn next_of(rx: &mut Receiver<std::sync::Arc<Stamped>>, kind: &str) -> Result<Value> {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if e.kind == kind => {
                    return serde_json::from_str(&e.json).map_err(Into::into);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => anyhow::bail!("the event hub closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .with_context(|| format!("no {kind} event in 30s"))?
}

#[tokio::test]
async fn an_app_embeds_the_daemon_with_its_own_shutdown() -> Result<()> {
    let env = Env::new().await?;
    let device = env.default_device()?;
    let mut config = device.config.clone();
    config.sync.interval = Duration::from_secs(3600);
    config.ops.listen = Some("127.0.0.1:0".into());
    config.ops.event_buffer = 16;
    let remote = Client::new(&config.remote, &config.rate_limit)?;
    let daemon = Daemon::start(config, remote).await?;
    let addr = daemon.local_addr().context("a bound port")?;
    let handle = daemon.handle();
    let mut events = handle.events().subscribe();
    let mut slow = handle.events().subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();

    let app = async {
        let first = next_of(&mut events, "round_finished").await?;
        assert_eq!(first["round"], 1, "{first}");
        let health: Value = reqwest::get(format!("http://{addr}/health"))
            .await?
            .json()
            .await?;
        assert_eq!(health["healthy"], true, "{health}");

        let row = customer("Embedded");
        device.insert("customers", &row)?;
        handle.sync_now();
        let round = next_of(&mut events, "round_finished").await?;
        assert_eq!(round["counts"]["pushed"], 1, "{round}");
        assert!(env.db.row("customers", &id_of(&row)).await?.is_some());

        // Forty more rounds while `slow` never reads: each one finishes.
        for n in 3..43 {
            handle.sync_now();
            let round = next_of(&mut events, "round_finished").await?;
            assert_eq!(round["round"], n, "{round}");
        }
        let _ = stop.send(());
        anyhow::Ok(())
    };
    let run = daemon.run(async {
        let _ = stopped.await;
    });
    let (ran, app) = tokio::join!(run, app);
    app?;
    ran?;
    // The reader that never read kept the newest 16 (`ops.event_buffer`)
    // and is told how many it lost.
    match slow.recv().await {
        Err(RecvError::Lagged(n)) => assert!(n >= 42 * 2 - 16, "lost only {n}"),
        other => panic!("the slow reader should have lagged: {other:?}"),
    }
    let mut kept = 0;
    while slow.try_recv().is_ok() {
        kept += 1;
    }
    assert_eq!(kept, 16);
    // The server is gone with the daemon.
    assert!(reqwest::get(format!("http://{addr}/health")).await.is_err());
    Ok(())
}
