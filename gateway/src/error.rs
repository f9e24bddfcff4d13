//! HTTP errors as PostgREST writes them: a status from PostgREST's SQLSTATE
//! table and a `{"code","message","details","hint"}` body (null when absent),
//! so the PostgREST client cannot tell the gateway from the real thing.
//!
//! Owns the SQLSTATE -> status mapping and the gateway's own `PGRST` errors.
//! Messages never carry the API key; database errors carry what PostgreSQL
//! said, as PostgREST forwards it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deadpool_postgres::{PoolError, TimeoutType};
use serde_json::json;

/// Seconds a client is told to wait (Retry-After) when the database cannot
/// be reached or the pool is exhausted.
const RETRY_AFTER_SECS: u64 = 1;

/// One error answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) details: Option<String>,
    pub(crate) hint: Option<String>,
    /// Sends `Retry-After` (the failure is transient).
    pub(crate) retry_after: bool,
    /// The `WWW-Authenticate` header of a 401.
    pub(crate) challenge: Option<Challenge>,
}

/// The `WWW-Authenticate` header PostgREST sends with a 401.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Challenge {
    /// `Bearer`: credentials are missing or not accepted.
    Bearer,
    /// `Bearer error="invalid_token", error_description="<message>"`: the
    /// token was refused; the description is the error's message.
    InvalidToken,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            hint: None,
            retry_after: false,
            challenge: None,
        }
    }

    pub(crate) fn details(mut self, details: impl Into<String>) -> ApiError {
        self.details = Some(details.into());
        self
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    /// 401: no key, or a key that is not the gateway's.
    pub(crate) fn unauthorized(message: &str, hint: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "PGRST301", message).hint(hint);
        e.challenge = Some(Challenge::Bearer);
        e
    }

    /// 401 for a JWT that was refused, as PostgREST answers it: `PGRST301`
    /// when it cannot be decoded or its signature is wrong, `PGRST303` when
    /// a claim is refused (expired, not yet valid, another audience). The
    /// message is one of the gateway's fixed texts: never the token.
    pub(crate) fn invalid_token(code: &str, message: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, code, message);
        e.challenge = Some(Challenge::InvalidToken);
        e
    }

    /// 401 PGRST302: no token, and no anonymous role to run as.
    pub(crate) fn anonymous_disabled() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "PGRST302",
            "Anonymous access is disabled",
        );
        e.challenge = Some(Challenge::Bearer);
        e
    }

    /// PostgREST's answer to a database error of an anonymous request: a
    /// refused privilege (42501) is a 401 asking for a token, not a 403.
    pub(crate) fn when_anonymous(mut self) -> ApiError {
        if self.code == "42501" {
            self.status = StatusCode::UNAUTHORIZED;
            self.challenge = Some(Challenge::Bearer);
        }
        self
    }

    /// 400 PGRST102: the body is not a JSON object.
    pub(crate) fn invalid_body() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json")
    }

    /// An error PostgreSQL raised, with PostgREST's status for its SQLSTATE.
    /// A role that does not exist (a JWT's `role` claim naming no role)
    /// is 401, as in PostgREST.
    pub(crate) fn from_db(db: &tokio_postgres::error::DbError) -> ApiError {
        let code = db.code().code();
        let message = db.message();
        let missing_role =
            code == "22023" && message.starts_with("role ") && message.ends_with("does not exist");
        ApiError {
            status: if missing_role {
                StatusCode::UNAUTHORIZED
            } else {
                status_for_sqlstate(code)
            },
            code: code.to_string(),
            message: message.to_string(),
            details: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
            retry_after: false,
            challenge: missing_role.then_some(Challenge::Bearer),
        }
    }

    /// A failed query: a database error, or a connection that broke.
    pub(crate) fn from_query(e: &tokio_postgres::Error) -> ApiError {
        match e.as_db_error() {
            Some(db) => ApiError::from_db(db),
            None => ApiError::unavailable(
                "PGRST001",
                "Database client error. Retrying the connection.",
                e,
            ),
        }
    }

    /// No connection from the pool: every slot busy past the wait timeout
    /// (504, as PostgREST), or the database unreachable or refusing
    /// connections (503). Both transient, both with Retry-After.
    pub(crate) fn from_pool(e: &PoolError) -> ApiError {
        match e {
            PoolError::Timeout(TimeoutType::Wait) => {
                let mut err = ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "PGRST003",
                    "Timed out acquiring connection from connection pool.",
                );
                err.retry_after = true;
                err
            }
            other => ApiError::unavailable(
                "PGRST000",
                "Database connection error. Retrying the connection.",
                other,
            ),
        }
    }

    fn unavailable(code: &str, message: &str, cause: &dyn std::fmt::Display) -> ApiError {
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            .details(cause.to_string());
        err.retry_after = true;
        err
    }
}

/// PostgREST's table (docs: references/errors, "HTTP Status Codes").
/// `PTxyz` raises HTTP xyz, as in PostgREST.
pub(crate) fn status_for_sqlstate(code: &str) -> StatusCode {
    if let Some(custom) = code.strip_prefix("PT")
        && let Ok(n) = custom.parse::<u16>()
        && let Ok(status) = StatusCode::from_u16(n)
    {
        return status;
    }
    let status = match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "53400" => 500,
        "P0001" => 400,
        "42883" | "42P01" => 404,
        "42P17" => 500,
        // Insufficient privilege: the request carried the key, so it is
        // authenticated; PostgREST answers 403 then.
        "42501" => 403,
        _ => match code.get(..2).unwrap_or("") {
            "08" | "53" => 503,
            "0L" | "0P" | "28" => 403,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "P0" | "XX" => 500,
            _ => 400,
        },
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        let challenge = match self.challenge {
            None => None,
            Some(Challenge::Bearer) => Some("Bearer".to_string()),
            Some(Challenge::InvalidToken) => {
                // A quoted-string: the gateway's messages hold no quotes,
                // but one never breaks the header.
                let description: String = self
                    .message
                    .chars()
                    .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                    .collect();
                Some(format!(
                    "Bearer error=\"invalid_token\", error_description=\"{description}\""
                ))
            }
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_as_postgrest_does() {
        let cases = [
            ("23503", 409),
            ("23505", 409),
            ("23502", 400),
            ("23514", 400),
            ("22P02", 400),
            ("42501", 403),
            ("42883", 404),
            ("42P01", 404),
            ("57014", 500),
            ("40001", 500),
            ("40P01", 500),
            ("53300", 503),
            ("53400", 500),
            ("08006", 503),
            ("28P01", 403),
            ("25006", 405),
            ("P0001", 400),
            ("P0002", 500),
            ("XX000", 500),
            ("PT402", 402),
            ("PTxyz", 400),
        ];
        for (code, status) in cases {
            assert_eq!(status_for_sqlstate(code).as_u16(), status, "{code}");
        }
    }

    #[tokio::test]
    async fn body_has_all_four_fields_and_headers() {
        let response = ApiError::unauthorized("Invalid API key", "check it").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            v,
            json!({"code": "PGRST301", "details": null, "hint": "check it", "message": "Invalid API key"})
        );
    }

    #[tokio::test]
    async fn token_refusals_and_anonymous_denials_carry_postgrest_s_challenges() {
        let response = ApiError::invalid_token("PGRST303", "JWT expired").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"JWT expired\""
        );
        let denied = ApiError::new(StatusCode::FORBIDDEN, "42501", "permission denied");
        assert_eq!(
            denied.clone().when_anonymous().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(denied.when_anonymous().challenge, Some(Challenge::Bearer));
        let other = ApiError::new(StatusCode::BAD_REQUEST, "22P02", "bad").when_anonymous();
        assert_eq!(
            (other.status, other.challenge),
            (StatusCode::BAD_REQUEST, None)
        );
    }
}
