//! The daemon's listener on `ops.listen`: binding it (with the rule that
//! off loopback the API token is required) and serving `/metrics`,
//! `/health`, the local API and the console until the daemon stops.
//! Decides nothing about what the routes answer (`ops::server`,
//! `ops::api`). Called by the daemon only.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::DaemonError;
use crate::config::Config;
use crate::ops::api::{self, Api, Token};
use crate::ops::{Health, Metrics};

/// Binds `addr` and reads the API token; refuses a non-loopback address
/// without one.
pub(super) async fn bind(
    config: &Config,
    addr: &str,
) -> Result<(TcpListener, SocketAddr, Option<Token>), DaemonError> {
    let token = api::token::read(&config.ops.api_token).map_err(DaemonError::Token)?;
    let listen_error = |source| DaemonError::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    if !bound.ip().is_loopback() && token.is_none() {
        return Err(DaemonError::Token(format!(
            "ops.listen {addr} is not a loopback address: the local API needs a \
             token there (set EBB_API_TOKEN, or ops.api_token_env or \
             ops.api_token_file), or listen on 127.0.0.1"
        )));
    }
    Ok((listener, bound, token))
}

/// Serves the routes on `listener` until `stop` becomes true.
pub(super) fn spawn(
    listener: TcpListener,
    api: Api,
    metrics: Metrics,
    health: watch::Receiver<Health>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    let addr = listener.local_addr().ok();
    let loopback = api.rules.loopback;
    let routes = crate::ops::server::routes(metrics, health).merge(api.router());
    if let Some(addr) = addr {
        tracing::info!(%addr, "serving /metrics, /health, the local API (/api) and the console (/)");
        if !loopback {
            tracing::warn!(%addr, "ops.listen is not loopback: every /api route needs the API token");
        }
    }
    tokio::spawn(async move {
        axum::serve(listener, routes)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    })
}
