//! Typed transport errors. Whose fault each is and what happens next is
//! decided by [`RemoteError::is_retryable`] and [`RemoteError::retry_after`].
//!
//! # Which answers are retried, and why
//!
//! PostgREST turns a PostgreSQL error into an HTTP status by SQLSTATE
//! (docs.postgrest.org, "Errors" reference; Supabase's "Error Codes" page
//! repeats the same table), and adds its own `PGRST...` codes:
//!
//! - **503**: `08*` (connection to Postgres lost), `53*` (insufficient
//!   resources, e.g. too many connections), `PGRST000`/`PGRST001` (cannot
//!   connect to the database), `PGRST002` (schema cache could not be built:
//!   "Could not query the database for the schema cache. Retrying."; it
//!   comes with `Retry-After`, PostgREST issue #4873 / PR #4880). Transient:
//!   **retried**, Retry-After honoured.
//! - **504** `PGRST003`: no pool connection in time. **Retried**.
//! - **500** `40*` (`40001` serialization failure, `40P01` deadlock: "transaction
//!   rollback"; retried whatever the status, as `ebb-gateway` or a later
//!   PostgREST may send them as 409), `57*` (admin shutdown, statement timeout `57014`), `58*`,
//!   `XX*`: the same request can succeed next time. **Retried.**
//! - **500** with a code that a retry cannot change, because the same request
//!   meets the same server code and data again: `P0*` other than `P0001`
//!   (PL/pgSQL `no_data_found`, `assert_failure` inside `ebb_push`/`ebb_pull`),
//!   `42*` (`42P17` infinite recursion in a row-level-security policy), `54*`
//!   (statement too complex), `2D*`, `38*`, `39*`, `3B*`, `09*`, `F0*`, `HV*`.
//!   **Permanent**: retrying them only burns the retry budget and the rate
//!   limit while hiding a server bug. A 5xx without a PostgREST body (a
//!   proxy's HTML 502, a load balancer's 503) is retried.
//! - **408**, **429**: retried, Retry-After honoured (Supabase's gateway
//!   answers 429 when a project exceeds its request rate).
//! - **400** (bad JSON `PGRST102`, `P0001` raised by our functions, data
//!   errors), **401** (bad or missing key, `PGRST301`), **403** (`42501`
//!   denied by grants or RLS for an authenticated role), **404** (`PGRST202`:
//!   `ebb_push`/`ebb_pull` not installed or not yet in the schema cache: run
//!   `ebb remote-sql`), **409** (`23505`/`23503` uniqueness or foreign-key
//!   violation raised for the whole request): permanent. They need a person
//!   (install, key, grants) or a different request; the sync loop stops
//!   asking instead of hammering the server.

use std::time::Duration;

/// An error from talking to the remote. Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The config cannot be used (no key, http to a non-loopback host).
    /// The user's to fix; nothing is retried.
    #[error("remote config: {0}")]
    Config(String),
    /// The server could not be reached or the connection broke mid-request.
    /// Retried with backoff; the queue is kept.
    #[error("cannot reach {endpoint}: {message}")]
    Network { endpoint: String, message: String },
    /// No complete answer within the configured timeout. Retried.
    #[error("{endpoint} did not answer within {after:?}")]
    Timeout { endpoint: String, after: Duration },
    /// The server answered with an HTTP error and (usually) PostgREST's
    /// `{code, message, details, hint}` body. Retried for 408, 429 and 5xx
    /// except the deterministic 5xx codes listed in the module doc
    /// (Retry-After honoured); permanent for other 4xx (auth, missing
    /// function, bad request, constraint violation). A body that is not
    /// PostgREST's JSON (a proxy's HTML page) leaves `code` empty and keeps
    /// its first 200 characters as `message`.
    #[error("{endpoint} answered HTTP {status}{}: {message}{}{}{}",
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        details.as_deref().map(|d| format!("; details: {d}")).unwrap_or_default(),
        hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default(),
        advice_for(*status, code.as_deref()).map(|a| format!(" [{a}]")).unwrap_or_default())]
    ///
    /// `code`, `details` and `hint` are boxed so that the whole error stays
    /// within clippy's `result_large_err` budget (128 bytes).
    Http {
        endpoint: String,
        status: u16,
        code: Option<Box<str>>,
        message: String,
        details: Option<Box<str>>,
        hint: Option<Box<str>>,
        retry_after: Option<Duration>,
    },
    /// A 2xx answer ebb cannot read (wrong shape, wrong count of results).
    /// A server/version mismatch: permanent until someone fixes it.
    #[error("{endpoint} sent an answer ebb cannot read: {message}")]
    Protocol { endpoint: String, message: String },
}

impl RemoteError {
    /// Whether the same request may succeed later (see the module doc).
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteError::Network { .. } | RemoteError::Timeout { .. } => true,
            RemoteError::Http { code, .. } if code.as_deref().is_some_and(is_rollback) => true,
            // PostgREST's own codes say more than the status: PGRST0xx (no
            // database connection, schema cache still loading) pass;
            // request (1xx), schema (2xx) and JWT (3xx) errors are the
            // request's or the server configuration's, and retrying the
            // same request cannot fix them (PGRST300: no JWT secret, 500).
            RemoteError::Http { code: Some(c), .. } if c.starts_with("PGRST") => {
                c.starts_with("PGRST0")
            }
            RemoteError::Http { status, code, .. } => match *status {
                408 | 429 => true,
                500..=599 => !code.as_deref().is_some_and(is_deterministic_sqlstate),
                _ => false,
            },
            RemoteError::Config(_) | RemoteError::Protocol { .. } => false,
        }
    }

    /// The server's Retry-After, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RemoteError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A server configuration error (PostgREST's schema cache or JWT
    /// setup, `PGRST2xx` / `PGRST3xx`): not the content's fault, nothing to
    /// retry; a person must configure the server or ebb.
    pub fn is_server_config(&self) -> bool {
        self.code()
            .is_some_and(|c| c.starts_with("PGRST2") || c.starts_with("PGRST3"))
    }

    /// The server does not have the RPC `function`: PostgREST's "not in
    /// the schema cache" (`PGRST202`), or PostgreSQL's undefined function
    /// (`42883`, as ebb-gateway passes it on), naming `function` itself:
    /// not another RPC, nor one its call reached (a function a read policy
    /// uses, say).
    pub fn is_missing_function(&self, function: &str) -> bool {
        match self {
            RemoteError::Http {
                code: Some(code),
                message,
                ..
            } => (&**code == "PGRST202" || &**code == "42883") && message.contains(function),
            _ => false,
        }
    }

    /// PostgREST's `code` (a SQLSTATE or `PGRSTxxx`), when the body had one.
    pub fn code(&self) -> Option<&str> {
        match self {
            RemoteError::Http { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// A short, fixed label for metrics and logs: `config`, `network`,
    /// `timeout`, `rate_limited`, `http_4xx`, `http_5xx`, `protocol`.
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteError::Config(_) => "config",
            RemoteError::Network { .. } => "network",
            RemoteError::Timeout { .. } => "timeout",
            RemoteError::Http { status: 429, .. } => "rate_limited",
            RemoteError::Http { status, .. } if *status >= 500 => "http_5xx",
            RemoteError::Http { .. } => "http_4xx",
            RemoteError::Protocol { .. } => "protocol",
        }
    }
}

/// SQLSTATE class 40, "transaction rollback" (`40001` serialization
/// failure, `40P01` deadlock): the server gave up this attempt because of a
/// concurrent one. Retryable whatever status carries it (PostgREST sends 500;
/// a gateway may send 409).
fn is_rollback(code: &str) -> bool {
    code.len() == 5 && code.starts_with("40")
}

/// What a user should do about a PostgREST error code (docs/operations.md
/// has the table).
/// What to do about an HTTP error: by PostgREST's code, or for a 404
/// without one (no PostgREST at that path), about `rest_root`.
fn advice_for(status: u16, code: Option<&str>) -> Option<&'static str> {
    match code {
        Some(code) => advice(code),
        None if status == 404 => Some(
            "no PostgREST answered at this path: is remote.rest_root the PostgREST root? \
             (Supabase: https://PROJECT.supabase.co/rest/v1; a self-hosted PostgREST or \
             a clone: the root it serves its API at)",
        ),
        None => None,
    }
}

fn advice(code: &str) -> Option<&'static str> {
    Some(match code {
        "PGRST000" | "PGRST001" => "PostgREST cannot reach its database; retried",
        "PGRST002" => "PostgREST's schema cache is still loading; retried",
        "PGRST003" => "PostgREST's connection pool is exhausted; retried",
        "PGRST202" => {
            "ebb_push/ebb_pull not found: run `ebb remote-sql` on the server, then reload PostgREST's schema cache"
        }
        "PGRST300" => {
            "the server has no JWT secret (PostgREST's jwt-secret): configure it, or send no access token"
        }
        "PGRST301" => {
            "the JWT was refused (malformed, wrong secret or audience): check remote.access_token_*"
        }
        "PGRST302" => {
            "anonymous access is off on the server: configure remote.api_key_* or remote.access_token_*"
        }
        "PGRST303" => {
            "the JWT's claims were refused (expired? wrong role?): renew remote.access_token_*"
        }
        c if c.starts_with("PGRST1") => {
            "PostgREST refused the request itself: an ebb/server version mismatch?"
        }
        c if c.starts_with("PGRST2") => {
            "PostgREST's schema cache does not match: run `ebb remote-sql` and reload the schema cache"
        }
        c if c.starts_with("PGRST3") => {
            "PostgREST's JWT setup refused the request: check the server's JWT config and remote.access_token_*"
        }
        _ => return None,
    })
}

/// SQLSTATE classes that PostgREST answers with 5xx but that a retry of the
/// same request cannot change. `PGRST` codes are never in this list.
fn is_deterministic_sqlstate(code: &str) -> bool {
    if code.starts_with("PGRST") || code.len() != 5 {
        return false;
    }
    // The body is the server's (or a proxy's): never index into it blindly.
    let Some(class) = code.get(..2) else {
        return false;
    };
    matches!(
        class,
        "P0" | "42" | "54" | "2D" | "38" | "39" | "3B" | "09" | "F0" | "HV"
    ) && code != "P0001"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_ascii_code_is_not_a_panic() {
        assert!(!is_deterministic_sqlstate("4é00"));
        assert!(!is_deterministic_sqlstate("é4200"));
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<RemoteError>() <= 128);
    }

    fn http(status: u16) -> RemoteError {
        http_code(status, None)
    }

    fn http_code(status: u16, code: Option<&str>) -> RemoteError {
        RemoteError::Http {
            endpoint: "x".into(),
            status,
            code: code.map(Into::into),
            message: "m".into(),
            details: None,
            hint: None,
            retry_after: None,
        }
    }

    #[test]
    fn only_the_function_itself_missing_is_a_missing_function() {
        let said = |code: &str, message: &str| RemoteError::Http {
            endpoint: "x".into(),
            status: 404,
            code: Some(code.into()),
            message: message.into(),
            details: None,
            hint: None,
            retry_after: None,
        };
        let f = "ebb_pull_all";
        let missing = "function public.ebb_pull_all(cursors => jsonb) does not exist";
        let gone =
            "Could not find the function public.ebb_pull_all(cursors, page) in the schema cache";
        assert!(said("PGRST202", gone).is_missing_function(f));
        // Another RPC missing is not this one.
        let other = "Could not find the function public.ebb_push(changes) in the schema cache";
        assert!(!said("PGRST202", other).is_missing_function(f));
        assert!(said("42883", missing).is_missing_function(f));
        // A function a read policy calls, missing: the call's, not ours.
        let policy = "function public.shop_of(uuid) does not exist";
        assert!(!said("42883", policy).is_missing_function(f));
        assert!(!said("42501", "permission denied").is_missing_function(f));
        assert!(!said("P0001", "row level security changed").is_missing_function(f));
    }

    #[test]
    fn postgrest_codes_decide_before_statuses() {
        for (status, code) in [(503, "PGRST002"), (503, "PGRST001"), (504, "PGRST003")] {
            assert!(http_code(status, Some(code)).is_retryable(), "{code}");
        }
        for (status, code) in [
            (500, "PGRST300"),
            (401, "PGRST301"),
            (404, "PGRST202"),
            (400, "PGRST100"),
        ] {
            let e = http_code(status, Some(code));
            assert!(!e.is_retryable(), "{code}");
            assert!(e.to_string().contains('['), "{code}: advice in {e}");
        }
        assert!(http_code(500, Some("PGRST300")).is_server_config());
        // A 404 that is not PostgREST's: the path is wrong.
        assert!(
            http(404)
                .to_string()
                .contains("is remote.rest_root the PostgREST root")
        );
        assert!(!http(500).to_string().contains('['));
        assert!(!http_code(500, Some("XX000")).is_server_config());
    }

    #[test]
    fn classifies_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(http(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409] {
            assert!(!http(s).is_retryable(), "{s}");
        }
    }

    #[test]
    fn classifies_postgrest_codes() {
        // Transient: connection, schema cache, pool, serialization, deadlock,
        // statement timeout, admin shutdown, too many connections.
        for (s, c) in [
            (503, "PGRST000"),
            (503, "PGRST001"),
            (503, "PGRST002"),
            (504, "PGRST003"),
            (500, "40001"),
            (500, "40P01"),
            (500, "57014"),
            (500, "57P01"),
            (503, "53300"),
            (503, "08006"),
            (500, "XX000"),
            (409, "40001"),
            (409, "40P01"),
        ] {
            assert!(http_code(s, Some(c)).is_retryable(), "{s} {c}");
        }
        // Deterministic: the same request fails the same way.
        for (s, c) in [
            (500, "P0004"),
            (500, "42P17"),
            (500, "54001"),
            (500, "2D000"),
            (400, "P0001"),
            (404, "PGRST202"),
            (401, "PGRST301"),
            (409, "23505"),
        ] {
            assert!(!http_code(s, Some(c)).is_retryable(), "{s} {c}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(http(429).kind(), "rate_limited");
        assert_eq!(http(503).kind(), "http_5xx");
        assert_eq!(http(404).kind(), "http_4xx");
        assert_eq!(RemoteError::Config("c".into()).kind(), "config");
    }

    #[test]
    fn display_includes_body_fields() {
        let e = RemoteError::Http {
            endpoint: "https://h/rest/v1/rpc/ebb_push".into(),
            status: 409,
            code: Some("23505".into()),
            message: "duplicate key".into(),
            details: Some("Key (id)=(1) already exists.".into()),
            hint: Some("h".into()),
            retry_after: None,
        };
        assert_eq!(
            e.to_string(),
            "https://h/rest/v1/rpc/ebb_push answered HTTP 409 (23505): duplicate key; \
             details: Key (id)=(1) already exists.; hint: h"
        );
    }
}
