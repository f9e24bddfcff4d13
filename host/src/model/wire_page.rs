//! The two wire forms of a pulled page's rows, read into [`PullPage`]:
//! - each row the object `{"pk", "version", "txid", "deleted", "origin",
//!   "row"}` with the row an object, as `ebb_pull` answers a till that
//!   does not ask for arrays (and as an install from before arrays always
//!   answers);
//! - each row the array `[pk, version, txid, deleted, origin, row]` with
//!   the row the array of its values in the order of the page's `cols`,
//!   named once, as `ebb_pull` answers a cursor with `"rows": "arrays"`: no
//!   name written and read per field, a third less of the server's time
//!   and of the bytes a row. A table too wide for arrays keeps its rows as
//!   objects inside them.
//!
//! A row whose values do not match the page's names is refused with its
//! key: the page is not read, so nothing of it is applied.

use std::fmt;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Cursor, PullPage, PulledRow, Row};

/// A page as it came, before its rows are named.
#[derive(Deserialize)]
pub struct WirePage {
    rows: Vec<WireRow>,
    next: Cursor,
    has_more: bool,
    horizon: String,
    #[serde(default)]
    in_flight: bool,
    /// The names of an array row's values, in order.
    #[serde(default)]
    cols: Option<Vec<String>>,
}

impl TryFrom<WirePage> for PullPage {
    type Error = String;

    fn try_from(page: WirePage) -> Result<PullPage, String> {
        let cols = page.cols.unwrap_or_default();
        let rows = page
            .rows
            .into_iter()
            .map(|row| row.named(&cols))
            .collect::<Result<_, _>>()?;
        Ok(PullPage {
            rows,
            next: page.next,
            has_more: page.has_more,
            horizon: page.horizon,
            in_flight: page.in_flight,
            bytes: 0,
        })
    }
}

/// One row as it came: its sync fields, and its values named or listed.
struct WireRow {
    pk: String,
    version: i64,
    txid: String,
    deleted: bool,
    origin: Option<String>,
    row: Option<Values>,
}

enum Values {
    Named(Row),
    Listed(Vec<Value>),
}

impl WireRow {
    /// The row with its values named by `cols` when they came listed.
    fn named(self, cols: &[String]) -> Result<PulledRow, String> {
        let row = match self.row {
            None => None,
            Some(Values::Named(row)) => Some(row),
            Some(Values::Listed(values)) if values.len() == cols.len() => {
                Some(cols.iter().cloned().zip(values).collect())
            }
            Some(Values::Listed(values)) => {
                return Err(format!(
                    "pulled row {:?} has {} values for the page's {} columns",
                    self.pk,
                    values.len(),
                    cols.len()
                ));
            }
        };
        Ok(PulledRow {
            pk: self.pk,
            version: self.version,
            txid: self.txid,
            deleted: self.deleted,
            origin: self.origin,
            row,
        })
    }
}

impl<'de> Deserialize<'de> for WireRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WireRow, D::Error> {
        deserializer.deserialize_any(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = WireRow;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a pulled row: an object, or [pk, version, txid, deleted, origin, row]")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WireRow, A::Error> {
        let row = PulledRow::deserialize(MapAccessDeserializer::new(map))?;
        Ok(WireRow {
            pk: row.pk,
            version: row.version,
            txid: row.txid,
            deleted: row.deleted,
            origin: row.origin,
            row: row.row.map(Values::Named),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireRow, A::Error> {
        let row = WireRow {
            pk: element(&mut seq, 0, &self)?,
            version: element(&mut seq, 1, &self)?,
            txid: element(&mut seq, 2, &self)?,
            deleted: element(&mut seq, 3, &self)?,
            origin: element(&mut seq, 4, &self)?,
            row: element(&mut seq, 5, &self)?,
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(7, &self));
        }
        Ok(row)
    }
}

fn element<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
    seq: &mut A,
    index: usize,
    visitor: &RowVisitor,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(index, visitor))
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Values, D::Error> {
        deserializer.deserialize_any(ValuesVisitor)
    }
}

struct ValuesVisitor;

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = Values;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a pulled row's values: an object, or an array in the page's column order")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Values, A::Error> {
        Row::deserialize(MapAccessDeserializer::new(map)).map(Values::Named)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(16));
        while let Some(value) = seq.next_element()? {
            values.push(value);
        }
        Ok(Values::Listed(values))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn page(rows: Value, cols: Value) -> Result<PullPage, serde_json::Error> {
        serde_json::from_value(json!({
            "cols": cols, "rows": rows, "next": {"txid": "9", "pk": "b"},
            "has_more": false, "horizon": "10", "in_flight": false,
        }))
    }

    #[test]
    fn arrays_read_as_the_objects_they_stand_for() {
        let objects = page(
            json!([
                {"pk": "a", "version": 2, "txid": "7", "deleted": false, "origin": "till-1",
                 "row": {"id": "a", "price": 7.5, "note": null}},
                {"pk": "b", "version": 3, "txid": "9", "deleted": true, "origin": null, "row": null},
            ]),
            Value::Null,
        )
        .unwrap();
        let arrays = page(
            json!([
                ["a", 2, "7", false, "till-1", ["a", 7.5, null]],
                ["b", 3, "9", true, null, null],
            ]),
            json!(["id", "price", "note"]),
        )
        .unwrap();
        assert_eq!(arrays, objects);
        let row = arrays.rows[0].row.as_ref().unwrap();
        assert_eq!(
            row.keys().collect::<Vec<_>>(),
            ["id", "price", "note"],
            "the columns keep the page's order"
        );
        // A wide table's rows stay objects inside the arrays.
        let wide = page(
            json!([["a", 2, "7", false, "till-1", {"id": "a", "price": 7.5, "note": null}],
                   ["b", 3, "9", true, null, null]]),
            Value::Null,
        )
        .unwrap();
        assert_eq!(wide, objects);
    }

    #[test]
    fn a_row_that_does_not_match_its_names_refuses_the_page() {
        let short = page(
            json!([["a", 2, "7", false, null, ["a"]]]),
            json!(["id", "price"]),
        );
        let message = short.unwrap_err().to_string();
        assert!(
            message.contains("\"a\" has 1 values for the page's 2 columns"),
            "{message}"
        );
        let unnamed = page(json!([["a", 2, "7", false, null, ["a"]]]), Value::Null);
        assert!(unnamed.is_err());
        let long = page(json!([["a", 2, "7", false, null, null, 1]]), json!([]));
        assert!(long.unwrap_err().to_string().contains("invalid length 7"));
        let short_meta = page(json!([["a", 2, "7"]]), json!([]));
        assert!(
            short_meta
                .unwrap_err()
                .to_string()
                .contains("invalid length 3")
        );
        let bad_type = page(json!([["a", "two", "7", false, null, null]]), json!([]));
        assert!(bad_type.is_err());
    }
}
