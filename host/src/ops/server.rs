//! The loopback HTTP endpoint of `ebb run`: `GET /metrics` (Prometheus text
//! format 0.0.4) and `GET /health` (200 healthy / 503 unhealthy, JSON);
//! the daemon merges the local API and the console (`ops::api`) into the
//! same listener.
//!
//! Serves what it is given and nothing else: it reads [`Metrics`] and the
//! latest [`Health`] from a watch channel that the sync driver updates after
//! each round. It never touches the database or the remote, and it stops
//! when the `shutdown` future completes (mini-redis style). Where it listens
//! (`ops.listen`) is the caller's choice; `ops::daemon` binds it.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::ops::health::Health;
use crate::ops::metrics::Metrics;

/// The content type Prometheus expects for the text format.
pub const METRICS_CONTENT_TYPE: &str = crate::ops::metrics::CONTENT_TYPE;

#[derive(Clone)]
struct Shared {
    metrics: Metrics,
    health: watch::Receiver<Health>,
}

/// The `/metrics` and `/health` routes (the daemon adds the API's).
pub fn routes(metrics: Metrics, health: watch::Receiver<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/health", get(health_page))
        .with_state(Shared { metrics, health })
}

/// Serve `/metrics` and `/health` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    health: watch::Receiver<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = routes(metrics, health);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_page(State(shared): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        shared.metrics.render(),
    )
        .into_response()
}

async fn health_page(State(shared): State<Shared>) -> Response {
    let health = shared.health.borrow().clone();
    let status = if health.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(health)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::health::{Problem, ProblemKind, Severity};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A raw HTTP/1.1 GET (reqwest stays under `remote/`): status, headers
    /// (lowercased names), body.
    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[tokio::test]
    async fn serves_metrics_and_health_until_shutdown() {
        let metrics = Metrics::new();
        metrics.add_pushed("orders", 4);
        let (tx, rx) = watch::channel(Health::not_assessed());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, metrics.clone(), rx, async {
            let _ = stopped.await;
        }));

        let (status, headers, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), Some(METRICS_CONTENT_TYPE));
        assert!(
            body.contains("ebb_pushed_total{table=\"orders\"} 4\n"),
            "{body}"
        );

        let (status, _, body) = get(addr, "/health").await;
        assert_eq!(status, 503);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["healthy"], false);
        assert_eq!(v["problems"][0]["kind"], "not_assessed");

        tx.send(Health {
            healthy: true,
            problems: vec![Problem {
                kind: ProblemKind::OpenConflicts,
                severity: Severity::Warning,
                message: "1 open conflict(s)".into(),
            }],
        })
        .unwrap();
        let (status, headers, body) = get(addr, "/health").await;
        assert_eq!(status, 200);
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["problems"][0]["severity"], "warning");

        // Counters recorded after start show up: the server reads live values.
        metrics.add_pushed("orders", 1);
        let (_, _, body) = get(addr, "/metrics").await;
        assert!(body.contains("ebb_pushed_total{table=\"orders\"} 5\n"));

        assert_eq!(get(addr, "/nope").await.0, 404);

        stop.send(()).unwrap();
        let done = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    }
}
