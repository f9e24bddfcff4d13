//! The delete of an adopted row (`keys = "map"`): parked by the SQL a
//! mapped table's capture triggers run once they queued it, and its key
//! forgotten once the row is gone for good (`forget`).
//!
//! Without AUTOINCREMENT, SQLite gives a new row the highest id + 1, so
//! the id of a deleted last row comes back. When the deleted row was
//! adopted (another device's, mapped to that device's global key) and its
//! delete is not pushed yet, the new row would join the delete in the one
//! queue entry of that id and be pushed as an update of the deleted row's
//! key: a sale sold after a void rewritten into the voided sale, and lost
//! when that update met another till's edit of the voided sale as a
//! conflict. So the delete is parked at once under the id `-global`: its
//! queue entry, its sync state (`_ebb_rows`), its copies sent whose answer
//! never came (`_ebb_sent`) and its key mapping move there, and the id is
//! free for a row of this device's own. The parked delete is pushed under
//! the adopted key like any other and forgotten once applied
//! (`forget`). No app row has a negative id of that size (a global
//! key is at least 10^12), so a parked id meets none.
//!
//! Not parked: the delete of a row whose key this device minted (the
//! reused id goes back under that key, as the row inserted again after its
//! delete), and a delete whose entry is in flight or in conflict (its
//! answer or its resolution finds it by the app's id): an id reused in that
//! window still joins the delete, as before.
//!
//! A parked row that comes back (another device's edit of it won over
//! this delete) is written under a fresh id (`unpark`), as a row adopted.
//!
//! Called by `triggers` for the tables whose keys are mapped, by
//! `apply_one`, and by `rows::agreed` (`forget`).

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::cached::Cached;
use super::keys::{self, SPAN, own_key, stored_number};
use super::schema::meta_text;
use super::values::Writer;
use super::{Context, LocalError};
use crate::model::Row;

/// The statements parking the delete just queued for `key` (an `OLD.`
/// expression) of table `table_lit` (a quoted literal).
pub(super) fn park(table_lit: &str, key: &str) -> String {
    // The key this device would mint for `key`; NULL before it has a
    // number, when it has minted none. `_ebb_meta` keeps "device number".
    let own = format!(
        "(SELECT CAST(substr(m.value, length(rtrim(m.value, '0123456789')) + 1) AS INTEGER) \
         * {SPAN} + {key} FROM _ebb_meta m WHERE m.key = 'device_number')"
    );
    let adopted = format!(
        "(SELECT k.global FROM _ebb_keys k \
         WHERE k.tbl = {table_lit} AND k.local = {key} AND k.global IS NOT {own})"
    );
    let here = format!("tbl = {table_lit} AND pk = CAST({key} AS TEXT)");
    let parked = format!(
        "EXISTS (SELECT 1 FROM _ebb_queue q WHERE q.tbl = {table_lit} AND q.pk = CAST(-{adopted} AS TEXT))"
    );
    format!(
        "  UPDATE _ebb_queue SET pk = CAST(-{adopted} AS TEXT)
    WHERE {here} AND op = 'delete' AND state = 'pending' AND {adopted} IS NOT NULL;
  UPDATE _ebb_rows SET pk = CAST(-{adopted} AS TEXT) WHERE {here} AND {parked};
  UPDATE _ebb_sent SET pk = CAST(-{adopted} AS TEXT) WHERE {here} AND {parked};
  UPDATE _ebb_keys SET local = -global
    WHERE tbl = {table_lit} AND local = {key}
      AND EXISTS (SELECT 1 FROM _ebb_queue q
                  WHERE q.tbl = {table_lit} AND q.pk = CAST(-_ebb_keys.global AS TEXT));
"
    )
}

/// A parked row written back (another device's edit of it won over this
/// device's delete): it comes back under a fresh id, never under the
/// parked one, with its mapping, queue entry, sync state and sent copies.
/// Answers the key and the row to write, or `None` when `pk` is not a
/// parked id of this table.
pub(super) fn unpark(
    conn: &Connection,
    writer: &Writer,
    pk: &str,
    row: &Row,
) -> Result<Option<(String, Row)>, LocalError> {
    let table = writer.table();
    let Some(parked) = pk.parse::<i64>().ok().filter(|id| *id < 0) else {
        return Ok(None);
    };
    let mapped: Option<i64> = conn
        .prepare_cached("SELECT global FROM _ebb_keys WHERE tbl = ?1 AND local = ?2")
        .and_then(|mut s| s.query_row(params![table, parked], |r| r.get(0)).optional())
        .ctx(|| format!("reading the key map of {table}"))?;
    if mapped.is_none() {
        return Ok(None);
    }
    let fresh = keys::next_id(conn, writer)?;
    let key = fresh.to_string();
    conn.exec(
        "UPDATE _ebb_keys SET local = ?3 WHERE tbl = ?1 AND local = ?2",
        params![table, parked, fresh],
    )
    .ctx(|| format!("moving a parked key of {table}"))?;
    for state in ["_ebb_queue", "_ebb_rows", "_ebb_sent"] {
        conn.exec(
            &format!("UPDATE {state} SET pk = ?3 WHERE tbl = ?1 AND pk = ?2"),
            params![table, pk, key],
        )
        .ctx(|| format!("moving the state of a parked row of {table}"))?;
    }
    let mut row = row.clone();
    row.insert(writer.key_column().to_string(), Value::from(fresh));
    Ok(Some((key, row)))
}

/// Forgets the key of `table`'s local row `pk` adopted from another
/// device, with the row's sync state, once the row is gone for good: SQLite
/// may give its id to this device's next row (no AUTOINCREMENT), which must
/// not go under the deleted row's key (docs/design.md, "A reused id is a
/// new row"). A key this device minted is kept. `false`: nothing forgotten.
pub(crate) fn forget(conn: &Connection, table: &str, pk: &str) -> Result<bool, LocalError> {
    let Ok(local) = pk.parse::<i64>() else {
        return Ok(false);
    };
    // A key minted under an earlier device id of this file is its own too.
    let own = meta_text(conn, "device_number")?
        .as_deref()
        .and_then(stored_number)
        .and_then(|(_, n)| own_key(n, local));
    let mapped = conn
        .prepare_cached(
            "DELETE FROM _ebb_keys WHERE tbl = ?1 AND local = ?2 AND (?3 IS NULL OR global <> ?3)",
        )
        .and_then(|mut s| s.execute(params![table, local, own]))
        .ctx(|| format!("forgetting a key of {table}"))?;
    if mapped == 0 {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM _ebb_rows WHERE tbl = ?1 AND pk = ?2")
        .and_then(|mut s| s.execute(params![table, pk]))
        .ctx(|| format!("forgetting the sync state of a row of {table}"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{exec, open_temp, queue, specs};
    use crate::model::Op;

    fn mapped(local: &super::super::Local, id: i64) -> bool {
        local
            .conn
            .query_row(
                "SELECT count(*) FROM _ebb_keys WHERE tbl = 'parents' AND local = ?1",
                [id],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            > 0
    }

    #[test]
    fn an_adopted_rows_delete_is_parked_and_an_own_rows_is_not() {
        let (_dir, mut local) = open_temp();
        local.install_mapped(&specs(), &["parents"]).unwrap();
        local.set_device_number(3).unwrap();
        // Row 1 adopted (device 7's key), row 2 this device's own; both
        // synced at version 4.
        exec(&local, "UPDATE _ebb_guard SET active = 1");
        exec(
            &local,
            "INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b')",
        );
        exec(&local, "UPDATE _ebb_guard SET active = 0");
        let (adopted, own) = (7 * super::SPAN + 1, 3 * super::SPAN + 2);
        exec(
            &local,
            &format!(
                "INSERT INTO _ebb_keys VALUES ('parents', 1, {adopted}), ('parents', 2, {own});
                 INSERT INTO _ebb_rows (tbl, pk, version, base) VALUES ('parents', '1', 4, NULL), ('parents', '2', 4, NULL);"
            ),
        );
        exec(&local, "DELETE FROM parents");
        let parked = format!("-{adopted}");
        assert_eq!(queue(&local, "parents", &parked).op, Op::Delete);
        assert_eq!(
            queue(&local, "parents", "2").op,
            Op::Delete,
            "own: not parked"
        );
        assert!(local.queue_item("parents", "1").unwrap().is_none());
        assert_eq!(local.local_key("parents", adopted).unwrap(), Some(-adopted));
        assert_eq!(local.local_key("parents", own).unwrap(), Some(2));
        assert_eq!(
            local
                .row_state("parents", &parked)
                .unwrap()
                .unwrap()
                .version,
            4
        );
        assert!(local.row_state("parents", "1").unwrap().is_none());
        // The id comes back as a new row of this device's own.
        exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'c')");
        assert_eq!(queue(&local, "parents", "1").op, Op::Upsert);
        assert!(
            !mapped(&local, 1),
            "unmapped: its key is minted at its push"
        );
        assert_eq!(queue(&local, "parents", &parked).op, Op::Delete);
    }

    #[test]
    fn a_delete_in_flight_is_not_parked() {
        let (_dir, mut local) = open_temp();
        local.install_mapped(&specs(), &["parents"]).unwrap();
        exec(&local, "UPDATE _ebb_guard SET active = 1");
        exec(&local, "INSERT INTO parents (id, name) VALUES (1, 'a')");
        exec(&local, "UPDATE _ebb_guard SET active = 0");
        exec(
            &local,
            "INSERT INTO _ebb_keys VALUES ('parents', 1, 7000000000001);
             INSERT INTO _ebb_queue (tbl, pk, op, counter, state, queued_at)
             VALUES ('parents', '1', 'upsert', 1, 'inflight', 0);",
        );
        exec(&local, "DELETE FROM parents");
        assert_eq!(queue(&local, "parents", "1").op, Op::Delete);
        assert_eq!(local.local_key("parents", 7000000000001).unwrap(), Some(1));
    }
}
