//! JWT mode of the gateway ([`JwtSettings`](crate::JwtSettings)): checks an
//! HS256 token as PostgREST does (signature, `exp`, `nbf` and `iat` with
//! [`LEEWAY_SECS`] of clock skew, `aud` when an audience is set) and hands
//! back its `role` claim and its claims as JSON for `request.jwt.claims`.
//!
//! Refusals are PostgREST's 401s with its fixed messages; neither the
//! token nor the secret is ever in an error or a log. Called by `auth.rs`
//! for each request that carries a token.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::error::ApiError;

/// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
pub(crate) const LEEWAY_SECS: u64 = 5;

/// The shortest secret accepted, as PostgREST requires.
pub(crate) const MIN_SECRET_BYTES: usize = 32;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Claims {
    /// The `role` claim, when there is one.
    pub(crate) role: Option<String>,
    /// Every claim, as a JSON object, for `request.jwt.claims`.
    pub(crate) json: String,
}

/// Checks tokens against one secret (and audience).
pub(crate) struct Verifier {
    key: DecodingKey,
    validation: Validation,
    audience: bool,
}

impl Verifier {
    pub(crate) fn new(secret: &[u8], audience: Option<&str>) -> Verifier {
        // One provider, chosen here, whatever features other crates turn on
        // (with two, jsonwebtoken would panic on first use). A second call
        // finds it installed, which is fine.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
        );
        let mut validation = Validation::new(Algorithm::HS256);
        // As PostgREST: `exp` is checked when present, not required.
        validation.required_spec_claims.clear();
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Verifier {
            key: DecodingKey::from_secret(secret),
            validation,
            audience: audience.is_some(),
        }
    }

    /// The claims of `token`, or the 401 PostgREST gives for it.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        if token.is_empty() {
            return Err(decode_error("Empty JWT is sent in Authorization header"));
        }
        let parts = token.split('.').count();
        if parts != 3 {
            return Err(ApiError::invalid_token(
                "PGRST301",
                &format!("Expected 3 parts in JWT; got {parts}"),
            ));
        }
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation)
            .map_err(|e| refusal(e.kind()))?;
        let Value::Object(claims) = data.claims else {
            return Err(claims_error("Parsing claims failed"));
        };
        match claims.get("iat") {
            None => {}
            Some(Value::Number(iat)) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if iat
                    .as_f64()
                    .is_some_and(|iat| iat > (now + LEEWAY_SECS) as f64)
                {
                    return Err(claims_error("JWT issued at future"));
                }
            }
            Some(_) => return Err(claims_error("The JWT 'iat' claim must be a number")),
        }
        // jsonwebtoken lets an `aud` that is neither a string nor a list of
        // strings through; with an audience to check, refuse it.
        if self.audience {
            let text = |v: &Value| v.is_string();
            match claims.get("aud") {
                None => {}
                Some(Value::Array(list)) if list.iter().all(text) => {}
                Some(aud) if text(aud) => {}
                Some(_) => return Err(claims_error("JWT not in audience")),
            }
        }
        let role = match claims.get("role") {
            None | Some(Value::Null) => None,
            // `none` would reset the session to the gateway's login role.
            Some(Value::String(role)) if role.eq_ignore_ascii_case("none") => {
                return Err(claims_error(
                    "The JWT 'role' claim must name a role, not \"none\"",
                ));
            }
            Some(Value::String(role)) if !role.is_empty() => Some(role.clone()),
            Some(_) => {
                return Err(claims_error(
                    "The JWT 'role' claim must be a non-empty string",
                ));
            }
        };
        Ok(Claims {
            role,
            json: Value::Object(claims).to_string(),
        })
    }
}

fn decode_error(message: &str) -> ApiError {
    ApiError::invalid_token("PGRST301", message)
}

fn claims_error(message: &str) -> ApiError {
    ApiError::invalid_token("PGRST303", message)
}

/// PostgREST's message for each way a token is refused.
fn refusal(kind: &ErrorKind) -> ApiError {
    match kind {
        ErrorKind::InvalidSignature => decode_error("JWT cryptographic operation failed"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => decode_error("Wrong or unsupported encoding algorithm"),
        ErrorKind::ExpiredSignature => claims_error("JWT expired"),
        ErrorKind::ImmatureSignature => claims_error("JWT not yet valid"),
        ErrorKind::InvalidAudience => claims_error("JWT not in audience"),
        ErrorKind::InvalidClaimFormat(claim) => match claim.as_str() {
            "exp" => claims_error("The JWT 'exp' claim must be a number"),
            "nbf" => claims_error("The JWT 'nbf' claim must be a number"),
            _ => claims_error("Parsing claims failed"),
        },
        ErrorKind::MissingRequiredClaim(_) => claims_error("Parsing claims failed"),
        _ => decode_error("JWT couldn't be decoded"),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;
    use crate::error::Challenge;

    const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    fn token(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode")
    }

    fn refused(verifier: &Verifier, token: &str) -> (String, String) {
        let e = verifier.verify(token).expect_err("refused");
        assert_eq!(e.status.as_u16(), 401);
        assert_eq!(e.challenge, Some(Challenge::InvalidToken));
        if !token.is_empty() {
            assert!(!e.message.contains(token));
        }
        (e.code, e.message)
    }

    #[test]
    fn a_valid_token_gives_its_role_and_claims() {
        let v = Verifier::new(SECRET, None);
        let claims = v
            .verify(&token(
                json!({"role": "till", "sub": "a", "exp": now() + 60}),
            ))
            .expect("valid");
        assert_eq!(claims.role.as_deref(), Some("till"));
        let json: Value = serde_json::from_str(&claims.json).expect("json");
        assert_eq!(json["sub"], "a");
        // No exp, no role: valid, as in PostgREST.
        let claims = v.verify(&token(json!({"sub": "b"}))).expect("valid");
        assert_eq!(claims.role, None);
    }

    #[test]
    fn refusals_are_postgrest_s() {
        let v = Verifier::new(SECRET, Some("ebb"));
        let t = |c: Value| token(c);
        let cases = [
            (t(json!({"exp": now() - 60})), "PGRST303", "JWT expired"),
            (
                t(json!({"nbf": now() + 60})),
                "PGRST303",
                "JWT not yet valid",
            ),
            (
                t(json!({"iat": now() + 60})),
                "PGRST303",
                "JWT issued at future",
            ),
            (
                t(json!({"aud": "other"})),
                "PGRST303",
                "JWT not in audience",
            ),
            (
                t(json!({"exp": "soon"})),
                "PGRST303",
                "The JWT 'exp' claim must be a number",
            ),
            (
                t(json!({"role": 7})),
                "PGRST303",
                "The JWT 'role' claim must be a non-empty string",
            ),
            (t(json!({"aud": 7})), "PGRST303", "JWT not in audience"),
            (
                t(json!({"aud": ["ebb", 7]})),
                "PGRST303",
                "JWT not in audience",
            ),
            (
                t(json!({"role": "none"})),
                "PGRST303",
                "The JWT 'role' claim must name a role, not \"none\"",
            ),
            ("a.b".into(), "PGRST301", "Expected 3 parts in JWT; got 2"),
            (
                "".into(),
                "PGRST301",
                "Empty JWT is sent in Authorization header",
            ),
            ("x.y.z".into(), "PGRST301", "JWT couldn't be decoded"),
        ];
        for (token, code, message) in cases {
            assert_eq!(
                refused(&v, &token),
                (code.into(), message.into()),
                "{message}"
            );
        }
        // Within the leeway, and with the configured audience: accepted.
        v.verify(&t(json!({"exp": now() - 1, "aud": ["x", "ebb"]})))
            .expect("accepted");
        // Signed with another secret, or with another algorithm.
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"role": "till"}),
            &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes"),
        )
        .expect("encode");
        let (code, message) = refused(&v, &other);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("PGRST301", "JWT cryptographic operation failed")
        );
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &json!({"role": "till"}),
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");
        assert_eq!(
            refused(&v, &hs512).1,
            "Wrong or unsupported encoding algorithm"
        );
    }
}
