//! The built-in `merge` conflict strategy: a field-level three-way merge.
//!
//! Pure functions, no I/O and no schema: `Policies` checks the merged row.
//! For each field in the union of the three rows: unchanged on both sides ->
//! kept; changed on both, listed in `delta_fields` and numeric on all three
//! -> base + both deltas (integers stay integers), also when both sides
//! ended at the same value (two equal sales both count); changed on one side
//! -> that side; changed to the same value on both -> that value; otherwise
//! `on_both` decides (remote, local, or manual). Without a base every
//! differing field follows `on_both`. A deleted side follows `on_both`,
//! unless the other side is unchanged from the base (then the deletion is
//! the only change and wins).

use serde_json::{Number, Value};

use super::Decision;
use crate::config::BothChanged;
use crate::model::Row;

/// Longest rendering of a value in a manual reason.
const MAX_SHOWN: usize = 60;

/// Merges one conflicting row. `None` is a deleted row (local, remote) or a
/// missing base. Returns `TakeRemote` / `TakeLocal` when the result equals
/// that side exactly (remote preferred when both sides agree), otherwise
/// `Merged(Some(row))` or `Manual(reason)`.
pub fn merge(
    local: Option<&Row>,
    remote: Option<&Row>,
    base: Option<&Row>,
    on_both: BothChanged,
    delta_fields: &[String],
) -> Decision {
    let (local, remote) = match (local, remote) {
        (None, None) => return Decision::TakeRemote,
        (Some(l), Some(r)) => (l, r),
        (None, Some(r)) => {
            if base == Some(r) {
                return Decision::TakeLocal;
            }
            return deleted_side(on_both, "local");
        }
        (Some(l), None) => {
            if base == Some(l) {
                return Decision::TakeRemote;
            }
            return deleted_side(on_both, "remote");
        }
    };
    let mut merged = Row::new();
    for name in union(local, remote, base) {
        let l = local.get(name);
        let r = remote.get(name);
        let b = base.and_then(|b| b.get(name));
        let changed_l = base.is_none() || l != b;
        let changed_r = base.is_none() || r != b;
        // A counter changed on both sides adds both deltas, also when the
        // two sides ended equal (each sold one of 26: 24, not 25).
        let sum = if changed_l && changed_r {
            delta(name, l, r, b, base.is_some(), delta_fields)
        } else {
            None
        };
        let value = if let Some(sum) = sum {
            merged.insert(name.clone(), Value::Number(sum));
            continue;
        } else if l == r {
            l
        } else if !changed_l {
            r
        } else if !changed_r {
            l
        } else {
            match on_both {
                BothChanged::Remote => r,
                BothChanged::Local => l,
                BothChanged::Manual => {
                    return Decision::Manual(format!(
                        "field {name} changed on both sides: local {}, remote {}",
                        shown(l),
                        shown(r)
                    ));
                }
            }
        };
        if let Some(v) = value {
            merged.insert(name.clone(), v.clone());
        }
    }
    if &merged == remote {
        Decision::TakeRemote
    } else if &merged == local {
        Decision::TakeLocal
    } else {
        Decision::Merged(Some(merged))
    }
}

fn deleted_side(on_both: BothChanged, which: &str) -> Decision {
    match on_both {
        BothChanged::Remote => Decision::TakeRemote,
        BothChanged::Local => Decision::TakeLocal,
        BothChanged::Manual => Decision::Manual(format!(
            "row deleted on the {which} side and changed on the other"
        )),
    }
}

/// Field names of local, then remote, then base, each once.
fn union<'a>(local: &'a Row, remote: &'a Row, base: Option<&'a Row>) -> Vec<&'a String> {
    let mut names: Vec<&String> = local.keys().collect();
    names.extend(remote.keys().filter(|k| !local.contains_key(*k)));
    if let Some(base) = base {
        names.extend(
            base.keys()
                .filter(|k| !local.contains_key(*k) && !remote.contains_key(*k)),
        );
    }
    names
}

/// base + (local - base) + (remote - base) for a delta field with three
/// numbers; integers when all three are integers and the sum fits in i64.
fn delta(
    name: &str,
    l: Option<&Value>,
    r: Option<&Value>,
    b: Option<&Value>,
    has_base: bool,
    delta_fields: &[String],
) -> Option<Number> {
    if !has_base || !delta_fields.iter().any(|f| f == name) {
        return None;
    }
    let (l, r, b) = (l?.as_number()?, r?.as_number()?, b?.as_number()?);
    if let (Some(l), Some(r), Some(b)) = (l.as_i64(), r.as_i64(), b.as_i64()) {
        let sum = i128::from(l) + i128::from(r) - i128::from(b);
        return i64::try_from(sum).ok().map(Number::from);
    }
    let sum = l.as_f64()? + r.as_f64()? - b.as_f64()?;
    Number::from_f64(sum)
}

fn shown(v: Option<&Value>) -> String {
    let text = match v {
        None => return "(absent)".to_string(),
        Some(v) => v.to_string(),
    };
    if text.chars().count() <= MAX_SHOWN {
        text
    } else {
        let cut: String = text.chars().take(MAX_SHOWN).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests;
