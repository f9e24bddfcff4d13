//! `ebb-gateway`: its flags (each with a documented default equal to the
//! library's) and the command that serves PostgREST's RPC contract for
//! ebb_push and ebb_pull until SIGINT or SIGTERM (Ctrl-C off unix).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgGroup, Args, Parser};
use ebb_gateway::{GatewaySettings, JwtSettings};

/// Serve ebb_push and ebb_pull like PostgREST over a Postgres connection
/// (on-premises shops without Supabase, and the tests).
///
/// Clients must send the API key held in the variable named by
/// --api-key-env (default EBB_API_KEY). Stop it with Ctrl-C.
#[derive(Parser, Debug)]
#[command(
    name = "ebb-gateway",
    version,
    after_help = "\
Example:
  EBB_API_KEY=... ebb-gateway --listen 127.0.0.1:54321 \\
      --database 'host=/var/run/postgresql user=postgres dbname=shop'"
)]
struct Cli {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// More log detail (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Log lines as JSON (one object per line) instead of text.
    #[arg(long)]
    log_json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ebb-gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(gateway(cli.gateway)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ebb-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = ["info", "debug", "trace"][usize::from(verbose.min(2))];
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("jwt_secret").args(["jwt_secret_env", "jwt_secret_file"])))]
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
    /// checked at startup. The role needs EXECUTE on ebb_push, ebb_pull, ebb_pull_all, ebb_push_pull
    /// and rights on the synced tables. Default: run as the login role.
    /// In JWT mode this is the anonymous role: requests without a token,
    /// and tokens without a "role" claim, run as it (without it they get
    /// 401).
    #[arg(long)]
    role: Option<String>,
    /// JWT mode, as PostgREST and Supabase: the environment variable
    /// holding the HS256 secret (at least 32 bytes) that signs per-device
    /// tokens. Each request's "Authorization: Bearer <jwt>" is then
    /// verified (signature, exp, nbf, aud); its "role" claim is the role
    /// the request switches to (which the login role must be allowed to
    /// switch to) and its claims are visible to SQL as
    /// current_setting('request.jwt.claims', true), so row level security
    /// can differ per device. The apikey header must still be the API key;
    /// a request without a token, or with the API key as its bearer (as
    /// Supabase's anon key), is anonymous (see --role).
    #[arg(long, value_name = "VAR")]
    jwt_secret_env: Option<String>,
    /// JWT mode with the secret read from this file (a trailing newline is
    /// ignored); keep it mode 0600. See --jwt-secret-env.
    #[arg(long, value_name = "PATH")]
    jwt_secret_file: Option<std::path::PathBuf>,
    /// In JWT mode, the audience: a token with an "aud" claim must name it
    /// (tokens without "aud" are accepted, as in PostgREST).
    #[arg(long, value_name = "AUD", requires = "jwt_secret")]
    jwt_audience: Option<String>,
}

/// A gateway duration flag: "30s", "500ms", or bare seconds; not zero.
fn gateway_duration(text: &str) -> Result<Duration, String> {
    let d = match text.trim().parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text.trim()).map_err(|e| {
            format!("invalid duration {text:?}: {e} (expected e.g. \"500ms\", \"30s\", \"5m\")")
        })?,
    };
    if d.is_zero() {
        return Err(format!("must be longer than zero (got {text:?})"));
    }
    Ok(d)
}

/// A gateway size flag: "64MiB", "512KiB" or bytes; not zero.
fn gateway_size(text: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|e| {
        format!("invalid size {text:?}: {e} (expected e.g. \"512KiB\", \"64MiB\" or bytes)")
    })?;
    match size.as_u64() {
        0 => Err(format!("must be at least 1 byte (got {text:?})")),
        n => usize::try_from(n).map_err(|_| format!("{text:?} is too large")),
    }
}

async fn gateway(args: GatewayArgs) -> anyhow::Result<ExitCode> {
    let api_key = std::env::var(&args.api_key_env)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .with_context(|| {
            format!(
                "set the API key in the environment variable {}",
                args.api_key_env
            )
        })?;
    let jwt_secret = jwt_secret(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("--listen: cannot listen on {}", args.listen))?;
    let listen = args.listen.clone();
    let mut settings = gateway_settings(args, api_key.trim());
    if let (Some(jwt), Some(secret)) = (settings.jwt.as_mut(), jwt_secret) {
        jwt.secret = secret;
    }
    tracing::info!(
        %listen,
        jwt = settings.jwt.is_some(),
        "gateway serving /rest/v1/rpc/ebb_push and ebb_pull, and /realtime/v1/websocket"
    );
    ebb_gateway::serve(listener, settings, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT on unix; Ctrl-C elsewhere.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn gateway_settings(args: GatewayArgs, api_key: &str) -> GatewaySettings {
    let mut settings = GatewaySettings::new(args.database, api_key);
    settings.pool_size = args.pool_size;
    settings.statement_timeout = args.statement_timeout;
    settings.pool_wait_timeout = args.pool_wait_timeout;
    settings.max_body_bytes = args.max_body;
    settings.role = args.role;
    // The secret is read by `jwt_secret`; this only turns the mode on.
    if args.jwt_secret_env.is_some() || args.jwt_secret_file.is_some() {
        settings.jwt = Some(JwtSettings {
            secret: Vec::new(),
            audience: args.jwt_audience,
        });
    }
    settings
}

/// The JWT secret from --jwt-secret-env or --jwt-secret-file, without a
/// trailing newline. Errors name the variable or file, never the secret.
fn jwt_secret(args: &GatewayArgs) -> anyhow::Result<Option<Vec<u8>>> {
    let mut secret = if let Some(var) = &args.jwt_secret_env {
        std::env::var(var)
            .ok()
            .with_context(|| format!("set the JWT secret in the environment variable {var}"))?
            .into_bytes()
    } else if let Some(path) = &args.jwt_secret_file {
        std::fs::read(path)
            .with_context(|| format!("--jwt-secret-file: cannot read {}", path.display()))?
    } else {
        return Ok(None);
    };
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.len() < 32 {
        anyhow::bail!("the JWT secret must be at least 32 bytes long");
    }
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        gateway: GatewayArgs,
    }

    fn settings(flags: &[&str]) -> Result<GatewaySettings, clap::Error> {
        let argv = ["ebb", "--database", "host=/tmp"].iter().chain(flags);
        Flags::try_parse_from(argv).map(|c| gateway_settings(c.gateway, "k"))
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
        assert!(s.jwt.is_none());
        let s = settings(&["--jwt-secret-env", "S", "--jwt-audience", "ebb"]).unwrap();
        assert_eq!(s.jwt.and_then(|j| j.audience).as_deref(), Some("ebb"));
        assert!(settings(&["--jwt-secret-env", "S", "--jwt-secret-file", "/f"]).is_err());
        assert!(
            settings(&["--jwt-audience", "ebb"]).is_err(),
            "needs a secret"
        );
        for bad in [
            ["--statement-timeout", "0s"],
            ["--pool-wait-timeout", "soon"],
            ["--max-body", "0"],
            ["--max-body", "lots"],
        ] {
            assert!(settings(&bad).is_err(), "{bad:?}");
        }
    }

    fn args(flags: &[&str]) -> GatewayArgs {
        let argv = ["ebb", "--database", "host=/tmp"].iter().chain(flags);
        Flags::try_parse_from(argv).expect("flags").gateway
    }

    #[test]
    fn the_jwt_secret_is_read_from_a_file_and_checked_without_echoing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt");
        let secret = "s3cret-s3cret-s3cret-s3cret-s3cret";
        std::fs::write(&path, format!("{secret}\r\n")).expect("write");
        let read = jwt_secret(&args(&["--jwt-secret-file", path.to_str().expect("utf-8")]));
        assert_eq!(read.expect("read"), Some(secret.as_bytes().to_vec()));

        std::fs::write(&path, "short\n").expect("write");
        let err = jwt_secret(&args(&["--jwt-secret-file", path.to_str().expect("utf-8")]))
            .expect_err("too short");
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        assert!(!format!("{err:#}").contains("short"), "{err:#}");

        let err = jwt_secret(&args(&[
            "--jwt-secret-env",
            "EBB_TEST_NO_SUCH_VARIABLE_JWT",
        ]))
        .expect_err("unset");
        assert!(
            err.to_string().contains("EBB_TEST_NO_SUCH_VARIABLE_JWT"),
            "{err}"
        );
        assert_eq!(jwt_secret(&args(&[])).expect("no JWT mode"), None);
    }
}
