//! The local API's error answers: a status and a JSON body saying what is
//! wrong and where (`{"error": "...", "where": "body.row.price_cents",
//! "violations": [...]}`). Every refusal goes through here; a refused
//! request changed nothing. Messages name tables, keys and columns, never
//! the token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::local::LocalError;
use crate::ops::settle::{Broken, Refused};

/// A refusal or a failure, as the API answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Body {
    error: String,
    /// Where the fault is: a header, `path.id`, `query.state`, `body` or
    /// `body.row.COLUMN`.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    violations: Vec<Broken>,
}

impl ApiError {
    pub fn new(status: StatusCode, at: Option<&str>, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Body {
                error: error.into(),
                at: at.map(str::to_string),
                violations: Vec::new(),
            },
        }
    }

    /// 400: the request is malformed at `at`.
    pub fn bad(at: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Some(at), error)
    }

    /// 401: the token is missing or wrong.
    pub fn unauthorized(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, Some("Authorization"), error)
    }

    /// 403: refused whoever asks this way (foreign Origin/Host, no token
    /// configured).
    pub fn forbidden(at: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, Some(at), error)
    }

    /// 404: nothing has that id.
    pub fn not_found(at: &str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, Some(at), error)
    }

    /// 409: the thing is not in a state that allows this.
    pub fn conflict(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, None, error)
    }

    /// 500/503: the database failed (busy past the timeout, disk): not the
    /// request's fault; it may be tried again.
    pub fn local(e: &LocalError) -> ApiError {
        let status = match e {
            LocalError::Sqlite { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, None, e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> ApiError {
        match r {
            Refused::NotFound { .. } => ApiError::not_found("path.id", r.to_string()),
            Refused::Settled { .. } | Refused::Stale(_) => ApiError::conflict(r.to_string()),
            Refused::NotARow { ref field, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&format!("body.row.{field}")),
                r.to_string(),
            ),
            Refused::Invalid {
                violations,
                summary,
            } => {
                let at = match violations.as_slice() {
                    [one] if !one.field.is_empty() => format!("body.row.{}", one.field),
                    _ => "body.row".to_string(),
                };
                let mut e = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(&at),
                    format!("the row fails validation: {summary}"),
                );
                e.body.violations = violations;
                e
            }
            Refused::Local(e) => ApiError::local(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
