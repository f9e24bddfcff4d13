//! Commands that set ebb up: `init` (a starter policies.toml and inferred
//! row schemas), `check` (everything verified before anything runs) and
//! `remote-sql` (what to apply on the server).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::load::{self, load_config};
use crate::config::{self, Config};
use crate::local::inspect;
use crate::model::Cursor;
use crate::policy::Policies;
use crate::remote::Remote;
use crate::remote::postgrest::Client;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The app's existing SQLite file.
    #[arg(long)]
    db: PathBuf,
    /// Opt these tables in (repeat or comma-separate): their blocks are
    /// written uncommented and their JSON Schemas inferred into schemas/.
    #[arg(long = "table", value_delimiter = ',')]
    tables: Vec<String>,
    /// Overwrite an existing policies.toml.
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
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let rest: Vec<String> = all
        .iter()
        .filter(|t| !args.tables.contains(t))
        .cloned()
        .collect();
    let mut text = config::starter(&relative_to(&args.db, dir), &rest);
    let opted = parents_first(&args.db, &args.tables)?;
    if opted != args.tables {
        say!(
            "tables ordered parents before children (foreign keys): {}",
            opted.join(", ")
        );
    }
    for t in &opted {
        let info = inspect::describe_file(&args.db, t)?;
        let pk = info
            .columns
            .iter()
            .find(|c| c.pk)
            .map(|c| c.name.clone())
            .with_context(|| format!("table {t} has no primary key; ebb needs a one-column key"))?;
        let schema = inspect::infer_json_schema(&info);
        let schema_path = dir.join("schemas").join(format!("{t}.schema.json"));
        std::fs::create_dir_all(dir.join("schemas"))?;
        std::fs::write(&schema_path, serde_json::to_string_pretty(&schema)? + "\n")
            .with_context(|| format!("cannot write {}", schema_path.display()))?;
        text.push_str(&format!(
            "\n[tables.{t}]\npk = \"{pk}\"\nschema = \"schemas/{t}.schema.json\"\nconflict = \"server_wins\"\n"
        ));
        say!("inferred {}", schema_path.display());
    }
    std::fs::write(config_path, text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    config::load(config_path).context("the starter config does not load (a bug in ebb)")?;
    say!("wrote {}", config_path.display());
    if all.is_empty() {
        say!("note: {} has no tables yet", args.db.display());
    } else if args.tables.is_empty() {
        say!(
            "its tables are listed commented out ({}): nothing syncs until you opt one in",
            all.join(", ")
        );
    }
    say!(
        "next: set remote.url, opt tables in (parents before children), then \
         `ebb remote-sql` on the server and `ebb check`"
    );
    Ok(ExitCode::SUCCESS)
}

fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    abs(path)
        .strip_prefix(abs(dir))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| abs(path))
}

/// Every check prints a line; exit 0 only when all pass.
pub async fn check(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            say!("FAIL  config: {}", load::locate(&e));
            return Ok(ExitCode::FAILURE);
        }
    };
    let results = [
        (
            "config",
            Ok(format!("{} tables synced", config.tables.len())),
        ),
        ("local tables", check_local(&config)),
        (
            "schemas and plugins",
            Policies::load(&config)
                .map(|_| String::from("loaded"))
                .map_err(Into::into),
        ),
        ("remote", check_remote(&config).await),
    ];
    let mut ok = true;
    for (name, result) in results {
        match result {
            Ok(detail) => say!("ok    {name}: {detail}"),
            Err(e) => {
                ok = false;
                say!("FAIL  {name}: {}", load::render_error(&e));
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_local(config: &Config) -> anyhow::Result<String> {
    let db = &config.database;
    if !db.exists() {
        bail!("database {} does not exist", db.display());
    }
    for t in &config.tables {
        let info =
            inspect::describe_file(db, &t.name).with_context(|| format!("tables.{}", t.name))?;
        let pks: Vec<&str> = info
            .columns
            .iter()
            .filter(|c| c.pk)
            .map(|c| c.name.as_str())
            .collect();
        if pks != [t.pk.as_str()] {
            bail!(
                "tables.{}.pk: the table's primary key is ({}), expected the one column \"{}\"",
                t.name,
                pks.join(", "),
                t.pk
            );
        }
    }
    let names: Vec<String> = config.tables.iter().map(|t| t.name.clone()).collect();
    for (index, t) in names.iter().enumerate() {
        let later = foreign_parents(db, t)?
            .into_iter()
            .find(|p| names[index + 1..].contains(p));
        if let Some(parent) = later {
            bail!(
                "tables.{t} references {parent} (a foreign key) but is listed before it: \
                 list [tables.{parent}] first so parents are pushed and pulled before children"
            );
        }
    }
    Ok(format!("{} ok in {}", config.tables.len(), db.display()))
}

/// The tables `table` references through foreign keys (itself excluded).
fn foreign_parents(db: &Path, table: &str) -> anyhow::Result<Vec<String>> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let mut stmt = conn.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?;
    let parents = stmt
        .query_map([table], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the foreign keys of {table}"))?;
    Ok(parents
        .into_iter()
        .filter(|p| !p.eq_ignore_ascii_case(table))
        .collect())
}

/// `tables` reordered so each comes after the tables it references (a
/// stable order otherwise; a cycle keeps the given order).
fn parents_first(db: &Path, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut waiting: Vec<(String, Vec<String>)> = Vec::new();
    for t in tables {
        let parents = foreign_parents(db, t)?
            .into_iter()
            .filter(|p| tables.contains(p))
            .collect();
        waiting.push((t.clone(), parents));
    }
    let mut ordered: Vec<String> = Vec::with_capacity(tables.len());
    while !waiting.is_empty() {
        let ready = waiting
            .iter()
            .position(|(_, parents)| parents.iter().all(|p| ordered.contains(p)))
            .unwrap_or(0);
        ordered.push(waiting.remove(ready).0);
    }
    Ok(ordered)
}

async fn check_remote(config: &Config) -> anyhow::Result<String> {
    let client = Client::new(&config.remote, &config.rate_limit)?;
    for t in &config.tables {
        client
            .pull(&t.name, &Cursor::default(), 1)
            .await
            .with_context(|| format!("ebb_pull on table {}", t.name))?;
    }
    Ok(format!(
        "{} answers ebb_pull for every table",
        config.remote.rest_root
    ))
}

pub fn remote_sql(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let tables: Vec<(String, String)> = config
        .tables
        .iter()
        .map(|t| (t.name.clone(), t.pk.clone()))
        .collect();
    say!("{}", crate::remote::sql::install_sql(&tables).trim_end());
    Ok(ExitCode::SUCCESS)
}
