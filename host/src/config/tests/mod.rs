//! Tests of policies.toml loading that span several files: every key's
//! default and refusal (`keys`, `refused`, `tables`), paths as a Windows
//! till writes them (`paths`), the shipped policies.toml and row schemas
//! (`shipped`), and schemas/policies.schema.json held against the raw
//! structs (`schema_keys`).

mod keys;
mod paths;
mod refused;
mod schema_keys;
mod shipped;
mod tables;

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, parse};

/// The smallest file that loads.
pub const MIN: &str = "database = \"app.db\"\n[remote]\nurl = \"https://xyz.supabase.co\"\n";

/// A scratch directory holding policies.toml (and any schema files a test
/// writes), so relative paths and default schema lookups are hermetic.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().expect("tempdir"))
    }
    pub fn policies(&self) -> PathBuf {
        self.0.path().join("policies.toml")
    }
    pub fn write(&self, relative: &str, text: &str) {
        let path = self.0.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn parse(&self, text: &str) -> Result<Config, ConfigError> {
        parse(text, &self.policies())
    }
}

/// `MIN` plus `extra`, loaded in a fresh directory.
pub fn ok(extra: &str) -> Config {
    let text = format!("{MIN}{extra}");
    match Dir::new().parse(&text) {
        Ok(c) => c,
        Err(e) => panic!("expected {text:?} to load, got: {e}"),
    }
}

/// The error for `text` (whole file), loaded as "policies.toml".
pub fn err_of(text: &str) -> ConfigError {
    let dir = Dir::new();
    match parse(text, Path::new("policies.toml")) {
        Ok(_) => panic!(
            "expected {text:?} to be refused (dir {})",
            dir.path().display()
        ),
        Err(e) => e,
    }
}

/// Checks that `MIN` plus each case's extra text is refused naming the
/// case's key, with its fragment in the message; reports every miss at once.
pub fn refused_all(cases: &[(&str, &str, &str)]) {
    let mut misses = Vec::new();
    for (extra, key, fragment) in cases {
        let text = format!("{MIN}{extra}");
        let shown = match parse(&text, Path::new("policies.toml")) {
            Ok(_) => {
                misses.push(format!(
                    "{extra:?}: loaded, expected a refusal naming {key}"
                ));
                continue;
            }
            Err(e) => e.to_string(),
        };
        if !shown.starts_with(&format!("policies.toml: {key}: ")) || !shown.contains(fragment) {
            misses.push(format!(
                "{extra:?}: got {shown:?}, expected key {key} and {fragment:?}"
            ));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}
