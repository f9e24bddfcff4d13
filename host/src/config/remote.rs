//! `[remote]` of policies.toml: raw -> [`RemoteConfig`]. Owns the URL and
//! REST root checks and who the requests are from: the API key source (the
//! default `EBB_API_KEY`, optional beside an access token when no source is
//! named), the access token source, and `anonymous` (neither, refused beside
//! any of them). Reads nothing; called by `resolve` only.

use std::time::Duration;

use super::raw::RawRemote;
use super::resolve::Ctx;
use super::units;
use super::{ConfigError, KeySource, RemoteConfig};

pub(super) fn remote(cx: &Ctx, r: &RawRemote) -> Result<RemoteConfig, ConfigError> {
    let url = r.url.trim().trim_end_matches('/').to_string();
    units::http_url(&url).map_err(|m| cx.invalid("remote.url", m))?;
    let rest_root = match &r.rest_root {
        Some(root) => root.trim().trim_end_matches('/').to_string(),
        None => format!("{url}/rest/v1"),
    };
    units::http_url(&rest_root).map_err(|m| cx.invalid("remote.rest_root", m))?;
    let access_token = match (&r.access_token_env, &r.access_token_file) {
        (Some(_), Some(_)) => {
            return Err(cx.invalid(
                "remote.access_token_file",
                "set only one of access_token_env and access_token_file",
            ));
        }
        (Some(var), None) => Some(KeySource::Env(var.clone())),
        (None, Some(file)) => Some(KeySource::File(cx.file("remote.access_token_file", file)?)),
        (None, None) => None,
    };
    let named_key = match (&r.api_key_env, &r.api_key_file) {
        (Some(_), Some(_)) => {
            return Err(cx.invalid(
                "remote.api_key_file",
                "set only one of api_key_env and api_key_file",
            ));
        }
        (Some(var), None) => Some(KeySource::Env(var.clone())),
        (None, Some(file)) => Some(KeySource::File(cx.file("remote.api_key_file", file)?)),
        (None, None) => None,
    };
    let anonymous = r.anonymous.unwrap_or(false);
    if anonymous && (named_key.is_some() || access_token.is_some()) {
        return Err(cx.invalid(
            "remote.anonymous",
            "anonymous = true sends neither key nor token: remove api_key_env/api_key_file \
             and access_token_env/access_token_file, or set anonymous = false",
        ));
    }
    let api_key_required = named_key.is_some() || access_token.is_none();
    let api_key = match (anonymous, named_key) {
        (true, _) => None,
        (false, Some(source)) => Some(source),
        (false, None) => Some(KeySource::Env("EBB_API_KEY".to_string())),
    };
    Ok(RemoteConfig {
        url,
        rest_root,
        api_key,
        api_key_required,
        access_token,
        timeout: cx.duration(
            "remote.timeout",
            r.timeout.as_ref(),
            Duration::from_secs(30),
            true,
        )?,
        connect_timeout: cx.duration(
            "remote.connect_timeout",
            r.connect_timeout.as_ref(),
            Duration::from_secs(10),
            true,
        )?,
    })
}
