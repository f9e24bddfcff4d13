//! Typed transport errors. Whose fault each is and what happens next is
//! decided by [`RemoteError::is_retryable`] and [`RemoteError::retry_after`].

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
    /// `{code, message, details, hint}` body. Retried for 408, 429, 5xx
    /// (Retry-After honoured); permanent for other 4xx (auth, missing
    /// function, bad request, constraint violation).
    #[error("{endpoint} answered HTTP {status}{}: {message}{}{}",
        code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        details.as_deref().map(|d| format!("; details: {d}")).unwrap_or_default(),
        hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default())]
    Http {
        endpoint: String,
        status: u16,
        code: Option<String>,
        message: String,
        details: Option<String>,
        hint: Option<String>,
        retry_after: Option<Duration>,
    },
    /// A 2xx answer ebb cannot read (wrong shape, wrong count of results).
    /// A server/version mismatch: permanent until someone fixes it.
    #[error("{endpoint} sent an answer ebb cannot read: {message}")]
    Protocol { endpoint: String, message: String },
}

impl RemoteError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteError::Network { .. } | RemoteError::Timeout { .. } => true,
            RemoteError::Http { status, .. } => {
                *status == 408 || *status == 429 || (500..=599).contains(status)
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> RemoteError {
        RemoteError::Http {
            endpoint: "x".into(),
            status,
            code: None,
            message: "m".into(),
            details: None,
            hint: None,
            retry_after: None,
        }
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
}
