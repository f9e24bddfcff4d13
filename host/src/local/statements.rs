//! The SQL texts of writing rows into an app's table: the read of a
//! row's columns, the upsert of one row or of many, and the numbered
//! `VALUES` groups they bind. Built from quoted identifiers only; every
//! value is bound. Writes say `OR ABORT`: a table's own `ON CONFLICT
//! REPLACE` (`sku TEXT UNIQUE ON CONFLICT REPLACE`) would otherwise delete
//! another local row, uncaptured, to make room for a pulled one; a clash
//! is refused instead, and the pulled row held (`hold`). Used by `write`, `runs`, `stored`, `rows` and
//! `normalize`.

use super::quote_ident;

/// `SELECT` of these columns of the row with key `?1`.
pub(super) fn select_sql(table: &str, pk_col: &str, names: &[&str]) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        column_list(names),
        quote_ident(table),
        quote_ident(pk_col),
    )
}

/// A plain `INSERT` of these columns (no conflict clause).
pub(super) fn insert_sql(table: &str, names: &[&str]) -> String {
    insert_rows_sql(table, names, 1)
}

/// A plain `INSERT .. VALUES (..), (..)` of `rows` rows of these columns.
pub(super) fn insert_rows_sql(table: &str, names: &[&str], rows: usize) -> String {
    format!(
        "INSERT OR ABORT INTO {} ({}) VALUES {}",
        quote_ident(table),
        column_list(names),
        value_rows(rows, names.len()),
    )
}

/// `"a", "b"`.
fn column_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT .. ON CONFLICT (pk) DO UPDATE` of these columns.
pub(super) fn upsert_sql(table: &str, pk_col: &str, names: &[&str]) -> String {
    upsert_rows_sql(table, pk_col, names, 1)
}

/// `INSERT .. VALUES (..), (..) ON CONFLICT (pk) DO UPDATE` of `rows`
/// rows of these columns, bound row after row.
pub(super) fn upsert_rows_sql(table: &str, pk_col: &str, names: &[&str], rows: usize) -> String {
    let updates: Vec<String> = names
        .iter()
        .filter(|n| **n != pk_col)
        .map(|n| format!("{0} = excluded.{0}", quote_ident(n)))
        .collect();
    let action = if updates.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", updates.join(", "))
    };
    format!(
        "INSERT OR ABORT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO {action}",
        quote_ident(table),
        column_list(names),
        value_rows(rows, names.len()),
        quote_ident(pk_col),
    )
}

/// The `VALUES` of `rows` rows of `width` values each, numbered in order:
/// `(?1, ?2), (?3, ?4)`.
pub(super) fn value_rows(rows: usize, width: usize) -> String {
    let groups: Vec<String> = (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|i| format!("?{}", r * width + i)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    groups.join(", ")
}
