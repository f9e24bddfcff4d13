//! The local API's token: read once at startup from `ops.api_token_env` or
//! `ops.api_token_file`, compared in constant time, and never shown (its
//! `Debug` is redacted; no log line or answer carries it).

use crate::config::KeySource;

/// The token. Not `Display`; `Debug` prints no part of it.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

impl Token {
    /// A token from text (trimmed); `None` when empty.
    pub fn new(text: &str) -> Option<Token> {
        let t = text.trim();
        (!t.is_empty()).then(|| Token(t.to_string()))
    }

    /// Whether `given` is the token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

/// Reads the token: `None` when the variable is unset or empty (changes
/// through the API are then off); an error when a named file cannot be
/// read or is empty (the user asked for a token and did not get one).
pub fn read(source: &KeySource) -> Result<Option<Token>, String> {
    match source {
        KeySource::Env(var) => Ok(std::env::var(var).ok().and_then(|v| Token::new(&v))),
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("ops.api_token_file: cannot read {}: {e}", path.display()))?;
            Token::new(&text)
                .map(Some)
                .ok_or_else(|| format!("ops.api_token_file: {} is empty", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_whole_token_and_never_shows_it() {
        let t = Token::new(" s3cret\n").unwrap();
        assert!(t.matches("s3cret"));
        for wrong in ["", "s3cre", "s3cret!", "S3cret", "x3cret"] {
            assert!(!t.matches(wrong), "{wrong}");
        }
        assert!(!format!("{t:?}").contains("s3cret"));
        assert!(Token::new("  ").is_none());
    }

    #[test]
    fn a_named_file_must_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        assert!(read(&KeySource::File(path.clone())).is_err());
        std::fs::write(&path, "\n").unwrap();
        assert!(
            read(&KeySource::File(path.clone()))
                .unwrap_err()
                .contains("empty")
        );
        std::fs::write(&path, "abc\n").unwrap();
        assert!(
            read(&KeySource::File(path))
                .unwrap()
                .unwrap()
                .matches("abc")
        );
        let unset = KeySource::Env("EBB_TEST_SURELY_UNSET_TOKEN".into());
        assert!(read(&unset).unwrap().is_none());
    }
}
