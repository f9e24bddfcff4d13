//! The production [`Remote`]: `ebb_push` and `ebb_pull` called as PostgREST
//! RPCs over reqwest (Supabase's `/rest/v1`, a self-hosted PostgREST, or
//! `ebb-gateway`).
//!
//! Owns the HTTP exchange only: URLs, headers, the key and bearer token
//! (`key.rs`, `token.rs`), the rate limiter,
//! and mapping answers to [`RemoteError`]. It does not retry or back off
//! (`sync` decides that from [`RemoteError::is_retryable`]), and it never
//! logs or returns the key, request bodies or row data.
//!
//! Built once by the CLI / sync driver with [`Client::new`].

mod key;
mod response;
#[cfg(test)]
mod tests;
pub(crate) mod token;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use key::ApiKey;
use token::Bearer;
use wire::{
    AskCursor, DescribeBody, DeviceBody, PullAllAnswer, PullAllBody, PullBody, PushAnswer,
    PushBody, PushPullAnswer, PushPullBody,
};
pub use wire::{ServerColumn, ServerNudges};

use crate::config::{RateLimitConfig, RemoteConfig};
use crate::model::{Change, Cursor, PullPage, PushResult};
use crate::remote::ratelimit::RateLimiter;
use crate::remote::{PushedAndPulled, Remote, RemoteError};

/// A PostgREST endpoint serving `ebb_push` and `ebb_pull`.
pub struct Client {
    http: reqwest::Client,
    /// None when anonymous or when an optional key is not set.
    key: Option<ApiKey>,
    bearer: Bearer,
    limiter: Arc<RateLimiter>,
    push_url: String,
    pull_url: String,
    pull_all_url: String,
    push_pull_url: String,
    device_url: String,
    describe_url: String,
    nudges_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    /// `rate_limit.max_retry_after`: the cap on a server's Retry-After.
    max_retry_after: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("push_url", &self.push_url)
            .field("pull_url", &self.pull_url)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Read the key, check the REST root (https, or http to loopback only)
    /// and build the HTTP client (rustls, `timeout`, `connect_timeout`,
    /// `User-Agent: ebb/VERSION`, no redirects: a redirect would carry the
    /// `apikey` header to another host). `rate` paces every request and caps
    /// how long a server's Retry-After may hold them back.
    pub fn new(remote: &RemoteConfig, rate: &RateLimitConfig) -> Result<Client, RemoteError> {
        let root = key::parse_rest_root(&remote.rest_root)?;
        let key = ApiKey::configured(remote)?;
        let bearer = Bearer::new(key.as_ref(), remote.access_token.as_ref())?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(remote.timeout)
            .connect_timeout(remote.connect_timeout)
            .user_agent(concat!("ebb/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RemoteError::Config(format!("cannot build the HTTP client: {e}")))?;
        let root = root.as_str().trim_end_matches('/');
        Ok(Client {
            http,
            key,
            bearer,
            limiter: Arc::new(RateLimiter::new(
                rate.requests_per_second,
                rate.burst,
                rate.rows_per_second,
            )),
            push_url: format!("{root}/rpc/ebb_push"),
            pull_url: format!("{root}/rpc/ebb_pull"),
            pull_all_url: format!("{root}/rpc/ebb_pull_all"),
            push_pull_url: format!("{root}/rpc/ebb_push_pull"),
            device_url: format!("{root}/rpc/ebb_device_number"),
            describe_url: format!("{root}/rpc/ebb_describe"),
            nudges_url: format!("{root}/rpc/ebb_nudges"),
            timeout: remote.timeout,
            connect_timeout: remote.connect_timeout,
            max_retry_after: rate.max_retry_after,
        })
    }

    /// The server's columns of a synced table (`ebb_describe`), for `ebb
    /// check` to compare types. Not part of [`Remote`]: sync never needs it.
    pub async fn describe(&self, table: &str) -> Result<Vec<ServerColumn>, RemoteError> {
        self.call(&self.describe_url, &DescribeBody { tbl: table })
            .await
    }

    /// The server's nudge triggers (`ebb_nudges`), for `ebb check`. Not
    /// part of [`Remote`]: sync never needs it.
    pub async fn nudges(&self) -> Result<ServerNudges, RemoteError> {
        self.call(&self.nudges_url, &serde_json::json!({})).await
    }

    /// The limiter every request of this client waits on (shared, so a CLI
    /// that builds several clients can pace them together).
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// A push's results, one per change sent.
    fn results_of(
        &self,
        url: &str,
        results: Vec<PushResult>,
        sent: usize,
    ) -> Result<Vec<PushResult>, RemoteError> {
        if results.len() != sent {
            return Err(RemoteError::Protocol {
                endpoint: url.to_owned(),
                message: format!("{} results for {sent} changes", results.len()),
            });
        }
        Ok(results)
    }

    /// Every table's page of a combined answer, in the order asked.
    fn pages_of(
        &self,
        url: &str,
        mut answer: PullAllAnswer,
        tables: &[(String, Cursor)],
        page: usize,
    ) -> Result<Vec<PullPage>, RemoteError> {
        let mut pages = Vec::with_capacity(tables.len());
        for (table, _) in tables {
            let page_of = answer.remove(table).ok_or_else(|| RemoteError::Protocol {
                endpoint: url.to_owned(),
                message: format!("no page for table {table:?}"),
            })?;
            pages.push(response::readable(url, page_of, page)?);
        }
        Ok(pages)
    }

    /// One RPC: take a token, POST the JSON body, map the answer.
    async fn call<T: DeserializeOwned>(
        &self,
        url: &str,
        body: &impl Serialize,
    ) -> Result<T, RemoteError> {
        self.call_sized(url, body).await.map(|(answer, _)| answer)
    }

    /// [`Self::call`], with the size of the answer's body in bytes.
    async fn call_sized<T: DeserializeOwned>(
        &self,
        url: &str,
        body: &impl Serialize,
    ) -> Result<(T, usize), RemoteError> {
        let body = serde_json::to_vec(body).map_err(|e| RemoteError::Protocol {
            endpoint: url.to_owned(),
            message: format!("cannot encode the request: {e}"),
        })?;
        self.limiter.acquire().await;
        let started = Instant::now();
        let json = HeaderValue::from_static("application/json");
        let bearer = self.bearer.header();
        let mut request = self.http.post(url);
        if let Some(key) = &self.key {
            request = request.header("apikey", key.apikey().clone());
        }
        if let Some(bearer) = &bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let answer = request
            .header(CONTENT_TYPE, json.clone())
            .header(ACCEPT, json)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(url, e, &bearer))?;
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| self.transport_error(url, e, &bearer))?;
        tracing::debug!(
            endpoint = url,
            status = status.as_u16(),
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "remote call"
        );
        if !status.is_success() {
            let err = response::http_error(
                url,
                status,
                retry_after.as_deref(),
                &bytes,
                SystemTime::now(),
                self.max_retry_after,
            );
            if let Some(wait) = err.retry_after() {
                self.limiter.penalize(wait);
            }
            return Err(self.scrub(err, &bearer));
        }
        serde_json::from_slice(&bytes)
            .map(|answer| (answer, bytes.len()))
            .map_err(|e| self.scrub(response::unexpected_answer(url, &bytes, &e), &bearer))
    }

    fn transport_error(
        &self,
        url: &str,
        e: reqwest::Error,
        sent: &Option<HeaderValue>,
    ) -> RemoteError {
        self.scrub(
            response::transport_error(url, e, self.timeout, self.connect_timeout),
            sent,
        )
    }

    /// Remove the key and the token from text the server sent back, in
    /// case a proxy echoes request headers into its error page: the token
    /// `sent` with this request and the current one (a token file may have
    /// been rotated meanwhile).
    fn scrub(&self, err: RemoteError, sent: &Option<HeaderValue>) -> RemoteError {
        let sent = sent
            .as_ref()
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .trim_start_matches("Bearer ")
            .to_string();
        let key = self.key.as_ref().map(ApiKey::text).unwrap_or_default();
        let secrets = [key, self.bearer.token(), sent];
        let clean = |mut s: String| {
            for secret in secrets.iter().filter(|t| !t.is_empty()) {
                if s.contains(secret.as_str()) {
                    s = s.replace(secret.as_str(), "[redacted]");
                }
            }
            s
        };
        let clean_box = |s: Box<str>| clean(s.into()).into_boxed_str();
        match err {
            RemoteError::Http {
                endpoint,
                status,
                code,
                message,
                details,
                hint,
                retry_after,
            } => RemoteError::Http {
                endpoint,
                status,
                code: code.map(clean_box),
                message: clean(message),
                details: details.map(clean_box),
                hint: hint.map(clean_box),
                retry_after,
            },
            RemoteError::Network { endpoint, message } => RemoteError::Network {
                endpoint,
                message: clean(message),
            },
            RemoteError::Protocol { endpoint, message } => RemoteError::Protocol {
                endpoint,
                message: clean(message),
            },
            other => other,
        }
    }
}

impl Remote for Client {
    async fn push(&self, changes: &[Change]) -> Result<Vec<PushResult>, RemoteError> {
        let answer: PushAnswer = self.call(&self.push_url, &PushBody { changes }).await?;
        self.limiter.charge(changes.len());
        self.results_of(&self.push_url, answer.results, changes.len())
    }

    async fn pull(
        &self,
        table: &str,
        cursor: &Cursor,
        page: usize,
    ) -> Result<PullPage, RemoteError> {
        let body = PullBody {
            tbl: table,
            cursor: AskCursor::new(cursor),
            page,
        };
        let (mut answer, bytes): (PullPage, usize) = self.call_sized(&self.pull_url, &body).await?;
        answer.bytes = bytes;
        self.limiter.charge(answer.rows.len());
        response::readable(&self.pull_url, answer, page)
    }

    async fn pull_all(
        &self,
        tables: &[(String, Cursor)],
        page: usize,
    ) -> Result<Vec<PullPage>, RemoteError> {
        let body = PullAllBody {
            cursors: AskCursor::all(tables),
            page,
        };
        let answer: PullAllAnswer = self.call(&self.pull_all_url, &body).await?;
        self.limiter
            .charge(answer.values().map(|p| p.rows.len()).sum());
        self.pages_of(&self.pull_all_url, answer, tables, page)
    }

    async fn push_pull(
        &self,
        changes: &[Change],
        tables: &[(String, Cursor)],
        page: usize,
    ) -> Result<PushedAndPulled, RemoteError> {
        let body = PushPullBody {
            changes,
            cursors: AskCursor::all(tables),
            page,
        };
        let answer: PushPullAnswer = self.call(&self.push_pull_url, &body).await?;
        let pulled: usize = answer
            .pages
            .iter()
            .flatten()
            .map(|(_, p)| p.rows.len())
            .sum();
        self.limiter.charge(changes.len() + pulled);
        let results = self.results_of(&self.push_pull_url, answer.results, changes.len())?;
        // The push stands whatever is wrong with the pages: they are then
        // not used, and the till pulls as it would have.
        let (pages, pull_error) = match answer.pages {
            Some(pages) => match self.pages_of(&self.push_pull_url, pages, tables, page) {
                Ok(pages) => (Some(pages), None),
                Err(e) => (None, Some(e.to_string())),
            },
            None => (None, answer.pull_error),
        };
        Ok(PushedAndPulled {
            results,
            pages,
            pull_error,
        })
    }

    async fn device_number(&self, device: &str) -> Result<i64, RemoteError> {
        let n: i64 = self.call(&self.device_url, &DeviceBody { device }).await?;
        if n < 1 {
            return Err(RemoteError::Protocol {
                endpoint: self.device_url.clone(),
                message: format!("device number {n} is not positive"),
            });
        }
        Ok(n)
    }
}
