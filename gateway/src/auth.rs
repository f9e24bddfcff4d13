//! Who a request is: the middleware in front of every route. It checks the
//! shared key (`apikey`) and decides the [`Identity`] the RPC runs as,
//! which `rpc.rs` applies (`SET LOCAL ROLE`, `request.jwt.claims`).
//!
//! Without JWT mode, `Authorization: Bearer`, when sent, must be the key
//! too, and every request is the one `--role` (or the login role). In JWT
//! mode ([`JwtSettings`](crate::JwtSettings)) the bearer is a token checked
//! by `jwt.rs`; its `role` claim is the role, and a request without a
//! token (or whose bearer is the shared key itself, as Supabase's anon key
//! is) is anonymous: it runs as `--role`, or is refused (401 PGRST302).
//! Keys and tokens are compared in constant time and never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::Shared;
use crate::error::ApiError;

/// The role and claims an RPC runs with; put in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Identity {
    /// Switched to for the call (`SET LOCAL ROLE`); `None` runs as the
    /// login role.
    pub(crate) role: Option<String>,
    /// The token's claims as a JSON object, set as `request.jwt.claims`.
    pub(crate) claims: Option<String>,
    /// JWT mode without a token: a refused privilege answers 401 (send a
    /// token), not 403, as in PostgREST.
    pub(crate) anonymous: bool,
}

/// 401 unless the key (and in JWT mode the token) is good; otherwise runs
/// the request with its [`Identity`].
pub(super) async fn auth(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    match identify(request.headers(), &shared) {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

pub(crate) fn identify(headers: &HeaderMap, shared: &Shared) -> Result<Identity, ApiError> {
    let Some(apikey) = headers.get("apikey") else {
        return Err(ApiError::unauthorized(
            "No API key found in request",
            "No `apikey` request header was found.",
        ));
    };
    let invalid =
        || ApiError::unauthorized("Invalid API key", "Double check the gateway's API key.");
    if !same_key(apikey.as_bytes(), &shared.key_digest) {
        return Err(invalid());
    }
    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(
            bearer_token(value.as_bytes()).ok_or_else(|| match shared.jwt {
                Some(_) => ApiError::invalid_token(
                    "PGRST301",
                    "Expected a Bearer token in the Authorization header",
                ),
                None => invalid(),
            })?,
        ),
    };
    let Some(verifier) = &shared.jwt else {
        if let Some(token) = bearer
            && !same_key(token, &shared.key_digest)
        {
            return Err(invalid());
        }
        return Ok(Identity {
            role: shared.role.clone(),
            claims: None,
            anonymous: false,
        });
    };
    let token = match bearer {
        Some(token) if !same_key(token, &shared.key_digest) => token,
        // No token, or the shared key itself: anonymous.
        _ => {
            return match &shared.role {
                // As PostgREST: the anonymous role's claims are set too, so a
                // pooled connection never shows SQL an earlier request's
                // (or an empty string where policies expect JSON).
                Some(role) => Ok(Identity {
                    role: Some(role.clone()),
                    claims: Some(serde_json::json!({ "role": role }).to_string()),
                    anonymous: true,
                }),
                None => Err(ApiError::anonymous_disabled()),
            };
        }
    };
    let token = std::str::from_utf8(token)
        .map_err(|_| ApiError::invalid_token("PGRST301", "JWT couldn't be decoded"))?;
    let claims = verifier.verify(token)?;
    let role = claims
        .role
        .or_else(|| shared.role.clone())
        .ok_or_else(ApiError::anonymous_disabled)?;
    Ok(Identity {
        role: Some(role),
        claims: Some(claims.json),
        anonymous: false,
    })
}

/// The token of `Bearer <token>` (the scheme in any case, as RFC 6750).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"Bearer ").then_some(rest)
}

/// Compares SHA-256 digests in constant time: neither the content nor the
/// length of the key leaks through timing.
pub(crate) fn same_key(candidate: &[u8], key_digest: &[u8; 32]) -> bool {
    let digest: [u8; 32] = Sha256::digest(candidate).into();
    digest
        .iter()
        .zip(key_digest.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Bearer "), Some(&b""[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bear"), None);
    }
}
