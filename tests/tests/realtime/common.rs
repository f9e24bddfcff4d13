//! Helpers of the realtime suite: a gateway that can be stopped and
//! started again on the same port, a till's listener configured through
//! policies.toml, waiting for a nudge or a status, and a TCP relay whose
//! connections a test can cut mid-stream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ebb::remote::realtime::{Listener, Nudge, Settings, Status};
use ebb_gateway::GatewaySettings;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Long enough that only a hang fails; nothing here measures speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A gateway serving one database on a fixed address until stopped.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Served {
    /// Serves `database_url` with `key` on `addr` (port 0: any).
    pub async fn start(addr: SocketAddr, database_url: &str, key: &str) -> Result<Served> {
        Served::start_with(addr, database_url, key, |_| {}).await
    }

    /// As `start`, with `tune` adjusting the settings (JWT mode).
    pub async fn start_with(
        addr: SocketAddr,
        database_url: &str,
        key: &str,
        tune: impl FnOnce(&mut GatewaySettings),
    ) -> Result<Served> {
        let mut settings = GatewaySettings::new(database_url, key);
        settings.pool_size = 2;
        tune(&mut settings);
        let listener = TcpListener::bind(addr).await.context("bind the gateway")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = ebb_gateway::serve(listener, settings, shutdown).await {
                eprintln!("test gateway stopped: {e}");
            }
        });
        Ok(Served {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Shuts down as on SIGINT (websockets closed) and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .context("the gateway did not stop")??;
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A till's listener for the server at `url`, configured as a user would:
/// policies.toml with the key in a file (kept in `dir`).
pub fn listen(
    dir: &tempfile::TempDir,
    url: &str,
    key: &str,
    realtime: &str,
) -> Result<(Listener, mpsc::Receiver<Nudge>)> {
    listen_with(dir, url, key, "", realtime)
}

/// As `listen`, with more `[remote]` lines (an access token file).
pub fn listen_with(
    dir: &tempfile::TempDir,
    url: &str,
    key: &str,
    remote: &str,
    realtime: &str,
) -> Result<(Listener, mpsc::Receiver<Nudge>)> {
    std::fs::write(dir.path().join("key"), key)?;
    let text = format!(
        "database = \"app.db\"\n[remote]\nurl = \"{url}\"\napi_key_file = \"key\"\n{remote}\
         [realtime]\nheartbeat = \"1s\"\ninitial_backoff = \"100ms\"\nmax_backoff = \"1s\"\n{realtime}"
    );
    let path = dir.path().join("policies.toml");
    std::fs::write(&path, &text)?;
    let config = ebb::config::load(&path)?;
    let settings = Settings::from_config(&config)?.context("realtime is enabled")?;
    Ok(Listener::start(settings))
}

/// Waits for the next nudge that `want` accepts, skipping others.
pub async fn nudge(rx: &mut mpsc::Receiver<Nudge>, want: impl Fn(&Nudge) -> bool) -> Result<Nudge> {
    let wait = async {
        while let Some(n) = rx.recv().await {
            if want(&n) {
                return Ok(n);
            }
        }
        bail!("the listener stopped")
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .context("no such nudge within the patience")?
}

/// Waits for a nudge of `table`.
pub async fn table(rx: &mut mpsc::Receiver<Nudge>, table: &str) -> Result<Nudge> {
    nudge(
        rx,
        |n| matches!(n, Nudge::Table { table: t, .. } if t == table),
    )
    .await
}

/// Waits until the listener's status is one `want` accepts.
pub async fn status(listener: &Listener, want: impl Fn(&Status) -> bool) -> Result<Status> {
    let mut watch = listener.watch();
    let wait = async {
        loop {
            let now = watch.borrow_and_update().clone();
            if want(&now) {
                return Ok(now);
            }
            if watch.changed().await.is_err() {
                bail!("the listener stopped");
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .context("no such status within the patience")?
}

/// A TCP relay to `upstream` whose live connections [`Relay::cut`] kills,
/// as a proxy or a network drop would, mid-stream.
pub struct Relay {
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let held = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().unwrap_or_else(|e| e.into_inner()).push(task);
            }
        });
        Ok(Relay {
            addr,
            conns,
            accept,
        })
    }

    /// Drops every open connection without a close frame.
    pub fn cut(&self) {
        for task in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A fresh random key for one test's gateway.
pub fn key() -> String {
    format!("rt-key-{}", uuid::Uuid::new_v4().simple())
}
