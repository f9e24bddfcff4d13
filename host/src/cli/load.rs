//! Loading policies.toml for a command, and rendering errors for people.
//!
//! Owns two things the CLI adds on top of `config::load`: the line of the
//! offending key in config errors (`policies.toml:12: sync.batch_size: ...`)
//! and the one-line rendering of an error chain without repeating a cause
//! its parent already quoted. It must not change what the config means;
//! it only reads the file again to find a line. Called by every command.

use std::path::Path;

use anyhow::Context;

use crate::config::{self, Config, ConfigError};
use crate::local::Local;

/// `config::load`, with the line of the offending key added to the error.
pub fn load_config(path: &Path) -> Result<Config, anyhow::Error> {
    config::load(path).map_err(|e| anyhow::Error::msg(locate(&e)))
}

/// `load_config`, refusing a `database` that does not exist: opening it
/// would create an empty file where the app's data was expected (a typo
/// in the path, a wrong working directory).
pub fn load_with_database(path: &Path) -> Result<Config, anyhow::Error> {
    let config = load_config(path)?;
    if !config.database.is_file() {
        anyhow::bail!(
            "{}: database: {} does not exist; ebb syncs the app's existing SQLite file \
             (relative paths are resolved against policies.toml's directory)",
            path.display(),
            config.database.display()
        );
    }
    Ok(config)
}

/// `load_with_database`, then the app database opened as ebb's.
pub fn open(path: &Path) -> anyhow::Result<(Config, Local)> {
    let config = load_with_database(path)?;
    let local = Local::open(&config.database, config.sync.busy_timeout)
        .with_context(|| format!("cannot open {}", config.database.display()))?;
    Ok((config, local))
}

/// The error's one-line text, with `{file}:{line}:` when the key (or its
/// table) can be found in the file.
pub fn locate(e: &ConfigError) -> String {
    let (path, key, message) = match e {
        ConfigError::Schema { path, key, message }
        | ConfigError::Invalid { path, key, message } => (path, key, message),
        ConfigError::Io { path, cause } => return format!("{}: {cause}", path.display()),
        ConfigError::Toml { .. } => return e.to_string(),
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match key_line(&text, key) {
        Some(line) => format!("{}:{line}: {key}: {message}", path.display()),
        None => format!("{}: {key}: {message}", path.display()),
    }
}

/// The 1-based line defining the dotted `key` in TOML `text`: the line of
/// `leaf = ...` under its `[table]` header (or written dotted), else the
/// header of the deepest table of the key that is present.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').filter(|p| !p.is_empty()).collect();
    let mut header: Vec<String> = Vec::new();
    let mut best: Option<(usize, usize)> = None; // (matched parts, line)
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(inner) = line
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .filter(|_| !line.starts_with("[["))
        {
            header = split_key(inner);
            if header.len() <= parts.len() && header.iter().zip(&parts).all(|(h, p)| h == p) {
                let better = best.is_none_or(|(n, _)| header.len() > n);
                if better {
                    best = Some((header.len(), index + 1));
                }
            }
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let full: Vec<String> = header.iter().cloned().chain(split_key(lhs)).collect();
        if full.len() <= parts.len() && full.iter().zip(&parts).all(|(h, p)| h == p) {
            let better = best.is_none_or(|(n, _)| full.len() >= n);
            if better {
                best = Some((full.len(), index + 1));
            }
        }
    }
    best.filter(|(n, _)| *n > 0).map(|(_, line)| line)
}

/// `a. "b" .c` -> [a, b, c] (bare or quoted parts).
fn split_key(text: &str) -> Vec<String> {
    text.split('.')
        .map(|p| p.trim().trim_matches('"').trim_matches('\'').to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The error and its causes on one line, skipping a cause whose text the
/// message before it already includes.
pub fn render_error(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if said.is_empty() || text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

/// True when the error is stdout closed under us (`ebb status | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
database = \"app.db\"

[sync]
# batch_size = 1
interval = \"30s\"
batch_size = \"many\"

[tables.debts]
pk = \"id\"
conflict = \"maybe\"
[tables.debts.limits]
timeout = \"x\"
";

    #[test]
    fn finds_leaf_keys_under_their_table() {
        assert_eq!(key_line(TEXT, "database"), Some(1));
        assert_eq!(key_line(TEXT, "sync.batch_size"), Some(6));
        assert_eq!(key_line(TEXT, "tables.debts.conflict"), Some(10));
        assert_eq!(key_line(TEXT, "tables.debts.limits.timeout"), Some(12));
    }

    #[test]
    fn falls_back_to_the_deepest_table_present() {
        assert_eq!(key_line(TEXT, "sync.lease"), Some(3));
        assert_eq!(key_line(TEXT, "tables.debts.schema"), Some(8));
        assert_eq!(key_line(TEXT, "retry.max_attempts"), None);
    }

    #[test]
    fn dotted_keys_count_too() {
        assert_eq!(
            key_line("[tables]\ndebts.pk = 1\n", "tables.debts.pk"),
            Some(2)
        );
    }

    #[test]
    fn a_bad_value_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.toml");
        let text = "database = \"app.db\"\n[remote]\nurl = \"https://x.supabase.co\"\n\
                    [sync]\ninterval = \"30s\"\nkeep_resolved_conflicts = \"90s\"\n";
        std::fs::write(&path, text).unwrap();
        let e = load_config(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:6: sync.keep_resolved_conflicts: 1m 30s is shorter than the minimum of 1h \
                 (write \"0s\" to keep settled conflicts forever)",
                path.display()
            )
        );
    }

    #[test]
    fn error_chains_do_not_repeat_themselves() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(io).context("x.toml: gone");
        assert_eq!(render_error(&e), "x.toml: gone");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(render_error(&e), "outer: inner");
    }
}
