//! The API key and the REST root: reading the key from where the config
//! says (environment variable or file), keeping it out of every Debug and
//! Display, and refusing plain http to anything but loopback.
//!
//! Called once by `Client::new`. Errors name the variable or file, never
//! the value.

use std::fmt;

use reqwest::Url;
use reqwest::header::HeaderValue;

use crate::config::{KeySource, RemoteConfig, units};
use crate::remote::RemoteError;

/// The API key, ready to send. Its Debug and Display print `[redacted]`.
#[derive(Clone)]
pub struct ApiKey {
    apikey: HeaderValue,
    bearer: HeaderValue,
}

impl ApiKey {
    /// The key `remote` configures: none when anonymous, or when it is
    /// optional (an access token is configured and no key source named)
    /// and its variable is not set. A required key that is missing is a
    /// [`RemoteError::Config`] saying every way to give one.
    pub fn configured(remote: &RemoteConfig) -> Result<Option<ApiKey>, RemoteError> {
        let Some(source) = &remote.api_key else {
            return Ok(None);
        };
        if let KeySource::Env(var) = source
            && std::env::var_os(var).is_none()
        {
            if !remote.api_key_required {
                return Ok(None);
            }
            return Err(RemoteError::Config(format!(
                "API key: environment variable {var} is not set. Set it (on Supabase, the \
                 project's anon key), or name another source with remote.api_key_env or \
                 api_key_file, or configure remote.access_token_env/access_token_file for a \
                 PostgREST that checks JWTs only, or set remote.anonymous = true for one that \
                 serves anonymous requests"
            )));
        }
        ApiKey::read(source).map(Some)
    }

    /// Read the key from `source`, trimmed. Missing, empty or not sendable
    /// as a header is a [`RemoteError::Config`] naming the source.
    pub fn read(source: &KeySource) -> Result<ApiKey, RemoteError> {
        let key = read_secret(source, "API key")?;
        Ok(ApiKey {
            apikey: header(&key, "", source, "API key")?,
            bearer: header(&key, "Bearer ", source, "API key")?,
        })
    }

    /// The `apikey` header value.
    pub fn apikey(&self) -> &HeaderValue {
        &self.apikey
    }

    /// The `Authorization` header value (`Bearer KEY`).
    pub fn bearer(&self) -> &HeaderValue {
        &self.bearer
    }

    /// The key as text, to scrub from what a server sends back.
    pub(super) fn text(&self) -> String {
        self.apikey.to_str().unwrap_or_default().to_string()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The secret at `source`, trimmed; `what` ("API key", "access token")
/// names it in errors, which name the variable or file, never the value.
pub(super) fn read_secret(source: &KeySource, what: &str) -> Result<String, RemoteError> {
    let origin = describe(source);
    let raw = match source {
        KeySource::Env(var) => match std::env::var(var) {
            Ok(v) => v,
            Err(std::env::VarError::NotPresent) => {
                return Err(RemoteError::Config(format!("{what}: {origin} is not set")));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(RemoteError::Config(format!(
                    "{what}: {origin} is not valid UTF-8"
                )));
            }
        },
        // io::Error's Display names the cause (not found, permission
        // denied, invalid UTF-8), never the content.
        KeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| RemoteError::Config(format!("{what}: cannot read {origin}: {e}")))?,
    };
    let secret = raw.trim();
    if secret.is_empty() {
        return Err(RemoteError::Config(format!("{what}: {origin} is empty")));
    }
    Ok(secret.to_string())
}

/// `prefix` + `secret` as a sensitive header value (http's Debug prints
/// "Sensitive").
pub(super) fn header(
    secret: &str,
    prefix: &str,
    source: &KeySource,
    what: &str,
) -> Result<HeaderValue, RemoteError> {
    let mut value = HeaderValue::from_str(&format!("{prefix}{secret}")).map_err(|_| {
        RemoteError::Config(format!(
            "{what} from {} has characters that cannot be sent in an HTTP header",
            describe(source)
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn describe(source: &KeySource) -> String {
    match source {
        KeySource::Env(var) => format!("environment variable {var}"),
        KeySource::File(path) => format!("file {}", path.display()),
    }
}

/// Parse `remote.rest_root`: https anywhere, http only to loopback
/// (127.0.0.0/8, ::1, localhost), no query or fragment. Trailing slashes
/// are dropped so `{root}/rpc/NAME` has one slash.
pub fn parse_rest_root(root: &str) -> Result<Url, RemoteError> {
    let trimmed = root.trim().trim_end_matches('/');
    let url = Url::parse(trimmed)
        .map_err(|e| RemoteError::Config(format!("remote.rest_root: not a URL ({e})")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(RemoteError::Config(
            "remote.rest_root: must not have a query or fragment".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RemoteError::Config(
            "remote.rest_root: must not carry credentials; the key is read from \
             remote.api_key_env or remote.api_key_file"
                .into(),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(RemoteError::Config(format!(
            "remote.rest_root: plain http is allowed only to loopback \
             (127.0.0.1, ::1, localhost), not {}; use https",
            url.host_str().unwrap_or("")
        ))),
        other => Err(RemoteError::Config(format!(
            "remote.rest_root: unsupported scheme \"{other}\" (expected https)"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    // IPv6 hosts come bracketed ("[::1]"); the url parser has already
    // normalised IPv4 forms such as "0x7f.1" to dotted decimal.
    url.host_str()
        .is_some_and(|host| units::is_loopback(host.trim_start_matches('[').trim_end_matches(']')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        for ok in [
            "https://xyz.supabase.co/rest/v1",
            "http://127.0.0.1:3000",
            "http://127.8.9.10/rest/v1/",
            "http://[::1]:8080/",
            "http://localhost:54321/rest/v1",
            "http://LOCALHOST/",
        ] {
            assert!(parse_rest_root(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/rest/v1",
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
            "http://128.0.0.1/",
            "ftp://127.0.0.1/",
            "https://h/rest/v1?x=1",
            "https://user:pw@h/rest/v1",
            "not a url",
        ] {
            assert!(
                matches!(parse_rest_root(bad), Err(RemoteError::Config(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_rest_root("https://h/rest/v1//").unwrap().as_str(),
            "https://h/rest/v1"
        );
    }

    #[test]
    fn key_from_file_is_trimmed_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  s3cret-key-value\n").unwrap();
        let key = ApiKey::read(&KeySource::File(path)).unwrap();
        assert_eq!(key.apikey().to_str().unwrap(), "s3cret-key-value");
        assert_eq!(key.bearer().to_str().unwrap(), "Bearer s3cret-key-value");
        assert_eq!(format!("{key:?} {key}"), "[redacted] [redacted]");
        assert!(!format!("{:?}", key.apikey()).contains("s3cret"));
    }

    #[test]
    fn key_errors_name_the_source_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = ApiKey::read(&KeySource::File(missing.clone())).unwrap_err();
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n\t").unwrap();
        let e = ApiKey::read(&KeySource::File(empty)).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");

        let bad = dir.path().join("bad");
        std::fs::write(&bad, "s3cret\nline2").unwrap();
        let e = ApiKey::read(&KeySource::File(bad)).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");

        let var = "EBB_TEST_KEY_THAT_IS_NEVER_SET_4f1c";
        let e = ApiKey::read(&KeySource::Env(var.into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("remote config: API key: environment variable {var} is not set")
        );
    }
}
