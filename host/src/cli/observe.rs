//! What a local column holds, for `ebb check`'s type step: counts of its
//! storage classes and of the values that matter to a server type (too
//! big for int4, more decimals than a numeric scale, not a date, ...), and
//! one recent text value to show.
//!
//! One read-only aggregate query per column (plus one row for the
//! sample), on a connection of its own: the app's file is never written.
//! Like `init::foreign_keys`, it reads SQLite from the CLI because `local`
//! offers no read-only profile. Called by `typecheck` for `setup::check`.

use std::path::Path;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// What a local column holds (non-null values only).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Observed {
    pub values: i64,
    pub texts: i64,
    pub reals: i64,
    pub blobs: i64,
    pub min_int: Option<i64>,
    pub max_int: Option<i64>,
    pub max_abs_real: Option<f64>,
    /// Integers other than 0 and 1.
    pub not_bool: i64,
    /// Texts with an upper-case letter.
    pub upper: i64,
    /// Texts that do not read back the same as a number ("1.50", "abc").
    pub not_number: i64,
    /// Texts that do not start with a date (YYYY-MM-DD).
    pub not_date: i64,
    /// Texts longer than a date (a time of day follows).
    pub timed: i64,
    /// Texts ending in a numeric zone offset (+02:00).
    pub offset: i64,
    /// Date-times ending in Z.
    pub zulu: i64,
    /// Texts with more than 6 fractional second digits.
    pub fine: i64,
    /// REAL values changed by rounding to the server's scale.
    pub rounded: i64,
    /// The longest text, in characters.
    pub max_len: Option<i64>,
    /// A recent text value, to show.
    pub sample: Option<String>,
}

/// What `column` of `table` holds, read-only; `scale` rounds REAL values
/// to count `Observed::rounded`.
pub(super) fn observe(
    db: &Path,
    table: &str,
    column: &str,
    scale: Option<u32>,
) -> anyhow::Result<Observed> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let c = quote(column);
    let t = quote(table);
    let sql = format!(
        "SELECT count({c}),
           coalesce(sum(typeof({c}) = 'text'), 0), coalesce(sum(typeof({c}) = 'real'), 0),
           coalesce(sum(typeof({c}) = 'blob'), 0),
           min(CASE WHEN typeof({c}) = 'integer' THEN {c} END),
           max(CASE WHEN typeof({c}) = 'integer' THEN {c} END),
           max(CASE WHEN typeof({c}) = 'real' THEN abs({c}) END),
           coalesce(sum(typeof({c}) = 'integer' AND {c} NOT IN (0, 1)), 0),
           coalesce(sum(typeof({c}) = 'text' AND {c} GLOB '*[A-Z]*'), 0),
           coalesce(sum(typeof({c}) = 'text' AND CAST(CAST({c} AS NUMERIC) AS TEXT) IS NOT {c}), 0),
           coalesce(sum(typeof({c}) = 'text' AND {c} NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'), 0),
           coalesce(sum(typeof({c}) = 'text' AND length({c}) > 10), 0),
           coalesce(sum(typeof({c}) = 'text' AND length({c}) > 10
                        AND substr({c}, 11) GLOB '*[+-][0-9][0-9]*'), 0),
           coalesce(sum(typeof({c}) = 'text' AND length({c}) > 10 AND {c} GLOB '*Z'), 0),
           coalesce(sum(typeof({c}) = 'text' AND {c} GLOB '*[0-9].[0-9][0-9][0-9][0-9][0-9][0-9][0-9]*'), 0),
           coalesce(sum(typeof({c}) = 'real' AND ?1 IS NOT NULL AND {c} <> round({c}, ?1)), 0),
           max(CASE WHEN typeof({c}) = 'text' THEN length({c}) END)
         FROM {t}"
    );
    let context = || format!("reading the values of {table}.{column}");
    let mut seen = conn
        .query_row(&sql, [scale], |r| {
            Ok(Observed {
                values: r.get(0)?,
                texts: r.get(1)?,
                reals: r.get(2)?,
                blobs: r.get(3)?,
                min_int: r.get(4)?,
                max_int: r.get(5)?,
                max_abs_real: r.get(6)?,
                not_bool: r.get(7)?,
                upper: r.get(8)?,
                not_number: r.get(9)?,
                not_date: r.get(10)?,
                timed: r.get(11)?,
                offset: r.get(12)?,
                zulu: r.get(13)?,
                fine: r.get(14)?,
                rounded: r.get(15)?,
                max_len: r.get(16)?,
                sample: None,
            })
        })
        .with_context(context)?;
    let recent = format!("SELECT {c} FROM {t} WHERE typeof({c}) = 'text'");
    seen.sample = conn
        .query_row(&format!("{recent} ORDER BY rowid DESC LIMIT 1"), [], |r| {
            r.get(0)
        })
        .or_else(|_| conn.query_row(&format!("{recent} LIMIT 1"), [], |r| r.get(0)))
        .optional()
        .with_context(context)?;
    Ok(seen)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
