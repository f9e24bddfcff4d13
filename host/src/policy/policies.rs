//! `Policies`: every table's schema, validator and conflict strategy, built
//! once from the `Config` and shared by `sync` (it is `Send + Sync`).
//!
//! Owns turning plugin failures into values with their context (table, pk):
//! validation fails closed (`Invalid` with one violation), resolution falls
//! back to `Manual`. Owns hot reload: plugin files are stat'ed, re-hashed
//! when their mtime or length moved, and swapped in (calls in flight keep
//! the plugin they started with). Does no SQLite or network I/O.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use super::merge::merge;
use super::plugin::{Plugin, Resolution, plugin_name};
use super::sandbox::{Level, Sandbox};
use super::schema::{TableSchema, summary};
use super::{ConflictInput, Decision, PolicyError, Verdict, Violation};
use crate::config::{BothChanged, Config, ConflictPolicy, PluginLimits, TableConfig};
use crate::model::Row;

/// Every configured table's policies.
#[derive(Debug)]
pub struct Policies {
    sandbox: Sandbox,
    tables: Vec<Table>,
}

#[derive(Debug)]
struct Table {
    name: String,
    schema: Option<TableSchema>,
    validate: Option<Slot>,
    conflict: Strategy,
    limits: PluginLimits,
}

#[derive(Debug)]
enum Strategy {
    ServerWins,
    ClientWins,
    Manual,
    Merge {
        on_both: BothChanged,
        delta_fields: Vec<String>,
    },
    Plugin(Slot),
}

/// Which export a slot's plugin must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Validator,
    Resolver,
}

/// One configured plugin file and the version of it in use.
#[derive(Debug)]
struct Slot {
    path: PathBuf,
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

impl Policies {
    /// Compiles every table's JSON Schema and loads every configured plugin
    /// (`validate`, and `conflict = plugin`). The first failure is returned,
    /// naming the table, the file and the cause.
    pub fn load(config: &Config) -> Result<Policies, PolicyError> {
        let sandbox = Sandbox::new()?;
        let tables = config
            .tables
            .iter()
            .map(|t| Table::load(&sandbox, t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policies { sandbox, tables })
    }

    /// The engine plugins run in, for tooling that loads extra plugins.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Schema check, then the validator plugin if any. Fails closed: an
    /// unknown table or a plugin failure gives `Invalid` with one violation
    /// naming plugin, table, pk and cause.
    pub fn validate(&self, table: &str, pk: &str, row: &Row) -> Verdict {
        let Some(t) = self.table(table) else {
            return invalid(format!("table {table} is not configured for sync"));
        };
        if let Some(schema) = &t.schema {
            let violations = schema.check(row);
            if !violations.is_empty() {
                return Verdict::Invalid(violations);
            }
        }
        let Some(slot) = &t.validate else {
            return Verdict::Valid;
        };
        let plugin = slot.plugin();
        let json = match serde_json::to_string(row) {
            Ok(json) => json,
            Err(e) => return invalid(format!("table {table}, pk {pk}: row is not JSON: {e}")),
        };
        match plugin.validate(&t.limits, table, &json) {
            Ok(report) => {
                forward_log(plugin.name(), table, pk, &report.log);
                match report.value {
                    Ok(()) => Verdict::Valid,
                    Err(list) if list.is_empty() => invalid(format!(
                        "plugin {} rejected the row without a reason",
                        plugin.name()
                    )),
                    Err(list) => Verdict::Invalid(list),
                }
            }
            Err(e) => invalid(format!("table {table}, pk {pk}: {e}")),
        }
    }

    /// Settles one conflict by the table's policy. A plugin's inputs are
    /// schema-checked first and a merged row (plugin or built-in) after;
    /// any failure gives `Manual` with a reason naming plugin, table, pk
    /// and cause.
    pub fn resolve(&self, table: &str, pk: &str, input: &ConflictInput) -> Decision {
        let Some(t) = self.table(table) else {
            return Decision::Manual(format!("table {table} is not configured for sync"));
        };
        match &t.conflict {
            Strategy::ServerWins => Decision::TakeRemote,
            Strategy::ClientWins => Decision::TakeLocal,
            Strategy::Manual => Decision::Manual(format!(
                "table {table} settles conflicts by hand (conflict = \"manual\")"
            )),
            Strategy::Merge {
                on_both,
                delta_fields,
            } => {
                let decision = merge(
                    input.local.as_ref(),
                    input.remote.as_ref(),
                    input.base.as_ref(),
                    *on_both,
                    delta_fields,
                );
                match (&decision, &t.schema) {
                    (Decision::Merged(Some(row)), Some(schema)) => {
                        let violations = schema.check(row);
                        if violations.is_empty() {
                            decision
                        } else {
                            Decision::Manual(format!(
                                "table {table}, pk {pk}: merged row fails the schema: {}",
                                summary(&violations)
                            ))
                        }
                    }
                    _ => decision,
                }
            }
            Strategy::Plugin(slot) => t.resolve_by_plugin(slot, pk, input),
        }
    }

    /// Short name of the table's conflict policy for records: `server_wins`,
    /// `client_wins`, `manual`, `merge`, `plugin:FILE`.
    pub fn policy_name(&self, table: &str) -> String {
        match self.table(table).map(|t| &t.conflict) {
            None => "unknown".into(),
            Some(Strategy::ServerWins) => "server_wins".into(),
            Some(Strategy::ClientWins) => "client_wins".into(),
            Some(Strategy::Manual) => "manual".into(),
            Some(Strategy::Merge { .. }) => "merge".into(),
            Some(Strategy::Plugin(slot)) => format!("plugin:{}", plugin_name(&slot.path)),
        }
    }

    /// Reloads plugin files whose content changed on disk (a stat per file
    /// when nothing did). Calls in flight keep the old plugin; a file that
    /// fails to load keeps the old one too and is reported. Returns one
    /// entry per reloaded (or failed) plugin, with its table.
    pub fn reload_changed(&self) -> Vec<(String, Result<(), PolicyError>)> {
        let mut out = Vec::new();
        for t in &self.tables {
            let slots = [
                t.validate.as_ref(),
                match &t.conflict {
                    Strategy::Plugin(slot) => Some(slot),
                    _ => None,
                },
            ];
            for slot in slots.into_iter().flatten() {
                if let Some(result) = slot.reload_if_changed(&self.sandbox, &t.name) {
                    out.push((t.name.clone(), result));
                }
            }
        }
        out
    }

    fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl Table {
    fn load(sandbox: &Sandbox, config: &TableConfig) -> Result<Table, PolicyError> {
        let name = &config.name;
        let schema = match &config.schema {
            Some(file) => Some(TableSchema::compile(name, file)?),
            None => None,
        };
        let validate = match &config.validate {
            Some(path) => Some(Slot::load(sandbox, path, Role::Validator, name)?),
            None => None,
        };
        let conflict = match &config.conflict {
            ConflictPolicy::ServerWins => Strategy::ServerWins,
            ConflictPolicy::ClientWins => Strategy::ClientWins,
            ConflictPolicy::Manual => Strategy::Manual,
            ConflictPolicy::Merge {
                on_both,
                delta_fields,
            } => Strategy::Merge {
                on_both: *on_both,
                delta_fields: delta_fields.clone(),
            },
            ConflictPolicy::Plugin(path) => {
                Strategy::Plugin(Slot::load(sandbox, path, Role::Resolver, name)?)
            }
        };
        Ok(Table {
            name: name.clone(),
            schema,
            validate,
            conflict,
            limits: config.limits.clone(),
        })
    }

    fn resolve_by_plugin(&self, slot: &Slot, pk: &str, input: &ConflictInput) -> Decision {
        let plugin = slot.plugin();
        let table = &self.name;
        let context = |cause: String| {
            Decision::Manual(format!(
                "plugin {}: table {table}, pk {pk}: {cause}",
                plugin.name()
            ))
        };
        let sides = [
            ("local", &input.local),
            ("remote", &input.remote),
            ("base", &input.base),
        ];
        if let Some(schema) = &self.schema {
            for (side, row) in sides {
                let violations = row.as_ref().map(|r| schema.check(r)).unwrap_or_default();
                if !violations.is_empty() {
                    return context(format!(
                        "{side} row fails the schema: {}",
                        summary(&violations)
                    ));
                }
            }
        }
        let text = |row: &Option<Row>| match row {
            Some(row) => serde_json::to_string(row).unwrap_or_else(|_| "null".into()),
            None => "null".into(),
        };
        let base = input.base.as_ref().map(|_| text(&input.base));
        let report = match plugin.resolve(
            &self.limits,
            table,
            &text(&input.local),
            &text(&input.remote),
            base.as_deref(),
        ) {
            Ok(report) => report,
            Err(e) => return Decision::Manual(format!("table {table}, pk {pk}: {e}")),
        };
        forward_log(plugin.name(), table, pk, &report.log);
        match report.value {
            Resolution::TakeLocal => Decision::TakeLocal,
            Resolution::TakeRemote => Decision::TakeRemote,
            Resolution::Manual(reason) => Decision::Manual(reason),
            Resolution::Merged(row) => {
                let violations = self
                    .schema
                    .as_ref()
                    .map(|s| s.check(&row))
                    .unwrap_or_default();
                if violations.is_empty() {
                    return Decision::Merged(Some(row));
                }
                let e = PolicyError::OutputSchema {
                    plugin: plugin.name().to_string(),
                    table: table.clone(),
                    errors: summary(&violations),
                };
                Decision::Manual(format!("table {table}, pk {pk}: {e}"))
            }
        }
    }
}

impl Slot {
    fn load(sandbox: &Sandbox, path: &Path, role: Role, table: &str) -> Result<Slot, PolicyError> {
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
    fn plugin(&self) -> Arc<Plugin> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// `None` when the file did not change.
    fn reload_if_changed(&self, sandbox: &Sandbox, table: &str) -> Option<Result<(), PolicyError>> {
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
        Role::Validator => (plugin.validates(), super::VALIDATE_EXPORT),
        Role::Resolver => (plugin.resolves(), super::RESOLVE_EXPORT),
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

fn invalid(message: String) -> Verdict {
    Verdict::Invalid(vec![Violation {
        field: String::new(),
        message,
    }])
}

/// Passes a plugin's log lines on to tracing.
fn forward_log(plugin: &str, table: &str, pk: &str, log: &[(Level, String)]) {
    for (level, line) in log {
        match level {
            Level::Debug => tracing::debug!(plugin, table, pk, "{line}"),
            Level::Info => tracing::info!(plugin, table, pk, "{line}"),
            Level::Warn => tracing::warn!(plugin, table, pk, "{line}"),
            Level::Error => tracing::error!(plugin, table, pk, "{line}"),
        }
    }
}

#[cfg(test)]
mod tests;
