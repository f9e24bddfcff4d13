//! `ebb device`: print this database's device id, or give it a new one
//! (`--new`) after its disk was cloned block by block, which keeps even the
//! file's identity, so ebb cannot tell the clone from the original.
//!
//! `--new` takes the sync lease for the moment it takes, so it never runs
//! under a sync in progress; a running `ebb run` picks the new id up at
//! its next round.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::load::open;
use crate::local::Lease;
use crate::sync::now_ms;

#[derive(Args, Debug)]
pub struct DeviceArgs {
    /// Give this database a new device id. Do it on a till whose disk was
    /// cloned from another one (dd, a VM image), before its first sync.
    /// A file copy or a restored backup is detected and needs no help.
    #[arg(long)]
    new: bool,
}

/// Who holds the lease while the id changes.
const OWNER: &str = "ebb device --new";

pub fn device(path: &Path, args: DeviceArgs) -> anyhow::Result<ExitCode> {
    let (config, mut local) = open(path)?;
    if !args.new {
        say!("{}", local.device_id());
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_ms();
    if let Lease::Held { owner, .. } = local.lease_acquire(OWNER, Duration::from_secs(30), now)? {
        eprintln!(
            "ebb: a sync is running on {} ({owner}); the device id was not changed. \
             Try again when it ends.",
            config.database.display()
        );
        return Ok(ExitCode::from(3));
    }
    let old = local.device_id().to_string();
    let renewed = local.renew_device_id();
    local.lease_release(OWNER)?;
    let new = renewed?;
    say!("device id: {old} -> {new}");
    Ok(ExitCode::SUCCESS)
}
