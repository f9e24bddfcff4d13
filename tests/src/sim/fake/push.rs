//! `ebb_push` of the fake server: one change at a time, deciding exactly
//! what `_ebb_push_one` in host/src/remote/sql/push.sql decides.
//!
//! 1. The row's current version `cur` (a deleted key keeps its tombstone's
//!    version; an unknown key is 0). `cur == base`: no earlier answer can
//!    apply; go on with the write.
//! 2. Otherwise the device's record of this row (`_ebb_applied`): the same
//!    counter and hash -> the stored answer again (an exact retry). A lower
//!    counter sent on the same base, with the row still at the version it
//!    gave -> fast forward (the device's own write whose answer was lost).
//! 3. A delete of a key with no row -> applied at `cur`.
//! 4. A base that is not current -> a conflict with the current row, and
//!    `own` naming the device's recorded write when that was sent on the
//!    same base with a lower counter.
//! 5. The write; a constraint it breaks rejects the change alone.

use serde_json::{Map, Value};

use super::super::schema;
use super::store::{Record, Store, Writer};
use ebb::model::{Change, Op, OwnWrite, PushResult, Row};

/// The answer to one change. `txid` is the batch's transaction id,
/// taken on its first write.
pub fn push_one(store: &mut Store, c: &Change, txid: &mut Option<u64>) -> PushResult {
    let Some(table) = schema::table(&c.table) else {
        return rejected(
            "42P01",
            format!(
                "ebb_push: table \"{}\" is not synced by ebb (not in _ebb_tables)",
                c.table
            ),
        );
    };
    let row = match (c.op, &c.row) {
        (Op::Upsert, None) => {
            return rejected(
                "22023",
                "ebb_push: an upsert needs the row as a JSON object".into(),
            );
        }
        (_, row) => row.as_ref(),
    };
    let base = c.base_version.unwrap_or(0);
    let hash = hash(c.op, base, row);
    let pk = c.pk.as_str();
    let cur = store.version(table.name, pk);
    let exists = store.live(table.name, pk).is_some();

    let mut fast_forward = false;
    let mut own = None;
    // At `cur == base` no earlier answer can apply (versions only go up).
    let record = (cur != base)
        .then(|| store.record(&c.device, table.name, pk))
        .flatten();
    if let Some(r) = record {
        if r.counter == c.counter && r.hash == hash {
            return PushResult::Applied { version: r.version };
        }
        if r.counter < c.counter && r.base == base {
            fast_forward = r.version == cur;
            own = Some(OwnWrite {
                counter: r.counter,
                version: r.version,
            });
        }
    }
    let on = if fast_forward { cur } else { base };
    if c.op == Op::Delete && !exists {
        return PushResult::Applied { version: cur };
    }
    if on != cur {
        let current = store.live(table.name, pk).map(|l| l.row.clone());
        return PushResult::Conflict {
            version: cur,
            deleted: current.is_none(),
            row: current,
            own,
        };
    }
    let by = Writer {
        origin: Some(&c.device),
        txid: *txid.get_or_insert_with(|| store.new_txid()),
    };
    let written = match (c.op, row) {
        (Op::Upsert, Some(row)) => store.upsert(table, pk, row, &by),
        // A delete of a live row (the missing row answered above).
        _ => store.delete(table, pk, &by).map(|v| v.unwrap_or(cur)),
    };
    match written {
        Ok(version) => {
            let record = Record {
                counter: c.counter,
                hash,
                base,
                version,
            };
            store.set_record(&c.device, table.name, pk, record);
            PushResult::Applied { version }
        }
        Err(v) => rejected(v.code, v.message),
    }
}

fn rejected(code: &str, message: String) -> PushResult {
    PushResult::Rejected {
        code: code.to_string(),
        message,
    }
}

/// What tells this change from another with the same counter: the op, the
/// base and the row as sent (keys sorted, as jsonb prints them).
fn hash(op: Op, base: i64, row: Option<&Row>) -> String {
    let op = match op {
        Op::Upsert => "upsert",
        Op::Delete => "delete",
    };
    let row = row.map_or(String::new(), |r| {
        sorted(&Value::Object(r.clone())).to_string()
    });
    format!("{op}:{base}:{row}")
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}
