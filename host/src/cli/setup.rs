//! Commands that set ebb up: `init` (a starter policies.toml and inferred
//! row schemas), `check` (everything verified before anything runs),
//! `remote-sql` (what to apply on the server) and `gateway`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::load::{self, load_config};
use crate::config::{self, Config};
use crate::gateway::GatewaySettings;
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

#[derive(Args, Debug)]
pub struct GatewayArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:54321")]
    listen: String,
    /// The Postgres connection string, e.g. "host=/var/run/postgresql
    /// dbname=shop" or postgres://user:password@host/db. Pass it through
    /// EBB_GATEWAY_DATABASE rather than the command line when it holds a
    /// password (the driver does not read PGPASSWORD or ~/.pgpass).
    #[arg(long, env = "EBB_GATEWAY_DATABASE")]
    database: String,
    /// The environment variable holding the API key clients must send.
    #[arg(long, default_value = "EBB_API_KEY")]
    api_key_env: String,
    /// Postgres connections in the pool (at least 1).
    #[arg(long, default_value_t = GatewaySettings::DEFAULT_POOL_SIZE)]
    pool_size: usize,
    /// Time limit of one statement ("30s", "500ms"; a bare number is
    /// seconds); a push or pull running longer is cancelled (HTTP 500).
    #[arg(long, default_value = "30s", value_parser = gateway_duration)]
    statement_timeout: Duration,
    /// How long a request waits for a free pool connection before 504
    /// (also the connect timeout).
    #[arg(long, default_value = "10s", value_parser = gateway_duration)]
    pool_wait_timeout: Duration,
    /// Largest request body accepted ("64MiB", "512KiB" or bytes); larger
    /// is 413. Keep it above a push of sync.batch_size rows.
    #[arg(long, default_value = "64MiB", value_parser = gateway_size)]
    max_body: usize,
    /// Run every push and pull as this role, switched to per request with
    /// SET LOCAL ROLE (as PostgREST does from its authenticator), so its
    /// grants and row level security apply. The --database login role must
    /// be allowed to switch to it (GRANT role TO login_role); this is
    /// checked at startup. The role needs EXECUTE on ebb_push and ebb_pull
    /// and rights on the synced tables. Default: run as the login role.
    #[arg(long)]
    role: Option<String>,
}

/// A gateway duration flag: "30s", "500ms", or bare seconds; not zero.
fn gateway_duration(text: &str) -> Result<Duration, String> {
    let d = match text.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => config::units::duration(text)?,
    };
    if d.is_zero() {
        return Err(format!("must be longer than zero (got {text:?})"));
    }
    Ok(d)
}

/// A gateway size flag: "64MiB", "512KiB" or bytes; not zero.
fn gateway_size(text: &str) -> Result<usize, String> {
    match config::units::size(text)? {
        0 => Err(format!("must be at least 1 byte (got {text:?})")),
        n => usize::try_from(n).map_err(|_| format!("{text:?} is too large")),
    }
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

pub async fn gateway(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let api_key = std::env::var(&args.api_key_env)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .with_context(|| {
            format!(
                "set the API key in the environment variable {}",
                args.api_key_env
            )
        })?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("--listen: cannot listen on {}", args.listen))?;
    let listen = args.listen.clone();
    let settings = gateway_settings(args, api_key.trim());
    tracing::info!(%listen, "gateway serving /rest/v1/rpc/ebb_push and ebb_pull");
    crate::gateway::serve(listener, settings, super::sync::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

fn gateway_settings(args: GatewayArgs, api_key: &str) -> GatewaySettings {
    let mut settings = GatewaySettings::new(args.database, api_key);
    settings.pool_size = args.pool_size;
    settings.statement_timeout = args.statement_timeout;
    settings.pool_wait_timeout = args.pool_wait_timeout;
    settings.max_body_bytes = args.max_body;
    settings.role = args.role;
    settings
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        gateway: GatewayArgs,
    }

    fn settings(flags: &[&str]) -> Result<GatewaySettings, clap::Error> {
        let argv = ["ebb", "--database", "host=/tmp"].iter().chain(flags);
        Cli::try_parse_from(argv).map(|c| gateway_settings(c.gateway, "k"))
    }

    #[test]
    fn gateway_flag_defaults_are_the_library_defaults() {
        let from_flags = settings(&[]).unwrap();
        let library = GatewaySettings::new("host=/tmp", "k");
        assert_eq!(format!("{from_flags:?}"), format!("{library:?}"));
        assert_eq!(from_flags.pool_size, GatewaySettings::DEFAULT_POOL_SIZE);
        assert_eq!(from_flags.max_body_bytes, 64 << 20);
    }

    #[test]
    fn gateway_flags_are_read_and_zero_is_refused() {
        let s = settings(&[
            "--pool-size",
            "3",
            "--statement-timeout",
            "1500ms",
            "--pool-wait-timeout",
            "2",
            "--max-body",
            "512KiB",
        ])
        .unwrap();
        assert_eq!(s.pool_size, 3);
        assert_eq!(s.statement_timeout, Duration::from_millis(1500));
        assert_eq!(s.pool_wait_timeout, Duration::from_secs(2));
        assert_eq!(s.max_body_bytes, 512 << 10);
        assert_eq!(s.role, None);
        let s = settings(&["--role", "Shop Clerk"]).unwrap();
        assert_eq!(s.role.as_deref(), Some("Shop Clerk"));
        for bad in [
            ["--statement-timeout", "0s"],
            ["--pool-wait-timeout", "soon"],
            ["--max-body", "0"],
            ["--max-body", "lots"],
        ] {
            assert!(settings(&bad).is_err(), "{bad:?}");
        }
    }
}
