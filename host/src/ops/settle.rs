//! A person settling a conflict, the same way from `ebb conflicts resolve`
//! and `POST /api/conflicts/{id}/resolve`: the conflict must be open, a
//! written row must be a row of the table (its columns, its key) and pass
//! the table's JSON Schema and validator plugin, and only then is the
//! conflict settled (one local transaction). A refusal changes nothing.
//!
//! Owns the checks and the typed refusal (who is at fault, what and where);
//! the writing is `Local::resolve_conflict`. Called by `cli::inspect` and
//! `ops::api`.

use serde::Serialize;

use crate::local::{Choice, ConflictRecord, Local, LocalError};
use crate::model::Row;
use crate::policy::{Policies, Verdict};

/// Why a resolution was refused. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No conflict has that id (it never existed or was pruned).
    #[error("conflict #{id} not found")]
    NotFound { id: i64 },
    /// The conflict was settled already (by someone else, or sync).
    #[error("conflict #{id} ({table}/{pk}) is already settled ({how})")]
    Settled {
        id: i64,
        table: String,
        pk: String,
        how: String,
    },
    /// The row moved on since (settled by sync): look at it again.
    #[error("{0}")]
    Stale(String),
    /// The written row is not a row of the table: `field` names the
    /// column at fault.
    #[error("{message}")]
    NotARow { field: String, message: String },
    /// The written row fails the table's schema or validator.
    #[error("the row fails validation: {summary}")]
    Invalid {
        summary: String,
        violations: Vec<Broken>,
    },
    /// The database refused (busy, disk): not the request's fault.
    #[error(transparent)]
    Local(LocalError),
}

/// One rule a written row breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// The column (a dotted path; empty for the whole row).
    pub field: String,
    pub message: String,
}

/// The open conflict `id`, or why it cannot be settled.
pub fn open_conflict(local: &Local, id: i64) -> Result<ConflictRecord, Refused> {
    let c = match local.conflict(id) {
        Ok(c) => c,
        Err(LocalError::NotFound { .. }) => return Err(Refused::NotFound { id }),
        Err(e) => return Err(Refused::Local(e)),
    };
    if let Some(how) = &c.resolution {
        return Err(Refused::Settled {
            id,
            table: c.table.clone(),
            pk: c.pk.clone(),
            how: how.clone(),
        });
    }
    Ok(c)
}

/// Checks a written row for conflict `c`: only the table's columns, every
/// one of them, the conflict's key, then schema and validator.
pub fn check_row(
    local: &Local,
    policies: &Policies,
    c: &ConflictRecord,
    row: &Row,
) -> Result<(), Refused> {
    let info = crate::local::describe(local, &c.table).map_err(Refused::Local)?;
    let names = || {
        info.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(unknown) = row.keys().find(|k| info.column(k).is_none()) {
        return Err(Refused::NotARow {
            field: unknown.clone(),
            message: format!(
                "\"{unknown}\" is not a column of {} (it has: {})",
                c.table,
                names()
            ),
        });
    }
    if let Some(missing) = info.columns.iter().find(|col| !row.contains_key(&col.name)) {
        return Err(Refused::NotARow {
            field: missing.name.clone(),
            message: format!(
                "the row lacks the column \"{}\" of {} (write every column: {})",
                missing.name,
                c.table,
                names()
            ),
        });
    }
    if let Some(key) = info.columns.iter().find(|col| col.pk) {
        let given = match &row[&key.name] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if given != c.pk {
            return Err(Refused::NotARow {
                field: key.name.clone(),
                message: format!(
                    "\"{}\" must stay {} (the conflict's row), not {given}",
                    key.name, c.pk
                ),
            });
        }
    }
    match policies.validate(&c.table, &c.pk, row) {
        Verdict::Valid => Ok(()),
        Verdict::Invalid(list) => Err(Refused::Invalid {
            summary: crate::policy::summary(&list),
            violations: list
                .into_iter()
                .map(|v| Broken {
                    field: v.field,
                    message: v.message,
                })
                .collect(),
        }),
    }
}

/// Settles open conflict `id` with `choice` after the checks above (a
/// written row is checked against `policies`; taking a side is not, and
/// needs none: the local side is validated when it is pushed, the remote
/// side is the server's).
pub fn settle(
    local: &mut Local,
    policies: Option<&Policies>,
    id: i64,
    choice: Choice,
    now: i64,
) -> Result<ConflictRecord, Refused> {
    let c = open_conflict(local, id)?;
    if let Choice::Row(row) = &choice {
        let Some(policies) = policies else {
            return Err(Refused::NotARow {
                field: String::new(),
                message: "a row written by hand is checked against the table's policies, and none were given".into(),
            });
        };
        check_row(local, policies, &c, row)?;
    }
    match local.resolve_conflict(id, choice, now) {
        Ok(()) => {}
        Err(e @ LocalError::NotInConflict { .. }) => return Err(Refused::Stale(e.to_string())),
        Err(LocalError::NotFound { .. }) => {
            // Settled between the read and the write.
            return Err(open_conflict(local, id)
                .err()
                .unwrap_or(Refused::NotFound { id }));
        }
        Err(e) => return Err(Refused::Local(e)),
    }
    local.conflict(id).map_err(Refused::Local)
}
