//! The in-process gateway: `ebb_gateway::serve` on 127.0.0.1:0 over one
//! test database, with a random API key. Stopped when dropped.
//!
//! Owns the gateway task only; the database belongs to [`crate::pg::TestDb`].

use std::net::SocketAddr;

use anyhow::Result;
use ebb_gateway::GatewaySettings;
use tokio::task::JoinHandle;

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    key: String,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Serves `database_url` with a fresh random key and a small pool.
    pub async fn start(database_url: &str) -> Result<Gateway> {
        Gateway::start_with(database_url, |_| {}).await
    }

    /// As `start`, with `tune` adjusting the settings (a statement timeout).
    pub async fn start_with(
        database_url: &str,
        tune: impl FnOnce(&mut GatewaySettings),
    ) -> Result<Gateway> {
        let key = format!("test-key-{}", uuid::Uuid::new_v4().simple());
        let mut settings = GatewaySettings::new(database_url, key.clone());
        settings.pool_size = 4;
        tune(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = ebb_gateway::serve(listener, settings, std::future::pending()).await {
                eprintln!("test gateway stopped: {e}");
            }
        });
        Ok(Gateway { addr, key, task })
    }

    /// Where the gateway listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The key clients must send.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}
