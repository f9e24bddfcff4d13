//! Building blocks for resolvers that merge: the usual answers when there
//! is nothing to merge, a field-by-field three-way merge, and counters
//! merged by their deltas from the base.
//!
//! ```
//! use ebb_policy::{Resolution, Resolver, Row, Sides};
//!
//! pub struct Stock;
//!
//! impl Resolver for Stock {
//!     fn resolve(
//!         _table: &str,
//!         local: Option<&Row>,
//!         remote: Option<&Row>,
//!         base: Option<&Row>,
//!     ) -> Result<Resolution, String> {
//!         let sides = match Sides::live(local, remote, base) {
//!             Ok(sides) => sides,
//!             Err(answer) => return Ok(answer),
//!         };
//!         let mut merged = sides.merge_fields();
//!         merged.insert("stock".into(), sides.delta("stock")?.into());
//!         Ok(Resolution::Merged(merged))
//!     }
//! }
//! ```
//!
//! Pure functions of their inputs, like the plugins that use them.

use crate::json::{Row, RowExt};
use crate::policy::Resolution;

/// Both rows of a conflict, live, with their common base: what a merging
/// resolver works on.
#[derive(Debug, Clone, Copy)]
pub struct Sides<'a> {
    pub local: &'a Row,
    pub remote: &'a Row,
    pub base: &'a Row,
}

impl<'a> Sides<'a> {
    /// The three rows, or the usual answer when there is nothing to merge:
    /// deleted on both sides, they agree (take-remote); deleted on one
    /// side, or no common base (the row was created on both devices), a
    /// person decides (manual, saying which).
    pub fn live(
        local: Option<&'a Row>,
        remote: Option<&'a Row>,
        base: Option<&'a Row>,
    ) -> Result<Sides<'a>, Resolution> {
        let (local, remote) = match (local, remote) {
            (Some(local), Some(remote)) => (local, remote),
            (None, None) => return Err(Resolution::TakeRemote),
            _ => return Err(Resolution::Manual("deleted on one side".into())),
        };
        let Some(base) = base else {
            return Err(Resolution::Manual("no common base to merge from".into()));
        };
        Ok(Sides {
            local,
            remote,
            base,
        })
    }

    /// Field by field: a field changed from the base on one side only takes
    /// that side's value; changed on both sides (or neither), the remote
    /// side's. A field missing from the chosen side stays out.
    pub fn merge_fields(&self) -> Row {
        let mut merged = Row::new();
        let fields = self.remote.keys().chain(
            self.local
                .keys()
                .filter(|k| !self.remote.contains_key(k.as_str())),
        );
        for field in fields {
            let (l, r, b) = (
                self.local.get(field),
                self.remote.get(field),
                self.base.get(field),
            );
            let chosen = if l != b && r == b { l } else { r };
            if let Some(value) = chosen {
                merged.insert(field.clone(), value.clone());
            }
        }
        merged
    }

    /// The integer `field` on each side, as `[base, local, remote]`; an
    /// error names the side and field that is missing or not an integer.
    pub fn ints(&self, field: &str) -> Result<[i64; 3], String> {
        let get = |row: &Row, side: &str| {
            row.int(field)
                .ok_or_else(|| format!("{side} {field} must be an integer"))
        };
        Ok([
            get(self.base, "base")?,
            get(self.local, "local")?,
            get(self.remote, "remote")?,
        ])
    }

    /// The counter `field` merged by deltas: base + (local - base) +
    /// (remote - base), so two devices selling 3 and 2 of 10 leave 5.
    pub fn delta(&self, field: &str) -> Result<i64, String> {
        let [base, local, remote] = self.ints(field)?;
        local
            .checked_sub(base)
            .and_then(|local_delta| remote.checked_add(local_delta))
            .ok_or_else(|| format!("merged {field} overflows"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: serde_json::Value) -> Row {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn nothing_to_merge_gives_the_usual_answers() {
        let r = row(json!({"id": 1}));
        assert_eq!(
            Sides::live(None, None, Some(&r)).unwrap_err(),
            Resolution::TakeRemote
        );
        assert!(matches!(
            Sides::live(Some(&r), None, Some(&r)).unwrap_err(),
            Resolution::Manual(m) if m == "deleted on one side"
        ));
        assert!(matches!(
            Sides::live(Some(&r), Some(&r), None).unwrap_err(),
            Resolution::Manual(m) if m.contains("no common base")
        ));
        assert!(Sides::live(Some(&r), Some(&r), Some(&r)).is_ok());
    }

    #[test]
    fn fields_take_the_side_that_changed_them() {
        let base = row(json!({"a": 1, "b": 1, "c": 1, "d": 1}));
        let local = row(json!({"a": 2, "b": 1, "c": 3, "d": 1, "new": "l"}));
        let remote = row(json!({"a": 1, "b": 2, "c": 4, "d": 1}));
        let sides = Sides::live(Some(&local), Some(&remote), Some(&base)).unwrap();
        assert_eq!(
            sides.merge_fields(),
            row(json!({"a": 2, "b": 2, "c": 4, "d": 1, "new": "l"}))
        );
    }

    #[test]
    fn counters_merge_by_delta_and_errors_name_the_side() {
        let (base, local, remote) = (
            row(json!({"n": 10})),
            row(json!({"n": 7})),
            row(json!({"n": 8})),
        );
        let sides = Sides::live(Some(&local), Some(&remote), Some(&base)).unwrap();
        assert_eq!(sides.delta("n"), Ok(5));
        assert_eq!(sides.ints("n"), Ok([10, 7, 8]));
        let bad = row(json!({"n": "x"}));
        let sides = Sides::live(Some(&local), Some(&bad), Some(&base)).unwrap();
        assert_eq!(sides.delta("n"), Err("remote n must be an integer".into()));
        let (low, high) = (row(json!({"n": i64::MIN})), row(json!({"n": i64::MAX})));
        let sides = Sides::live(Some(&high), Some(&high), Some(&low)).unwrap();
        assert_eq!(sides.delta("n"), Err("merged n overflows".into()));
    }
}
