//! The engine fitted to the app's schema: capture triggers installed or
//! refreshed, each table's columns told to the policies (what a merged
//! row must match) and the key plan (which tables map integer keys, and
//! the foreign keys to them). Done when the engine starts, and again at
//! the start of a round when the app changed its schema since (`PRAGMA
//! schema_version`): a migration that rebuilds a table drops ebb's
//! triggers with it, and until they are back the app's writes to it are
//! not captured; a column added was left out of a merged row. The
//! install queues what a rebuilt table holds (`local::triggers`).

use super::{Engine, SyncError, spec};
use crate::config::{Config, KeyMode};
use crate::local::{KeyPlan, Local, TableSpec};
use crate::policy::Policies;
use crate::remote::Remote;

/// What fitting the engine to the schema gave.
pub(super) struct Fitted {
    pub(super) keys: KeyPlan,
    /// The schema version fitted to: the install's own changes in, read
    /// inside its transaction, so a migration committed right after is
    /// still seen as a change.
    pub(super) version: i64,
}

/// Fits `local` and `policies` to the app's schema as it is now.
pub(super) fn fit(
    local: &mut Local,
    config: &Config,
    specs: &[TableSpec],
    policies: &Policies,
) -> Result<Fitted, SyncError> {
    let mapped: Vec<(TableSpec, bool)> = config
        .tables
        .iter()
        .map(|t| (spec(t), t.keys == KeyMode::Map))
        .collect();
    let mapped_names: Vec<&str> = mapped
        .iter()
        .filter(|(_, m)| *m)
        .map(|(s, _)| s.name.as_str())
        .collect();
    let version = local.install_fitted(specs, &mapped_names)?;
    // A resolver's merged row must be a row of this table: same key,
    // exactly its columns (else it goes to a person, never wedges).
    for spec in specs {
        let info = crate::local::describe(local, &spec.name)?;
        let columns = info.columns.into_iter().map(|c| c.name).collect();
        policies.set_shape(&spec.name, &spec.pk, columns);
    }
    let declared: Vec<(String, String, String)> = config
        .tables
        .iter()
        .flat_map(|t| {
            t.references
                .iter()
                .map(|(c, p)| (t.name.clone(), c.clone(), p.clone()))
        })
        .collect();
    let keys = local.key_plan(&mapped, &declared)?;
    Ok(Fitted { keys, version })
}

impl<R: Remote> Engine<R> {
    /// Fits the engine again when the app's schema changed since it last
    /// did (one cheap read when it did not).
    pub(super) fn refit_if_changed(&mut self) -> Result<(), SyncError> {
        if crate::local::schema_version(&self.local)? == self.schema_version {
            return Ok(());
        }
        let fitted = fit(&mut self.local, &self.config, &self.specs, &self.policies)?;
        tracing::info!(
            "the app's schema changed: capture triggers, merge shapes and key plan fitted again"
        );
        self.keys = fitted.keys;
        self.schema_version = fitted.version;
        Ok(())
    }
}
