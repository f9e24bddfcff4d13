//! `ebb-gateway`: a PostgREST-compatible server for the two ebb RPCs over a
//! Postgres pool, for on-premises shops without Supabase and for the tests.
//!
//! It serves `POST /rest/v1/rpc/{ebb_push|ebb_pull|ebb_pull_all|ebb_push_pull|...}` (Supabase's layout) and
//! `POST /rpc/...` (a self-hosted PostgREST root) with PostgREST's statuses,
//! error bodies and headers, so the PostgREST client cannot tell the two
//! apart; the contract suite in tests/tests/gateway holds it to that.
//!
//! Auth is a shared key: the `apikey` header must equal it (compared in
//! constant time). By default `Authorization: Bearer ...`, when sent, must
//! equal it too and every query runs as the role in `database_url`. With
//! [`GatewaySettings::role`] set, each RPC runs in its own transaction that
//! first switches to that role (`SET LOCAL ROLE`, as PostgREST does for its
//! authenticator), so the role's grants and row level security decide what
//! is read and written; `role.rs` checks the switch at startup.
//!
//! JWT mode ([`GatewaySettings::jwt`]) gives each client its own identity,
//! as PostgREST and Supabase do: the bearer is an HS256 token, its `role`
//! claim is the role the RPC switches to, and its claims are visible to SQL
//! as `current_setting('request.jwt.claims', true)`, so per-device row
//! level security applies. Requests without a token run as the
//! anonymous `role`, or are refused. `auth.rs` decides who a request is,
//! `jwt.rs` checks tokens, `rpc.rs` switches role and claims.
//!
//! The database connection uses no TLS: the gateway is meant to sit next to
//! its Postgres (loopback, a unix socket or a trusted LAN). Put a TLS proxy in
//! front of the gateway itself when clients reach it over a network.
//!
//! `GET /realtime/v1/websocket` (`realtime/`) serves Supabase Realtime's
//! channel protocol for ebb's change nudges, relayed from one `LISTEN
//! ebb_changes` connection; [`serve`] stops its sockets before shutting
//! down.
//!
//! It logs one line per request (method, path, status, milliseconds) and
//! never the key, the JWT secret, a token, the query string or row data.
//! It is its own crate so that a till's `ebb` carries no Postgres client
//! and no JWT code; `main.rs` is its command line, which calls [`serve`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

mod auth;
mod error;
mod jwt;
mod realtime;
mod role;
mod rpc;

use auth::Identity;
use error::ApiError;

/// How the gateway runs. Built by the CLI from its flags.
#[derive(Clone)]
pub struct GatewaySettings {
    /// libpq connection string or `postgres://` URL. May hold a password:
    /// never logged, never in an error.
    pub database_url: String,
    /// The key clients must send. Never logged.
    pub api_key: String,
    /// Connections kept to Postgres (default [`Self::DEFAULT_POOL_SIZE`]).
    pub pool_size: usize,
    /// `statement_timeout` of every connection (default
    /// [`Self::DEFAULT_STATEMENT_TIMEOUT`]); a call that runs longer is
    /// cancelled (SQLSTATE 57014, HTTP 500).
    pub statement_timeout: Duration,
    /// How long a request waits for a free connection before 504 PGRST003
    /// (default [`Self::DEFAULT_POOL_WAIT_TIMEOUT`]); also the connect
    /// timeout.
    pub pool_wait_timeout: Duration,
    /// Largest request body accepted (default [`Self::DEFAULT_MAX_BODY_BYTES`]);
    /// larger is 413.
    pub max_body_bytes: usize,
    /// The role every RPC runs as (`ebb-gateway --role`), like PostgREST's
    /// `SET LOCAL ROLE` from its authenticator: each call runs in a
    /// transaction that switches to it first, so its grants and row level
    /// security apply. The login role of `database_url` must be allowed to
    /// switch to it (`GRANT role TO login_role`); [`serve`] checks that at
    /// startup. `None` (the default) runs as the login role. In JWT mode
    /// it is the anonymous role: requests without a token, and tokens
    /// without a `role` claim, run as it (refused with 401 when `None`).
    pub role: Option<String>,
    /// JWT mode (`--jwt-secret-env`/`--jwt-secret-file`): `None` (the
    /// default) is the one shared key.
    pub jwt: Option<JwtSettings>,
}

/// JWT mode, as PostgREST's `jwt-secret` and `jwt-aud`: the bearer of each
/// request is an HS256 token signed with `secret`, whose `role` claim is
/// the role its RPC runs as and whose claims SQL reads as
/// `current_setting('request.jwt.claims', true)`. The `apikey` header must
/// still be the shared key.
#[derive(Clone)]
pub struct JwtSettings {
    /// The HS256 secret, at least 32 bytes. Never logged.
    pub secret: Vec<u8>,
    /// When set, a token with an `aud` claim must name it (as PostgREST's
    /// `jwt-aud`; a token without `aud` is accepted).
    pub audience: Option<String>,
}

impl fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"<redacted>")
            .field("audience", &self.audience)
            .finish()
    }
}

impl GatewaySettings {
    /// Default `pool_size` (`ebb-gateway --pool-size`): 10 connections.
    pub const DEFAULT_POOL_SIZE: usize = 10;
    /// Default `statement_timeout` (`--statement-timeout`): 30 s.
    pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default `pool_wait_timeout` (`--pool-wait-timeout`): 10 s.
    pub const DEFAULT_POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default `max_body_bytes` (`--max-body`): 64 MiB, far above a push of
    /// `sync.batch_size` rows of any sane width.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

    /// Settings with the documented defaults.
    pub fn new(database_url: impl Into<String>, api_key: impl Into<String>) -> GatewaySettings {
        GatewaySettings {
            database_url: database_url.into(),
            api_key: api_key.into(),
            pool_size: Self::DEFAULT_POOL_SIZE,
            statement_timeout: Self::DEFAULT_STATEMENT_TIMEOUT,
            pool_wait_timeout: Self::DEFAULT_POOL_WAIT_TIMEOUT,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            role: None,
            jwt: None,
        }
    }
}

impl fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("database_url", &"<redacted>")
            .field("api_key", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("statement_timeout", &self.statement_timeout)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("role", &self.role)
            .field("jwt", &self.jwt)
            .finish()
    }
}

/// Why the gateway could not start or stopped. A database that is down
/// is not one of these: requests answer 503 until it is back.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `database_url` is not a connection string. The user's to fix. The
    /// message is the parser's, which does not echo the URL.
    #[error("gateway: invalid database URL: {0}")]
    DatabaseUrl(String),
    /// A setting cannot be used (empty key, zero pool size). The user's to fix.
    #[error("gateway: {0}")]
    Settings(String),
    /// The role of [`GatewaySettings::role`] does not exist or the login
    /// role may not switch to it. The user's to fix (create it, or
    /// `GRANT role TO login_role`).
    #[error("gateway: role: {0}")]
    Role(String),
    /// The connection pool could not be built. A bug or a broken runtime.
    #[error("gateway: cannot build the connection pool: {0}")]
    Pool(String),
    /// Serving failed (the listener broke). The process should exit.
    #[error("gateway: serving failed: {0}")]
    Serve(#[from] std::io::Error),
}

struct Shared {
    pool: Pool,
    key_digest: [u8; 32],
    role: Option<String>,
    jwt: Option<jwt::Verifier>,
    realtime: realtime::Hub,
}

/// Serves until `shutdown` completes, then finishes in-flight requests and
/// returns. The caller binds `listener` (e.g. `127.0.0.1:0` in tests).
/// With [`GatewaySettings::role`] set it first checks that the role exists
/// and the login role may switch to it ([`GatewayError::Role`] otherwise;
/// a database that cannot be reached yet only skips the check).
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: GatewaySettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    let (shared, stop) = shared(&settings)?;
    if let Some(role) = &shared.role {
        role::check(&shared.pool, role).await?;
    }
    tokio::spawn(realtime::listen(
        database_config(&settings)?,
        shared.realtime.notices.clone(),
        shared.realtime.listening.clone(),
        shared.realtime.stop(),
    ));
    let app = router(shared, &settings);
    // Websockets stay open until told to close: tell them first, or the
    // graceful shutdown would wait for them forever.
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(GatewayError::Serve)
}

fn shared(
    settings: &GatewaySettings,
) -> Result<(Arc<Shared>, tokio::sync::watch::Sender<bool>), GatewayError> {
    if settings.api_key.is_empty() {
        return Err(GatewayError::Settings("the API key is empty".into()));
    }
    if settings.pool_size == 0 {
        return Err(GatewayError::Settings(
            "pool_size must be at least 1".into(),
        ));
    }
    if settings.role.as_deref() == Some("") {
        return Err(GatewayError::Settings("the role name is empty".into()));
    }
    if let Some(jwt) = &settings.jwt {
        if jwt.secret.len() < jwt::MIN_SECRET_BYTES {
            return Err(GatewayError::Settings(format!(
                "the JWT secret must be at least {} bytes long",
                jwt::MIN_SECRET_BYTES
            )));
        }
        if jwt.audience.as_deref() == Some("") {
            return Err(GatewayError::Settings("the JWT audience is empty".into()));
        }
    }
    let (hub, stop) = realtime::Hub::new();
    let shared = Arc::new(Shared {
        pool: pool(settings)?,
        key_digest: Sha256::digest(settings.api_key.as_bytes()).into(),
        role: settings.role.clone(),
        jwt: settings
            .jwt
            .as_ref()
            .map(|j| jwt::Verifier::new(&j.secret, j.audience.as_deref())),
        realtime: hub,
    });
    Ok((shared, stop))
}

fn router(shared: Arc<Shared>, settings: &GatewaySettings) -> Router {
    Router::new()
        .route("/rest/v1/rpc/{function}", any(rpc_handler))
        .route("/rpc/{function}", any(rpc_handler))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "PGRST125",
                "Invalid path specified in request URL",
            )
        })
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(middleware::from_fn_with_state(shared.clone(), auth::auth))
        // Added after the header check: a websocket sends its key as the
        // `apikey` query parameter, which `realtime` checks itself.
        .route("/realtime/v1/websocket", get(realtime::websocket))
        .layer(middleware::from_fn(log))
        .with_state(shared)
}

/// `database_url` parsed, as the pool and the LISTEN connection use it.
fn database_config(settings: &GatewaySettings) -> Result<tokio_postgres::Config, GatewayError> {
    let mut config: tokio_postgres::Config = settings
        .database_url
        .parse()
        .map_err(|e: tokio_postgres::Error| GatewayError::DatabaseUrl(e.to_string()))?;
    if config.get_application_name().is_none() {
        config.application_name("ebb-gateway");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.pool_wait_timeout);
    }
    Ok(config)
}

fn pool(settings: &GatewaySettings) -> Result<Pool, GatewayError> {
    let mut config = database_config(settings)?;
    let timeout_ms = settings.statement_timeout.as_millis();
    let options = match config.get_options() {
        Some(existing) => format!("{existing} -c statement_timeout={timeout_ms}"),
        None => format!("-c statement_timeout={timeout_ms}"),
    };
    config.options(&options);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .wait_timeout(Some(settings.pool_wait_timeout))
        .create_timeout(Some(settings.pool_wait_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| GatewayError::Pool(e.to_string()))
}

async fn rpc_handler(
    State(shared): State<Arc<Shared>>,
    Extension(identity): Extension<Identity>,
    Path(function): Path<String>,
    method: Method,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if method != Method::POST {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "PGRST101",
            "Only POST is allowed for these functions",
        )
        .into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PGRST413",
                "Request body is larger than the gateway accepts",
            )
            .hint("Send smaller batches (sync.batch_size).")
            .into_response();
        }
        Err(_) => return ApiError::invalid_body().into_response(),
    };
    match rpc::call(&shared.pool, &identity, &function, &body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// One line per request: method, path (no query string: it may hold a
/// key), status and milliseconds.
async fn log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "ebb_gateway",
        %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
