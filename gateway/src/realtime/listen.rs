//! The one Postgres connection that `LISTEN`s on `ebb_changes` and hands
//! each nudge to the [`Hub`](super::Hub)'s sockets. It reconnects with
//! backoff (0.5 s doubling to 30 s) while the database is away, and stops
//! with the gateway. It says whether it is listening (`listening`: 0, or
//! the generation of this LISTEN): until it is, sockets refuse joins, and
//! when it is lost or replaced they close their channels, so no till
//! counts on nudges that cannot come. TCP keepalive finds a connection
//! the network dropped silently within about a minute. A till polls
//! meanwhile and pulls once when it joins again: no change is missed.
//!
//! Logs the connection's state (never the connection string). Spawned by
//! [`serve`](crate::serve).

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use super::Notice;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Listens until `stop` turns true; `config` is the gateway's database.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    notices: broadcast::Sender<Arc<Notice>>,
    listening: Arc<watch::Sender<u64>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut config = config;
    // A connection the network dropped without a word is noticed in about
    // a minute, not after the system's two hours of TCP silence.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    let mut generation = 0;
    loop {
        generation += 1;
        let listened = tokio::select! {
            r = listen_once(&config, &notices, &listening, generation) => r,
            _ = stop.changed() => return,
        };
        listening.send_replace(0);
        match listened {
            // It listened, then lost the connection: try again at once.
            Ok(()) => {
                tracing::warn!(target: "ebb_gateway", "realtime: LISTEN connection lost; reconnecting");
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                tracing::warn!(
                    target: "ebb_gateway",
                    error = %e,
                    retry_in_ms = backoff.as_millis() as u64,
                    "realtime: cannot LISTEN on ebb_changes"
                );
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects, listens and relays until the connection ends (`Ok`) or
/// cannot be set up (`Err`).
async fn listen_once(
    config: &tokio_postgres::Config,
    notices: &broadcast::Sender<Arc<Notice>>,
    listening: &watch::Sender<u64>,
    generation: u64,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (ended_tx, mut ended) = tokio::sync::oneshot::channel::<()>();
    let relay = notices.clone();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) if n.channel() == "ebb_changes" => {
                    match Notice::parse(n.payload()) {
                        // No socket listening is fine: nothing to relay.
                        Some(notice) => drop(relay.send(Arc::new(notice))),
                        None => {
                            tracing::debug!(target: "ebb_gateway", "realtime: a notice that is not ebb's")
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = ended_tx.send(());
    });
    let listened = tokio::select! {
        r = client.batch_execute("LISTEN ebb_changes") => r,
        _ = &mut ended => {
            driver.abort();
            return Ok(());
        }
    };
    if let Err(e) = listened {
        driver.abort();
        return Err(e);
    }
    tracing::info!(target: "ebb_gateway", "realtime: listening on ebb_changes");
    listening.send_replace(generation);
    let _ = ended.await;
    drop(client);
    Ok(())
}
