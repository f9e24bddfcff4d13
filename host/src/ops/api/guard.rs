//! Who may call the local API and the console: the rules every request
//! under `/api` and `/` passes before a handler runs.
//!
//! - `Host` must name this listener when it is on loopback (`localhost`,
//!   `127.x.x.x` or `[::1]`, with its port): a web page cannot reach it
//!   through a DNS name that resolves to 127.0.0.1 (DNS rebinding).
//! - `Origin`, when a browser sends one, must be this listener itself
//!   (`http://` + the `Host`): another web page the till's browser opens
//!   cannot call it (CSRF), and no CORS header is ever sent.
//! - Changes (`POST`) need `Authorization: Bearer <token>`; off loopback
//!   every `/api` route does. Cookies are never looked at.
//!
//! Pure decisions ([`check`]) and the axum middleware that applies them.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{Api, Token};
use crate::config::units::is_loopback;

/// What the guard knows about the listener.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The listener's port.
    pub port: u16,
    /// Whether it is bound to a loopback address.
    pub loopback: bool,
    /// The token, when one is configured.
    pub token: Option<Token>,
}

/// Why a request is refused, before any handler ran.
pub fn check(
    rules: &Rules,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if rules.loopback && !loopback_host(host, rules.port) {
        return Err(ApiError::forbidden(
            "Host",
            format!(
                "this is ebb's local API; call it as http://127.0.0.1:{} or http://localhost:{} (Host {host:?} refused)",
                rules.port, rules.port
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let same = format!("http://{host}");
        if host.is_empty() || !origin.eq_ignore_ascii_case(&same) {
            return Err(ApiError::forbidden(
                "Origin",
                format!("requests from another web page are refused (Origin {origin:?})"),
            ));
        }
    }
    let changes = method != Method::GET && method != Method::HEAD;
    let api = path == "/api" || path.starts_with("/api/");
    if api && (changes || !rules.loopback) {
        bearer(rules, headers)?;
    }
    Ok(())
}

/// `Authorization: Bearer <token>` matches the configured token.
fn bearer(rules: &Rules, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &rules.token else {
        return Err(ApiError::forbidden(
            "Authorization",
            "changes through the API are off: no token is configured (give `ebb run` one in \
             EBB_API_TOKEN, or set ops.api_token_env or ops.api_token_file)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if token.matches(given) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("the token does not match")),
        None => Err(ApiError::unauthorized(
            "this call needs the API token: send `Authorization: Bearer <token>`",
        )),
    }
}

/// Whether `host` (a Host header) names a loopback address on `port`.
fn loopback_host(host: &str, port: u16) -> bool {
    let (name, given_port) = match host.rsplit_once(':') {
        Some((name, p)) if !name.ends_with(':') && p.chars().all(|c| c.is_ascii_digit()) => {
            (name, p.parse::<u16>().ok())
        }
        _ => (host, None),
    };
    if given_port.is_some_and(|p| p != port) || (given_port.is_none() && port != 80) {
        return false;
    }
    is_loopback(name.trim_start_matches('[').trim_end_matches(']'))
}

/// The middleware: runs [`check`], then the handler.
pub async fn guard(State(api): State<Api>, request: Request, next: Next) -> Response {
    let checked = check(
        &api.rules,
        request.method(),
        request.uri().path(),
        request.headers(),
    );
    match checked {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn rules(loopback: bool) -> Rules {
        Rules {
            port: 9464,
            loopback,
            token: Token::new("tok"),
        }
    }

    fn status(r: Result<(), ApiError>) -> u16 {
        r.map_or_else(|e| e.status().as_u16(), |()| 200)
    }

    #[test]
    fn host_and_origin_must_be_this_listener() {
        let r = rules(true);
        let get = |h: &[(&'static str, &str)]| {
            status(check(&r, &Method::GET, "/api/status", &headers(h)))
        };
        assert_eq!(get(&[("host", "127.0.0.1:9464")]), 200);
        assert_eq!(get(&[("host", "localhost:9464")]), 200);
        assert_eq!(get(&[("host", "[::1]:9464")]), 200);
        assert_eq!(get(&[("host", "evil.example:9464")]), 403);
        assert_eq!(get(&[("host", "127.0.0.1:8080")]), 403);
        assert_eq!(get(&[("host", "127.0.0.1")]), 403);
        assert_eq!(get(&[]), 403);
        let same = [
            ("host", "127.0.0.1:9464"),
            ("origin", "http://127.0.0.1:9464"),
        ];
        assert_eq!(get(&same), 200);
        for origin in [
            "http://evil.example",
            "null",
            "http://localhost:9464",
            "https://127.0.0.1:9464",
        ] {
            assert_eq!(
                get(&[("host", "127.0.0.1:9464"), ("origin", origin)]),
                403,
                "{origin}"
            );
        }
    }

    #[test]
    fn changes_need_the_token_and_off_loopback_everything_does() {
        let r = rules(true);
        let post =
            |h: &[(&'static str, &str)]| status(check(&r, &Method::POST, "/api/sync", &headers(h)));
        assert_eq!(post(&[("host", "127.0.0.1:9464")]), 401);
        assert_eq!(
            post(&[("host", "127.0.0.1:9464"), ("authorization", "Bearer nope")]),
            401
        );
        assert_eq!(
            post(&[("host", "127.0.0.1:9464"), ("authorization", "Bearer tok")]),
            200
        );
        assert_eq!(
            post(&[("host", "127.0.0.1:9464"), ("cookie", "token=tok")]),
            401
        );
        let none = Rules {
            token: None,
            ..rules(true)
        };
        let h = headers(&[("host", "127.0.0.1:9464"), ("authorization", "Bearer tok")]);
        assert_eq!(status(check(&none, &Method::POST, "/api/sync", &h)), 403);
        let open = rules(false);
        let far = headers(&[("host", "10.0.0.5:9464")]);
        assert_eq!(status(check(&open, &Method::GET, "/api/status", &far)), 401);
        assert_eq!(status(check(&open, &Method::GET, "/", &far)), 200);
        let far = headers(&[("host", "10.0.0.5:9464"), ("authorization", "Bearer tok")]);
        assert_eq!(status(check(&open, &Method::GET, "/api/status", &far)), 200);
    }
}
