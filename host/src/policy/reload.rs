//! Hot reload of plugin files: one `Slot` per configured plugin.
//!
//! Owns the file's last stamp (mtime, length, content hash) and the plugin
//! in use behind an `Arc` swap: a reload check is one stat when nothing
//! changed; a changed file is re-read, re-hashed and swapped in only when
//! its content differs and it loads; calls in flight keep the plugin they
//! started with. Called by `Policies` (load and `reload_changed`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use super::plugin::{Plugin, plugin_name};
use super::sandbox::Sandbox;
use super::{PolicyError, RESOLVE_EXPORT, VALIDATE_EXPORT};

/// Which export a slot's plugin must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Validator,
    Resolver,
}

/// One configured plugin file and the version of it in use.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) path: PathBuf,
    role: Role,
    current: RwLock<Arc<Plugin>>,
    stamp: Mutex<Stamp>,
}

/// What the file looked like when last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    hash: [u8; 32],
}

impl Slot {
    pub(super) fn load(
        sandbox: &Sandbox,
        path: &Path,
        role: Role,
        table: &str,
    ) -> Result<Slot, PolicyError> {
        let key = match role {
            Role::Validator => "validate",
            Role::Resolver => "resolver",
        };
        let in_config = |e: PolicyError| PolicyError::Config {
            key: format!("tables.{table}.{key}"),
            source: Box::new(e),
        };
        let (modified, len) = stat(path);
        let plugin = Plugin::load(sandbox, path).map_err(in_config)?;
        check_role(&plugin, role).map_err(in_config)?;
        Ok(Slot {
            path: path.to_path_buf(),
            role,
            stamp: Mutex::new(Stamp {
                modified,
                len,
                hash: plugin.hash(),
            }),
            current: RwLock::new(Arc::new(plugin)),
        })
    }

    /// The plugin in use now; the caller keeps it for the whole call.
    pub(super) fn plugin(&self) -> Arc<Plugin> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// `None` when the file did not change.
    pub(super) fn reload_if_changed(
        &self,
        sandbox: &Sandbox,
        table: &str,
    ) -> Option<Result<(), PolicyError>> {
        let mut stamp = self.stamp.lock().unwrap_or_else(|p| p.into_inner());
        let (modified, len) = stat(&self.path);
        if stamp.modified == modified && stamp.len == len {
            return None;
        }
        stamp.modified = modified;
        stamp.len = len;
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Some(Err(PolicyError::Load {
                    plugin: plugin_name(&self.path),
                    message: format!("cannot read {}: {e}", self.path.display()),
                }));
            }
        };
        let loaded = Plugin::from_bytes(sandbox, &plugin_name(&self.path), &bytes)
            .and_then(|p| check_role(&p, self.role).map(|()| p));
        let plugin = match loaded {
            Ok(plugin) => plugin,
            Err(e) => return Some(Err(e)),
        };
        if plugin.hash() == stamp.hash {
            return None;
        }
        stamp.hash = plugin.hash();
        tracing::info!(table, plugin = plugin.name(), "plugin reloaded");
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(plugin),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(plugin),
        }
        Some(Ok(()))
    }
}

fn check_role(plugin: &Plugin, role: Role) -> Result<(), PolicyError> {
    let (ok, needed) = match role {
        Role::Validator => (plugin.validates(), VALIDATE_EXPORT),
        Role::Resolver => (plugin.resolves(), RESOLVE_EXPORT),
    };
    if ok {
        return Ok(());
    }
    Err(PolicyError::Load {
        plugin: plugin.name().to_string(),
        message: format!("this plugin must export {needed}, and does not"),
    })
}

/// mtime and length, `(None, 0)` when the file cannot be stat'ed.
fn stat(path: &Path) -> (Option<SystemTime>, u64) {
    match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    }
}
