//! `ebb init`: a starter policies.toml for the app's existing SQLite file,
//! the row schemas it names, and the JSON Schema editors check it with.
//!
//! Glue only: reads the tables (columns, keys, foreign keys) read-only,
//! hands them to `config::starter`, which decides what to suggest, and
//! writes the files. Never overwrites a schema file that exists (it says
//! so), nor policies.toml without `--force`; the app's database is only
//! read. Called by `cli::dispatch`; `setup` (ebb check) reuses
//! [`foreign_keys`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::config::{self, AppColumn, AppTable};
use crate::local::inspect;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The app's existing SQLite file.
    #[arg(long)]
    db: PathBuf,
    /// Opt these tables in (repeat or comma-separate): their blocks are
    /// written uncommented.
    #[arg(long = "table", value_delimiter = ',')]
    tables: Vec<String>,
    /// Overwrite an existing policies.toml (schema files are never
    /// overwritten).
    #[arg(long)]
    force: bool,
}

pub fn init(config_path: &Path, mut args: InitArgs) -> anyhow::Result<ExitCode> {
    let mut seen = Vec::new();
    args.tables.retain(|t| {
        let new = !seen.contains(t);
        seen.push(t.clone());
        new
    });
    if config_path.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            config_path.display()
        );
    }
    if !args.db.is_file() {
        bail!(
            "--db {}: no such file; point it at the app's existing SQLite database",
            args.db.display()
        );
    }
    let all = inspect::list_tables(&args.db)
        .with_context(|| format!("cannot read the tables of {}", args.db.display()))?;
    for t in &args.tables {
        if !all.contains(t) {
            bail!(
                "--table {t}: {} has no such table (it has: {})",
                args.db.display(),
                all.join(", ")
            );
        }
    }
    let mut apps = Vec::with_capacity(all.len());
    for t in &all {
        apps.push(app_table(&args.db, t)?);
    }
    for t in apps.iter().filter(|t| args.tables.contains(&t.name)) {
        let keys = t.columns.iter().filter(|c| c.pk).count();
        if keys != 1 {
            bail!(
                "--table {}: the table has {keys} primary key columns; ebb needs a one-column key",
                t.name
            );
        }
    }
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let starter = config::starter(&relative_to(&args.db, dir), &apps, &args.tables);
    let opted: Vec<&String> = starter
        .tables
        .iter()
        .filter(|t| args.tables.contains(t))
        .collect();
    if opted.len() == args.tables.len() && opted.iter().zip(&args.tables).any(|(a, b)| *a != b) {
        let names: Vec<&str> = opted.iter().map(|s| s.as_str()).collect();
        say!(
            "tables ordered parents before children (foreign keys): {}",
            names.join(", ")
        );
    }
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas)
        .with_context(|| format!("cannot create {}", schemas.display()))?;
    for t in &starter.tables {
        let info = inspect::describe_file(&args.db, t)?;
        let schema = serde_json::to_string_pretty(&inspect::infer_json_schema(&info))? + "\n";
        write_new(
            &schemas.join(format!("{t}.schema.json")),
            &schema,
            "inferred",
        )?;
    }
    write_new(
        &dir.join(config::POLICIES_SCHEMA_FILE),
        config::POLICIES_SCHEMA,
        "wrote",
    )?;
    std::fs::write(config_path, &starter.text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    config::load(config_path).context("the starter config does not load (a bug in ebb)")?;
    say!("wrote {}", config_path.display());
    if all.is_empty() {
        say!("note: {} has no tables yet", args.db.display());
    } else if args.tables.is_empty() {
        say!(
            "its tables are listed commented out ({}): nothing syncs until you opt one in",
            starter.tables.join(", ")
        );
    }
    let left: Vec<&str> = all
        .iter()
        .filter(|t| !starter.tables.contains(t))
        .map(String::as_str)
        .collect();
    if !left.is_empty() {
        say!(
            "left out, with the reason in a comment: {}",
            left.join(", ")
        );
    }
    say!(
        "next: set remote.url, opt tables in (parents before children), then \
         `ebb remote-sql` on the server and `ebb check`"
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` unless a file is there, saying which happened.
fn write_new(path: &Path, text: &str, verb: &str) -> anyhow::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(old) if old == text => say!("kept {} (unchanged)", path.display()),
        Ok(_) => say!(
            "kept {} (it exists and is not overwritten; delete it to have it written again)",
            path.display()
        ),
        Err(_) if path.exists() => say!("kept {} (exists, not overwritten)", path.display()),
        Err(_) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            say!("{verb} {}", path.display());
        }
    }
    Ok(())
}

/// What `config::starter` needs of one table.
fn app_table(db: &Path, table: &str) -> anyhow::Result<AppTable> {
    let info = inspect::describe_file(db, table)
        .with_context(|| format!("cannot describe table {table}"))?;
    Ok(AppTable {
        name: table.to_string(),
        columns: info
            .columns
            .into_iter()
            .map(|c| AppColumn {
                name: c.name,
                decl_type: c.decl_type,
                pk: c.pk,
            })
            .collect(),
        foreign_keys: foreign_keys(db, table)?,
    })
}

/// (column, parent table) of each foreign key `table` declares, read from
/// `pragma_foreign_key_list` on a read-only connection.
pub(super) fn foreign_keys(db: &Path, table: &str) -> anyhow::Result<Vec<(String, String)>> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let mut stmt = conn.prepare("SELECT \"from\", \"table\" FROM pragma_foreign_key_list(?1)")?;
    let keys = stmt
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the foreign keys of {table}"))?;
    Ok(keys)
}

fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    abs(path)
        .strip_prefix(abs(dir))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| abs(path))
}
