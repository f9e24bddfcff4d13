//! `ebb check`'s type step: each synced column's local declared type and
//! stored values against the server column's type (from `ebb_describe`),
//! one finding per column pair that would not survive the round trip.
//!
//! A finding is a `Changes` (values on this device would be changed,
//! dropped or refused by the server: `ebb check` fails) or a `Risk` (the
//! types differ, but no value stored today is affected). The judgement is
//! the pure [`judge`] (dates in `typecheck_dates`), on what `observe` read
//! of the column. Called by `setup::check`.

pub(super) use super::observe::{Observed, observe};
use crate::local::Column;
use crate::local::inspect::{Affinity, affinity};
use crate::remote::postgrest::ServerColumn;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Severity {
    /// Values stored here would change, be dropped or be refused.
    Changes,
    /// The types differ; nothing stored today is affected.
    Risk,
}

/// One column pair that does not round-trip, as a line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub severity: Severity,
    /// `table.column: LOCAL here, SERVER on the server: what happens`.
    pub line: String,
}

/// The server type, reduced to what decides a round trip.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Text(Option<i64>),
    Int(u32),
    Numeric(Option<(u32, u32)>),
    Float(u32),
    Bool,
    Uuid,
    Timestamptz,
    Timestamp,
    Date,
    Bytea,
    Other,
}

/// The kind of a type as `format_type` spells it.
pub(super) fn kind(server_type: &str) -> Kind {
    let t = server_type.trim().to_ascii_lowercase();
    let (base, args) = match t.split_once('(') {
        Some((base, rest)) => (base.trim(), rest.trim_end_matches(')')),
        None => (t.as_str(), ""),
    };
    let nums: Vec<u32> = args
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    if t.ends_with("[]") {
        return Kind::Other;
    }
    match base {
        "text" | "character varying" | "varchar" | "character" | "char" | "citext" | "name" => {
            Kind::Text(nums.first().map(|n| i64::from(*n)))
        }
        "smallint" => Kind::Int(16),
        "integer" => Kind::Int(32),
        "bigint" => Kind::Int(64),
        "numeric" | "decimal" => Kind::Numeric(match nums.as_slice() {
            [p] => Some((*p, 0)),
            [p, s] => Some((*p, *s)),
            _ => None,
        }),
        "real" => Kind::Float(24),
        "double precision" => Kind::Float(53),
        "boolean" => Kind::Bool,
        "uuid" => Kind::Uuid,
        "timestamp with time zone" => Kind::Timestamptz,
        "timestamp without time zone" => Kind::Timestamp,
        "date" => Kind::Date,
        "bytea" => Kind::Bytea,
        _ => Kind::Other,
    }
}

/// The local side as the judgement sees it: dates are text whatever the
/// declared affinity (DATETIME is NUMERIC to SQLite).
fn local_kind(decl_type: &str) -> Affinity {
    let t = decl_type.to_ascii_uppercase();
    if t.contains("DATE") || t.contains("TIME") {
        Affinity::Text
    } else {
        affinity(decl_type)
    }
}

/// The server's scale when the column pair needs `Observed::rounded`.
pub(super) fn scale_of(local: &Column, server: &ServerColumn) -> Option<u32> {
    match (local_kind(&local.decl_type), kind(&server.type_name)) {
        (Affinity::Real | Affinity::Numeric, Kind::Numeric(Some((_, s)))) => Some(s),
        _ => None,
    }
}

/// What happens to `local`'s values (as `seen`) on a server column of
/// `server`'s type; `None` when they round-trip. `table` names the line.
pub(super) fn judge(
    table: &str,
    local: &Column,
    server: &ServerColumn,
    seen: &Observed,
) -> Option<Finding> {
    let ours = local_kind(&local.decl_type);
    let theirs = kind(&server.type_name);
    let shown = if local.decl_type.trim().is_empty() {
        "no declared type"
    } else {
        local.decl_type.as_str()
    };
    let head = format!(
        "{table}.{}: {shown} here, {} on the server",
        local.name, server.type_name
    );
    let (severity, what) = match (ours, &theirs) {
        (Affinity::Any, _) => return None,
        (Affinity::Integer, Kind::Int(64)) | (Affinity::Real, Kind::Float(53)) => return None,
        (Affinity::Blob, Kind::Text(None)) => return None,
        (Affinity::Text, Kind::Text(limit)) => match (limit, seen.max_len) {
            (Some(n), Some(len)) if len > *n => (
                Severity::Changes,
                format!("texts up to {len} characters are refused (the limit is {n})"),
            ),
            _ => return None,
        },
        (Affinity::Text, Kind::Timestamptz | Kind::Timestamp | Kind::Date) => {
            return super::typecheck_dates::judge_time(head, local, server, &theirs, seen);
        }
        (Affinity::Integer | Affinity::Numeric, Kind::Int(bits)) if *bits < 64 => {
            let limit = (1_i64 << (bits - 1)) - 1;
            let out = seen.max_int.is_some_and(|m| m > limit)
                || seen.min_int.is_some_and(|m| m < -limit - 1);
            let reals = numeric_reals(ours, seen);
            if out || reals.is_some() {
                let why = reals.unwrap_or_else(|| {
                    format!(
                        "values beyond {limit} are refused (the largest here is {})",
                        extreme(seen)
                    )
                });
                (Severity::Changes, why)
            } else {
                (
                    Severity::Risk,
                    format!(
                        "values above {limit} would be refused (bigint holds all of SQLite's INTEGER)"
                    ),
                )
            }
        }
        (Affinity::Integer | Affinity::Numeric, Kind::Int(_)) => match numeric_reals(ours, seen) {
            Some(why) => (Severity::Changes, why),
            None => return None,
        },
        (Affinity::Real, Kind::Int(_)) => {
            if seen.reals > 0 {
                (
                    Severity::Changes,
                    format!(
                        "Postgres refuses a REAL value for an integer column, 2.0 included ({} here)",
                        seen.reals
                    ),
                )
            } else {
                (
                    Severity::Risk,
                    String::from("any REAL value would be refused"),
                )
            }
        }
        (Affinity::Real | Affinity::Numeric | Affinity::Integer, Kind::Numeric(Some((p, s)))) => {
            let whole = 10_f64.powi(i32::try_from(p.saturating_sub(*s)).unwrap_or(i32::MAX));
            let too_big = seen.max_abs_real.is_some_and(|m| m >= whole)
                || seen.max_int.is_some_and(|m| m as f64 >= whole)
                || seen.min_int.is_some_and(|m| -(m as f64) >= whole);
            if too_big {
                (
                    Severity::Changes,
                    format!("values of {whole} or more are refused (numeric field overflow)"),
                )
            } else if seen.rounded > 0 {
                (
                    Severity::Changes,
                    format!(
                        "values with more than {s} decimals come back rounded: \
                         3.3000000000000003 becomes 3.3, 1.005 becomes 1.01 ({} here)",
                        seen.rounded
                    ),
                )
            } else {
                (
                    Severity::Risk,
                    format!("values with more than {s} decimals would come back rounded"),
                )
            }
        }
        (Affinity::Real | Affinity::Numeric | Affinity::Integer, Kind::Numeric(None)) => {
            return None;
        }
        (Affinity::Integer | Affinity::Numeric, Kind::Float(bits)) => {
            let exact = 1_u64 << bits;
            let beyond = [seen.max_int, seen.min_int]
                .iter()
                .flatten()
                .any(|m| m.unsigned_abs() > exact);
            if beyond {
                (
                    Severity::Changes,
                    format!(
                        "integers beyond {exact} come back rounded (the largest here is {})",
                        extreme(seen)
                    ),
                )
            } else {
                (
                    Severity::Risk,
                    format!("integers beyond {exact} would come back rounded"),
                )
            }
        }
        (Affinity::Real, Kind::Float(_)) => (
            if seen.reals > 0 {
                Severity::Changes
            } else {
                Severity::Risk
            },
            String::from("real keeps 6 significant digits: 1.23456789 comes back 1.2345679"),
        ),
        (Affinity::Integer | Affinity::Numeric, Kind::Bool) => {
            if seen.not_bool > 0 || seen.texts > 0 {
                (
                    Severity::Changes,
                    format!(
                        "values other than 0 and 1 are refused ({} here)",
                        seen.not_bool + seen.texts
                    ),
                )
            } else {
                (
                    Severity::Risk,
                    String::from("0 and 1 come back as 0 and 1; any other value would be refused"),
                )
            }
        }
        (Affinity::Text, Kind::Bool) => (
            if seen.texts > 0 {
                Severity::Changes
            } else {
                Severity::Risk
            },
            String::from("text like 'true' or 't' comes back as 1 or 0; other text is refused"),
        ),
        (Affinity::Text, Kind::Uuid) => {
            if seen.texts > 0 && seen.max_len != Some(36) || seen.blobs > 0 {
                (
                    Severity::Changes,
                    String::from("values that are not uuids are refused"),
                )
            } else if seen.upper > 0 {
                (
                    Severity::Changes,
                    format!(
                        "upper-case uuids come back in lower case ({} here)",
                        seen.upper
                    ),
                )
            } else {
                (
                    Severity::Risk,
                    String::from("an upper-case uuid would come back in lower case"),
                )
            }
        }
        (Affinity::Text, Kind::Int(_) | Kind::Numeric(_) | Kind::Float(_)) => {
            if seen.not_number > 0 {
                (
                    Severity::Changes,
                    format!(
                        "text that is not a number as Postgres writes it changes or is refused: \
                         \"1.50\" comes back \"1.5\", \"abc\" is refused ({} here)",
                        seen.not_number
                    ),
                )
            } else {
                (
                    Severity::Risk,
                    String::from("text must be a number; \"1.50\" would come back \"1.5\""),
                )
            }
        }
        (Affinity::Blob, Kind::Bytea) => (
            if seen.blobs > 0 {
                Severity::Changes
            } else {
                Severity::Risk
            },
            String::from(
                "BLOBs travel as base64 text, which bytea stores as the text's bytes; use text",
            ),
        ),
        _ => (
            if seen.values > 0 {
                Severity::Changes
            } else {
                Severity::Risk
            },
            String::from(
                "ebb cannot tell what Postgres makes of these values; make the types match",
            ),
        ),
    };
    Some(Finding {
        severity,
        line: format!("{head}: {what}"),
    })
}

/// For an INTEGER or NUMERIC column bound for an integer type: why its
/// REAL values (1.5, but 2.0 too) are refused, if it holds any.
fn numeric_reals(ours: Affinity, seen: &Observed) -> Option<String> {
    (ours != Affinity::Integer && seen.reals > 0)
        .then(|| format!("non-integer values are refused ({} here)", seen.reals))
}

fn extreme(seen: &Observed) -> i64 {
    let max = seen.max_int.unwrap_or_default();
    let min = seen.min_int.unwrap_or_default();
    if min.unsigned_abs() > max.unsigned_abs() {
        min
    } else {
        max
    }
}

/// The line for a column only one side has: `local` without `server`,
/// `server` without `local`, or both when the server spells the local
/// column's name in another case (names must match exactly).
pub(super) fn missing(
    table: &str,
    local: Option<&Column>,
    server: Option<&ServerColumn>,
) -> Option<Finding> {
    let line = match (local, server) {
        (Some(c), Some(s)) => format!(
            "{table}.{}: here, but the server spells it \"{}\": names must match exactly, or \
             its values never leave this device",
            c.name, s.column
        ),
        (Some(c), None) => format!(
            "{table}.{}: {} here, not on the server: its values never leave this device \
             (add the column on the server, or drop it here)",
            c.name,
            if c.decl_type.is_empty() {
                "no declared type"
            } else {
                &c.decl_type
            }
        ),
        (None, Some(s)) => {
            return Some(Finding {
                severity: Severity::Risk,
                line: format!(
                    "{table}.{}: {} on the server, not here: pulled values are dropped, and \
                     rows created here get the server's default{}",
                    s.column,
                    s.type_name,
                    if s.nullable {
                        " (or NULL)"
                    } else {
                        " (NOT NULL: without a default they are refused)"
                    }
                ),
            });
        }
        (None, None) => return None,
    };
    Some(Finding {
        severity: Severity::Changes,
        line,
    })
}

#[cfg(test)]
#[path = "typecheck_tests.rs"]
mod tests;
