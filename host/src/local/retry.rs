//! `Local::retry_held`: applying again the remote side of held conflicts
//! (see `hold`) whose rows the app has not edited since, once their
//! constraint may have cleared (a late parent arrived, a clashing local row
//! changed, blocking children were deleted or pushed).
//!
//! Runs the same page machinery as `apply` (savepoints, deferred foreign
//! key check, cascade guard), one table at a time, in one transaction; a
//! row still refused stays held. Called by `sync` once per round.

use std::collections::BTreeSet;

use rusqlite::{Connection, TransactionBehavior};

use super::action::{Action, ApplyOp};
use super::apply::apply_page;
use super::cached::Cached;
use super::fk::Graph;
use super::schema::set_guard;
use super::values::{key_column, parse_row};
use super::{Context, Local, LocalError, TableSpec, inspect};

impl Local {
    /// Applies again the remote side of every held conflict whose row the
    /// app has not edited since it was held (see the module doc), one
    /// transaction. Those that go through close as "retried"; the others
    /// stay open, refreshed. Returns how many closed. Cheap when nothing is
    /// held; `sync` calls it once per round, after pulling.
    pub fn retry_held(&mut self, now: i64) -> Result<usize, LocalError> {
        let any: bool = self
            .conn
            .row(
                "SELECT EXISTS (SELECT 1 FROM _ebb_conflicts
                 WHERE resolved_at IS NULL AND held_counter IS NOT NULL)",
                [],
                |r| r.get(0),
            )
            .ctx(|| "looking for held conflicts".into())?;
        if !any {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "starting to retry held rows".into())?;
        let held = list_held(&tx)?;
        tx.pragma_update(None, "defer_foreign_keys", true)
            .ctx(|| "deferring foreign keys".into())?;
        let graph = Graph::load(&tx)?;
        let mut ids = Vec::with_capacity(held.len());
        let mut start = 0;
        while start < held.len() {
            let name = held[start].1.clone();
            let end = start + held[start..].iter().take_while(|h| h.1 == name).count();
            set_guard(&tx, Some(&name))?;
            let table = TableSpec {
                pk: key_column(&inspect::describe_conn(&tx, &name)?)?,
                name,
            };
            let mut ops = Vec::with_capacity(end - start);
            for (id, _, pk, remote, version, counter) in &held[start..end] {
                let remote = parse_row(remote.clone(), &format!("_ebb_conflicts {id} remote row"))?;
                ids.push(*id);
                ops.push(ApplyOp {
                    pk: pk.clone(),
                    expect_counter: Some(*counter),
                    action: Action::Write {
                        row: remote,
                        version: *version,
                    },
                });
            }
            let once = ops.iter().map(|o| &o.pk).collect::<BTreeSet<_>>().len() == ops.len();
            apply_page(&tx, &table, &ops, &graph, once, now)?;
            start = end;
        }
        let mut closed = 0;
        for id in ids {
            let resolved: Option<i64> = tx
                .row(
                    "SELECT resolved_at FROM _ebb_conflicts WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .ctx(|| format!("reading conflict {id}"))?;
            closed += usize::from(resolved.is_some());
        }
        set_guard(&tx, None)?;
        tx.commit().ctx(|| "committing retried held rows".into())?;
        Ok(closed)
    }
}

type HeldRow = (i64, String, String, Option<String>, i64, i64);

/// Open held conflicts whose row was not edited since: (id, table, pk,
/// remote row, remote version, counter), grouped by table.
fn list_held(conn: &Connection) -> Result<Vec<HeldRow>, LocalError> {
    let mut stmt = conn
        .prepare(
            "SELECT c.id, c.tbl, c.pk, c.remote, c.remote_version, c.held_counter
             FROM _ebb_conflicts c JOIN _ebb_queue q ON q.tbl = c.tbl AND q.pk = c.pk
             WHERE c.resolved_at IS NULL AND c.held_counter = q.counter
               AND q.state = 'conflict'
             ORDER BY c.tbl, c.id",
        )
        .ctx(|| "listing held conflicts".into())?;
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .ctx(|| "listing held conflicts".into())?
    .collect::<Result<_, _>>()
    .ctx(|| "listing held conflicts".into())
}
