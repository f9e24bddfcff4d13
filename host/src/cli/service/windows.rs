//! `ebb service` on Windows: installing and removing the service with the
//! service manager, and the service's own entry point, which runs the
//! daemon until the manager says stop (checked between rounds).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

use super::{InstallArgs, NameArgs, RunArgs};
use crate::cli::load::{load_with_database, render_error};
use crate::config::KeySource;

/// How long a stop may take per progress report: a round finishing
/// its current batch, up to the remote's timeout.
const STOP_HINT: Duration = Duration::from_secs(30);

pub(super) fn install(config: &Path, args: InstallArgs) -> anyhow::Result<ExitCode> {
    let NameArgs { name } = args.name;
    // Refused now, at the prompt, rather than in a log at boot.
    let loaded = load_with_database(config)?;
    let config = std::path::absolute(config)
        .with_context(|| format!("cannot resolve {}", config.display()))?;
    let dir = config.parent().unwrap_or(Path::new("."));
    let log = match args.log {
        Some(log) => std::path::absolute(&log)
            .with_context(|| format!("--log: cannot resolve {}", log.display()))?,
        None => dir.join(format!("ebb-{name}.log")),
    };
    let account = args
        .account
        .unwrap_or_else(|| format!("NT SERVICE\\{name}"));
    let executable = std::env::current_exe().context("cannot find ebb.exe's own path")?;
    let info = ServiceInfo {
        name: OsString::from(&name),
        display_name: OsString::from(format!("ebb sync ({name})")),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: executable,
        launch_arguments: vec![
            "--config".into(),
            config.clone().into_os_string(),
            "service".into(),
            "run".into(),
            "--name".into(),
            OsString::from(&name),
            "--log".into(),
            log.clone().into_os_string(),
        ],
        dependencies: vec![],
        account_name: (!account.eq_ignore_ascii_case("LocalSystem"))
            .then(|| OsString::from(&account)),
        account_password: None,
    };
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .context("cannot open the service manager (run this from an administrator's prompt)")?;
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .with_context(|| {
            format!(
                "cannot create the service {name} (to change one that exists: \
                 ebb service uninstall --name {name}, then install again)"
            )
        })?;
    // Both are niceties: the service works without them (Wine has no
    // delayed start), so a refusal is reported, not fatal.
    let description = format!(
        "Syncs {} with the server (ebb run; {})",
        loaded.database.display(),
        config.display()
    );
    if let Err(e) = service.set_description(description) {
        say!(
            "note: the service has no description: {}",
            render_error(&e.into())
        );
    }
    // After the boot's rush, when the network is more likely up.
    if let Err(e) = service.set_delayed_auto_start(true) {
        say!(
            "note: the service starts at boot, not delayed after it: {}",
            render_error(&e.into())
        );
    }
    say!("installed the service {name}, running as {account}, starting with Windows");
    say!("its log: {}", log.display());
    if !account.eq_ignore_ascii_case("LocalSystem") {
        say!("grant its account what it needs (from this prompt):");
        let folder = |p: &Path| p.parent().unwrap_or(Path::new(".")).to_path_buf();
        let needs = [
            (dir.to_path_buf(), "RX", "policies.toml, schemas, plugins"),
            (folder(&loaded.database), "M", "the database, -wal and -shm"),
            (folder(&log), "M", "the log"),
        ];
        // One line per folder, with the most it needs (M includes RX).
        let mut grants: Vec<(PathBuf, &str, String)> = Vec::new();
        for (path, rights, what) in needs {
            match grants.iter_mut().find(|g| g.0 == path) {
                Some(g) => {
                    if rights == "M" {
                        g.1 = rights;
                    }
                    g.2 = format!("{}; {what}", g.2);
                }
                None => grants.push((path, rights, what.to_string())),
            }
        }
        // Each command alone on its line: cmd and PowerShell differ on
        // comments.
        for (path, rights, what) in grants {
            say!("  {what}:");
            say!(
                "    icacls \"{}\" /grant \"{account}:(OI)(CI){rights}\"",
                path.display()
            );
        }
        if let Some(KeySource::File(key)) = &loaded.remote.api_key {
            say!("  the API key, for it and Administrators only:");
            say!(
                "    icacls \"{}\" /inheritance:r /grant \"{account}:R\" /grant \"Administrators:F\"",
                key.display()
            );
        }
    }
    if let Some(KeySource::Env(var)) = &loaded.remote.api_key {
        say!(
            "note: a service does not see your prompt's {var}: set remote.api_key_file \
             in policies.toml (readable by the service's account only)"
        );
    }
    say!(
        "start it: sc start {name}   (status: ebb --config \"{}\" status)",
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn uninstall(name: &str) -> anyhow::Result<ExitCode> {
    let manager = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .context("cannot open the service manager (run this from an administrator's prompt)")?;
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
    let service = manager
        .open_service(name, access)
        .with_context(|| format!("cannot open the service {name}"))?;
    let status = service
        .query_status()
        .with_context(|| format!("cannot read the state of {name}"))?;
    if status.current_state != ServiceState::Stopped {
        service
            .stop()
            .with_context(|| format!("cannot stop the service {name}"))?;
        // The round in progress finishes first.
        let deadline = Instant::now() + STOP_HINT * 4;
        while service.query_status()?.current_state != ServiceState::Stopped {
            if Instant::now() > deadline {
                bail!("the service {name} did not stop within {:?}", STOP_HINT * 4);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    service
        .delete()
        .with_context(|| format!("cannot remove the service {name}"))?;
    say!("removed the service {name} (its database and log are kept)");
    Ok(ExitCode::SUCCESS)
}

/// What the control manager's thread needs: the config, name and log
/// file, and the runtime `main` built; `failed` is its answer.
struct Started {
    config: PathBuf,
    name: String,
    log: PathBuf,
    runtime: tokio::runtime::Handle,
    failed: std::sync::atomic::AtomicBool,
}

static STARTED: OnceLock<Started> = OnceLock::new();

define_windows_service!(ffi_service_main, service_main);

pub(super) fn run(config: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = Started {
        config: config.to_path_buf(),
        name: args.name.name.clone(),
        log: args.log,
        runtime: tokio::runtime::Handle::current(),
        failed: false.into(),
    };
    if STARTED.set(started).is_err() {
        bail!("ebb service run: started twice");
    }
    // Blocks until the service has stopped.
    service_dispatcher::start(&args.name.name, ffi_service_main).context(
        "ebb service run is started by the service control manager (sc start NAME), \
         not from a prompt; run `ebb run` there",
    )?;
    let failed = STARTED
        .get()
        .is_some_and(|s| s.failed.load(std::sync::atomic::Ordering::Relaxed));
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Sends this process's stderr, where the log goes, to `path`: a
/// service has no console.
fn log_to(path: &Path) -> anyhow::Result<()> {
    use std::os::windows::io::IntoRawHandle;
    use windows_sys::Win32::System::Console::{STD_ERROR_HANDLE, SetStdHandle};
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("--log: cannot open {}", path.display()))?;
    // The handle stays open for the life of the process.
    let handle = file.into_raw_handle();
    // SAFETY: `handle` is a valid file handle that is never closed.
    if unsafe { SetStdHandle(STD_ERROR_HANDLE, handle) } == 0 {
        bail!(
            "--log: cannot send the log to {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn service_main(_arguments: Vec<OsString>) {
    let Some(started) = STARTED.get() else {
        return;
    };
    if let Err(e) = serve(started) {
        started
            .failed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::error!("the service stopped: {}", render_error(&e));
    }
}

fn serve(started: &Started) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown | ServiceControl::Preshutdown => {
            let _ = stop_tx.send(true);
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(&started.name, handler)
        .context("cannot register with the service control manager")?;
    let status = |state, checkpoint, exit_code| ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        },
        exit_code,
        checkpoint,
        wait_hint: if state == ServiceState::StopPending {
            STOP_HINT
        } else {
            Duration::ZERO
        },
        process_id: None,
    };
    // Only now, under the control manager: from a prompt, the error
    // that `run` returns goes to the console. A log that cannot be
    // opened still ends in a reported stop, with exit code 2.
    let ran = log_to(&started.log).and_then(|()| {
        handle.set_service_status(status(ServiceState::Running, 0, ServiceExitCode::NO_ERROR))?;
        tracing::info!(service = %started.name, "service running");
        run_until_stopped(started, stop_rx, |checkpoint| {
            let pending = status(
                ServiceState::StopPending,
                checkpoint,
                ServiceExitCode::NO_ERROR,
            );
            let _ = handle.set_service_status(pending);
        })
    });
    let exit_code = match &ran {
        Ok(()) => ServiceExitCode::NO_ERROR,
        Err(_) => ServiceExitCode::ServiceSpecific(2),
    };
    handle.set_service_status(status(ServiceState::Stopped, 0, exit_code))?;
    ran
}

/// `ebb run` until the control manager asks for a stop; meanwhile
/// `stop_pending` reports progress (checkpoints 1, 2, ...) while the
/// round in progress finishes, so the stop is not taken for hung.
fn run_until_stopped(
    started: &Started,
    mut stop_rx: tokio::sync::watch::Receiver<bool>,
    stop_pending: impl Fn(u32),
) -> anyhow::Result<()> {
    let mut stopping = stop_rx.clone();
    let ran = started.runtime.block_on(async {
        let shutdown = async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        let run = crate::cli::sync::run_until(&started.config, shutdown);
        tokio::pin!(run);
        let mut checkpoint = 0;
        loop {
            let next_report = async {
                if checkpoint == 0 {
                    let _ = stopping.wait_for(|stop| *stop).await;
                    tracing::info!("stop requested; the round in progress finishes first");
                } else {
                    tokio::time::sleep(STOP_HINT / 3).await;
                }
            };
            tokio::select! {
                ran = &mut run => break ran,
                () = next_report => {
                    checkpoint += 1;
                    stop_pending(checkpoint);
                }
            }
        }
    });
    ran.map(drop)
}
