//! `Policies`: every table's schema, validator and conflict strategy, built
//! once from the `Config` and shared by `sync` (it is `Send + Sync`).
//!
//! Owns turning plugin failures into values with their context (table, pk):
//! validation fails closed (`Invalid` with one violation), resolution falls
//! back to `Manual`, also when a merged row is not the conflict's row in the
//! table's shape (`shape.rs`). Hot reload of plugin files is `reload.rs`.
//! Every plugin call is counted by result (`calls.rs`) for `sync` to take.
//! Does no SQLite or network I/O: the caller passes each table's columns
//! in (`set_shape`).

use super::calls::{PluginCall, Tally, failed};
use super::merge::merge;
use super::plugin::{Resolution, plugin_name};
use super::reload::{Role, Slot};
use super::sandbox::{Level, Sandbox};
use super::schema::{TableSchema, summary};
use super::shape::{Answerer, Shape, check_merged};
use super::{ConflictInput, Decision, PolicyError, Verdict, Violation};
use crate::config::{BothChanged, Config, ConflictPolicy, PluginLimits, TableConfig};
use crate::model::Row;

/// Every configured table's policies.
#[derive(Debug)]
pub struct Policies {
    sandbox: Sandbox,
    tables: Vec<Table>,
    /// Plugin calls since `take_plugin_calls` last ran.
    calls: Tally,
}

#[derive(Debug)]
struct Table {
    name: String,
    schema: Option<TableSchema>,
    /// The key column (from the config) and, once `set_shape` ran, the
    /// local columns: what a merged row must match (set again when the
    /// app's schema changes while ebb runs).
    shape: std::sync::RwLock<Shape>,
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
        Ok(Policies {
            sandbox,
            tables,
            calls: Tally::default(),
        })
    }

    /// Tells the policies a table's key column and local columns (as
    /// `local::describe` reports them): from then on a merged row (plugin or
    /// built-in merge) that misses one of them or names another is left to
    /// a person. Until then only its key is checked, by the configured
    /// `pk`. A table that is not configured is ignored.
    pub fn set_shape(&self, table: &str, pk_column: &str, columns: Vec<String>) {
        if let Some(t) = self.tables.iter().find(|t| t.name == table) {
            let shape = Shape::new(pk_column, columns);
            *t.shape
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = shape;
        }
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
        let called = plugin.validate(&t.limits, table, &json);
        let result = called.as_ref().map_or_else(|f| failed(&f.error), |_| "ok");
        self.calls.count(table, "validate", result);
        match called {
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
            Err(failure) => {
                forward_log(plugin.name(), table, pk, &failure.log);
                invalid(format!("table {table}, pk {pk}: {}", failure.error))
            }
        }
    }

    /// Settles one conflict by the table's policy. A plugin's inputs are
    /// schema-checked first and a merged row (plugin or built-in) after, by
    /// `shape::check_merged` (same key, the table's columns, the schema);
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
                t.checked(Answerer::Merge, pk, decision)
            }
            Strategy::Plugin(slot) => {
                let (decision, result) = t.resolve_by_plugin(slot, pk, input);
                if let Some(result) = result {
                    self.calls.count(table, "resolve", result);
                }
                decision
            }
        }
    }

    /// The plugin calls made since the last time this was asked, per
    /// table, kind and result (`sync` feeds them to its metrics).
    pub fn take_plugin_calls(&self) -> Vec<(PluginCall, u64)> {
        self.calls.take()
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

    /// Whether the table's policy may merge counters by their deltas from
    /// the base (`merge` with `delta_fields`, or a plugin): then two sides
    /// that ended equal are still a conflict to settle (each sold one of
    /// 26: 24, not 25). Other policies take either side of equal rows.
    pub fn merges_deltas(&self, table: &str) -> bool {
        match self.table(table).map(|t| &t.conflict) {
            Some(Strategy::Merge { delta_fields, .. }) => !delta_fields.is_empty(),
            Some(Strategy::Plugin(_)) => true,
            _ => false,
        }
    }

    /// Reloads plugin files whose content changed on disk (a stat per file
    /// when nothing did). Calls in flight keep the old plugin; a file that
    /// fails to load keeps the old one too and is reported. Returns one
    /// entry per reloaded (or failed) plugin, with its table.
    pub fn reload_changed(&self) -> Vec<(String, Result<(), PolicyError>)> {
        let mut out = Vec::new();
        for (table, slot) in self.slots() {
            if let Some(result) = slot.reload_if_changed(&self.sandbox, table) {
                out.push((table.to_string(), result));
            }
        }
        if !out.is_empty() {
            // Versions no table uses any more leave the compiled cache (a
            // call in flight holds its own reference).
            let live: Vec<[u8; 32]> = self.slots().map(|(_, s)| s.plugin().hash()).collect();
            self.sandbox.keep_compiled(&live);
        }
        out
    }

    /// Every configured plugin file, with its table.
    fn slots(&self) -> impl Iterator<Item = (&str, &Slot)> {
        self.tables.iter().flat_map(|t| {
            let resolver = match &t.conflict {
                Strategy::Plugin(slot) => Some(slot),
                _ => None,
            };
            [t.validate.as_ref(), resolver]
                .into_iter()
                .flatten()
                .map(|slot| (t.name.as_str(), slot))
        })
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
            shape: std::sync::RwLock::new(Shape::key_only(&config.pk)),
            validate,
            conflict,
            limits: config.limits.clone(),
        })
    }

    /// The plugin's decision, and how its call ended (`None`: not called,
    /// the inputs failed the schema).
    fn resolve_by_plugin(
        &self,
        slot: &Slot,
        pk: &str,
        input: &ConflictInput,
    ) -> (Decision, Option<&'static str>) {
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
                    let why = format!("{side} row fails the schema: {}", summary(&violations));
                    return (context(why), None);
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
            Err(failure) => {
                forward_log(plugin.name(), table, pk, &failure.log);
                let why = format!("table {table}, pk {pk}: {}", failure.error);
                return (Decision::Manual(why), Some(failed(&failure.error)));
            }
        };
        forward_log(plugin.name(), table, pk, &report.log);
        let decision = match report.value {
            Resolution::TakeLocal => Decision::TakeLocal,
            Resolution::TakeRemote => Decision::TakeRemote,
            Resolution::Manual(reason) => Decision::Manual(reason),
            Resolution::Merged(row) => {
                let who = Answerer::Plugin(plugin.name());
                match self.checked(who, pk, Decision::Merged(Some(row))) {
                    refused @ Decision::Manual(_) => return (refused, Some("bad_output")),
                    merged => merged,
                }
            }
        };
        (decision, Some("ok"))
    }

    /// `decision`, unless it is a merged row that fails `check_merged`
    /// (shape, then schema): then `Manual` with the reason.
    fn checked(&self, who: Answerer<'_>, pk: &str, decision: Decision) -> Decision {
        let Decision::Merged(Some(row)) = &decision else {
            return decision;
        };
        let schema = self.schema.as_ref();
        let shape = self
            .shape
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match check_merged(who, &self.name, pk, Some(&shape), schema, row) {
            Ok(()) => decision,
            Err(reason) => Decision::Manual(reason),
        }
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
