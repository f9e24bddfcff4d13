//! The `Authorization: Bearer` value: the API key by default, or an access
//! token (on Supabase, a user's JWT beside the anon key, so row level
//! security sees which device is asking), or none at all (anonymous).
//!
//! A token from a file is re-read whenever the file's modification time or
//! length changes, so a refresher can rotate a short-lived JWT while `ebb
//! run` keeps going; a new version that cannot be read keeps the last good
//! token and says so once. Never prints a token: errors name the file.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use reqwest::header::HeaderValue;

use super::key::{ApiKey, header, read_secret};
use crate::config::KeySource;
use crate::remote::RemoteError;

const WHAT: &str = "access token";

/// Where the bearer comes from, and its current value.
pub(crate) enum Bearer {
    /// Anonymous: no key and no token, no `Authorization` header.
    Absent,
    /// The API key, or a token from an environment variable.
    Fixed { header: HeaderValue, token: String },
    /// A token file and the version last read from it.
    File {
        path: PathBuf,
        current: Mutex<Current>,
    },
}

pub(crate) struct Current {
    stamp: Stamp,
    header: HeaderValue,
    token: String,
}

/// What the token file looked like when it was read.
type Stamp = (Option<SystemTime>, u64);

impl Bearer {
    /// The bearer for `access_token` (the config's), or the key's when
    /// there is none, or none at all. A token that cannot be read now is a
    /// config error.
    pub(crate) fn new(
        key: Option<&ApiKey>,
        access_token: Option<&KeySource>,
    ) -> Result<Bearer, RemoteError> {
        let Some(source) = access_token else {
            return Ok(match key {
                Some(key) => Bearer::Fixed {
                    header: key.bearer().clone(),
                    token: key.text(),
                },
                None => Bearer::Absent,
            });
        };
        match source {
            KeySource::Env(_) => {
                let token = read_secret(source, WHAT)?;
                Ok(Bearer::Fixed {
                    header: header(&token, "Bearer ", source, WHAT)?,
                    token,
                })
            }
            KeySource::File(path) => {
                let stamp = stamp(path);
                let (header, token) = read(source)?;
                Ok(Bearer::File {
                    path: path.clone(),
                    current: Mutex::new(Current {
                        stamp,
                        header,
                        token,
                    }),
                })
            }
        }
    }

    /// The header to send now (a changed token file is re-read first);
    /// none when anonymous.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        Some(match self {
            Bearer::Absent => return None,
            Bearer::Fixed { header, .. } => header.clone(),
            Bearer::File { path, current } => {
                let mut current = current.lock().unwrap_or_else(|p| p.into_inner());
                let now = stamp(path);
                if now != current.stamp {
                    current.stamp = now;
                    match read(&KeySource::File(path.clone())) {
                        Ok((header, token)) => {
                            tracing::info!(file = %path.display(), "access token re-read");
                            current.header = header;
                            current.token = token;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "keeping the last access token");
                        }
                    }
                }
                current.header.clone()
            }
        })
    }

    /// The token as text, to scrub from anything a server sends back.
    pub(super) fn token(&self) -> String {
        match self {
            Bearer::Absent => String::new(),
            Bearer::Fixed { token, .. } => token.clone(),
            Bearer::File { current, .. } => current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .token
                .clone(),
        }
    }
}

fn read(source: &KeySource) -> Result<(HeaderValue, String), RemoteError> {
    let token = read_secret(source, WHAT)?;
    Ok((header(&token, "Bearer ", source, WHAT)?, token))
}

fn stamp(path: &std::path::Path) -> Stamp {
    match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "anon-key").unwrap();
        ApiKey::read(&KeySource::File(path)).unwrap()
    }

    #[test]
    fn without_a_token_the_key_is_the_bearer() {
        let bearer = Bearer::new(Some(&key()), None).unwrap();
        assert_eq!(
            bearer.header().expect("a bearer").to_str().unwrap(),
            "Bearer anon-key"
        );
        assert_eq!(bearer.token(), "anon-key");
    }

    #[test]
    fn a_token_file_is_reread_when_it_changes_and_kept_when_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("till.jwt");
        std::fs::write(&path, "eyJ.first.sig\n").unwrap();
        let bearer = Bearer::new(Some(&key()), Some(&KeySource::File(path.clone()))).unwrap();
        assert_eq!(
            bearer.header().expect("a bearer").to_str().unwrap(),
            "Bearer eyJ.first.sig"
        );
        assert!(format!("{:?}", bearer.header()).contains("Sensitive"));

        // A new length is seen even within one mtime tick.
        std::fs::write(&path, "eyJ.second-token.sig").unwrap();
        assert_eq!(
            bearer.header().expect("a bearer").to_str().unwrap(),
            "Bearer eyJ.second-token.sig"
        );
        assert_eq!(bearer.token(), "eyJ.second-token.sig");

        // Mid-rotation the file is gone: the last good token is kept.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            bearer.header().expect("a bearer").to_str().unwrap(),
            "Bearer eyJ.second-token.sig"
        );
        std::fs::write(&path, "eyJ.third.sig").unwrap();
        assert_eq!(
            bearer.header().expect("a bearer").to_str().unwrap(),
            "Bearer eyJ.third.sig"
        );
    }

    #[test]
    fn a_missing_token_is_a_config_error_naming_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.jwt");
        let Err(e) = Bearer::new(Some(&key()), Some(&KeySource::File(path.clone()))) else {
            panic!("a missing token file was accepted");
        };
        assert!(matches!(e, RemoteError::Config(_)), "{e:?}");
        assert!(e.to_string().contains("access token"), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let var = "EBB_TEST_TOKEN_THAT_IS_NEVER_SET_77a2";
        let Err(e) = Bearer::new(Some(&key()), Some(&KeySource::Env(var.into()))) else {
            panic!("a missing token variable was accepted");
        };
        assert!(e.to_string().contains(var), "{e}");
    }
}
