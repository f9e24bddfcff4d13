//! `ebb_pull` of the fake server, as host/src/remote/sql/pull.sql answers
//! it: live rows and tombstones of one table together, ordered by (txid,
//! key in byte order), strictly after the cursor, only below the horizon
//! (the oldest open transaction), at most `page` of them.

use super::super::schema;
use super::store::Store;
use ebb::model::{Cursor, PullPage, PulledRow};
use ebb::remote::RemoteError;

/// One page of `table` after `cursor`.
pub fn page(
    store: &Store,
    table: &str,
    cursor: &Cursor,
    page: usize,
) -> Result<PullPage, RemoteError> {
    if schema::table(table).is_none() {
        return Err(refused(format!(
            "ebb_pull: table \"{table}\" is not synced by ebb (not in _ebb_tables)"
        )));
    }
    if page < 1 {
        return Err(refused("ebb_pull: page must be at least 1".into()));
    }
    let from: u64 = if cursor.txid.is_empty() {
        0
    } else {
        cursor.txid.parse().map_err(|_| {
            refused(format!(
                "invalid input syntax for type xid8: \"{}\"",
                cursor.txid
            ))
        })?
    };
    let horizon = store.horizon();
    let after = |txid: u64, pk: &str| {
        txid < horizon && (txid, pk.as_bytes()) > (from, cursor.pk.as_bytes())
    };
    let mut found: Vec<PulledRow> = store
        .live_rows(table)
        .filter(|(pk, l)| after(l.txid, pk))
        .map(|(pk, l)| PulledRow {
            pk: pk.clone(),
            version: l.version,
            txid: l.txid.to_string(),
            deleted: false,
            origin: l.origin.clone(),
            row: Some(l.row.clone()),
        })
        .chain(
            store
                .tombs(table)
                .filter(|(pk, t)| after(t.txid, pk))
                .map(|(pk, t)| PulledRow {
                    pk: pk.clone(),
                    version: t.version,
                    txid: t.txid.to_string(),
                    deleted: true,
                    origin: t.origin.clone(),
                    row: None,
                }),
        )
        .collect();
    // txids as numbers (their text does not sort), keys as bytes (COLLATE "C").
    found.sort_by(|a, b| {
        let key = |r: &PulledRow| {
            (
                r.txid.parse::<u64>().unwrap_or(0),
                r.pk.clone().into_bytes(),
            )
        };
        key(a).cmp(&key(b))
    });
    let has_more = found.len() > page;
    found.truncate(page);
    let next = match found.last() {
        Some(last) => Cursor {
            txid: last.txid.clone(),
            pk: last.pk.clone(),
        },
        None => cursor.clone(),
    };
    Ok(PullPage {
        bytes: 0,
        rows: found,
        next,
        has_more,
        horizon: horizon.to_string(),
        in_flight: store.in_flight(),
    })
}

/// The error PostgREST answers for an exception raised by `ebb_pull`
/// (SQLSTATE 22023 and 22P02 are HTTP 400).
fn refused(message: String) -> RemoteError {
    RemoteError::Http {
        endpoint: "fake/rpc/ebb_pull".into(),
        status: 400,
        code: Some("22023".into()),
        message,
        details: None,
        hint: None,
        retry_after: None,
    }
}
