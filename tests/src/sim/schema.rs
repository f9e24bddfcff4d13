//! The example app's synced tables as the fake server holds them: columns,
//! defaults, NOT NULL, CHECKs, foreign keys and the unique sku, mirrored by
//! hand from example/server.sql.
//!
//! Pure data and a row checker that answers with the SQLSTATE PostgreSQL
//! would raise. It holds no rows; `fake::store` asks it before every write.

use serde_json::{Map, Value};

use ebb::model::Row;

/// A column's SQL type, as far as the fake needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bigint`
    Int,
    /// `text`
    Text,
}

/// A CHECK constraint on one column (a NULL passes, as in SQL).
#[derive(Debug, Clone, Copy)]
pub enum Check {
    None,
    /// `value >= n`
    AtLeast(i64),
    /// `value > n`
    Above(i64),
    /// `value IN (...)`
    OneOf(&'static [&'static str]),
}

/// One column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub not_null: bool,
    /// The DEFAULT, as JSON text (`None`: NULL).
    pub default: Option<&'static str>,
    pub check: Check,
}

/// `column REFERENCES parent(id)`, with or without ON DELETE CASCADE.
#[derive(Debug, Clone, Copy)]
pub struct ForeignKey {
    pub column: &'static str,
    pub parent: &'static str,
    pub cascade: bool,
}

/// One synced table; the primary key is always the text column `id`.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    pub foreign_keys: &'static [ForeignKey],
    /// Columns with a UNIQUE constraint besides the key.
    pub unique: &'static [&'static str],
}

/// A refused write: the SQLSTATE and PostgreSQL's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: &'static str,
    pub message: String,
}

const fn col(name: &'static str, kind: Kind, not_null: bool) -> Column {
    Column {
        name,
        kind,
        not_null,
        default: None,
        check: Check::None,
    }
}

const fn checked(name: &'static str, not_null: bool, check: Check) -> Column {
    Column {
        name,
        kind: Kind::Int,
        not_null,
        default: None,
        check,
    }
}

const ID: Column = col("id", Kind::Text, true);
const UPDATED_AT: Column = col("updated_at", Kind::Text, true);

/// The four synced tables, parents first (the config order).
pub const TABLES: [Table; 4] = [
    Table {
        name: "products",
        columns: &[
            ID,
            col("sku", Kind::Text, true),
            col("name", Kind::Text, true),
            col("category", Kind::Text, true),
            checked("price_cents", true, Check::AtLeast(0)),
            checked("sale_price_cents", false, Check::AtLeast(0)),
            Column {
                default: Some("0"),
                ..col("stock", Kind::Int, true)
            },
            UPDATED_AT,
        ],
        foreign_keys: &[],
        unique: &["sku"],
    },
    Table {
        name: "customers",
        columns: &[
            ID,
            col("name", Kind::Text, true),
            col("phone", Kind::Text, false),
            col("email", Kind::Text, false),
            col("notes", Kind::Text, false),
            UPDATED_AT,
        ],
        foreign_keys: &[],
        unique: &[],
    },
    Table {
        name: "debts",
        columns: &[
            ID,
            col("customer_id", Kind::Text, true),
            checked("amount_cents", true, Check::Above(0)),
            Column {
                default: Some("0"),
                ..checked("amount_paid_cents", true, Check::AtLeast(0))
            },
            Column {
                kind: Kind::Text,
                default: Some("\"open\""),
                ..checked("status", true, Check::OneOf(&["open", "paid"]))
            },
            col("note", Kind::Text, false),
            UPDATED_AT,
        ],
        foreign_keys: &[ForeignKey {
            column: "customer_id",
            parent: "customers",
            cascade: false,
        }],
        unique: &[],
    },
    Table {
        name: "debt_payments",
        columns: &[
            ID,
            col("debt_id", Kind::Text, true),
            checked("amount_cents", true, Check::Above(0)),
            col("paid_at", Kind::Text, true),
        ],
        foreign_keys: &[ForeignKey {
            column: "debt_id",
            parent: "debts",
            cascade: true,
        }],
        unique: &[],
    },
];

/// The synced table called `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    /// A new row from what an INSERT names: the named real columns (coerced
    /// to their types), every other column its DEFAULT. Keys that are not
    /// columns (ebb's `_ebb_*`, typos) are ignored, as `ebb_push` does.
    pub fn insert_row(&self, sent: &Row) -> Result<Row, Violation> {
        let mut row = Map::new();
        for c in self.columns {
            let value = match sent.get(c.name) {
                Some(v) => coerce(self, c, v)?,
                None => c
                    .default
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null),
            };
            row.insert(c.name.to_string(), value);
        }
        self.check(&row)?;
        Ok(row)
    }

    /// `current` with the named real columns of `sent` set (an UPDATE of
    /// those columns only; the key never changes).
    pub fn update_row(&self, current: &Row, sent: &Row) -> Result<Row, Violation> {
        let mut row = current.clone();
        for c in self.columns.iter().filter(|c| c.name != "id") {
            if let Some(v) = sent.get(c.name) {
                row.insert(c.name.to_string(), coerce(self, c, v)?);
            }
        }
        self.check(&row)?;
        Ok(row)
    }

    /// NOT NULL and CHECK constraints of a whole row.
    fn check(&self, row: &Row) -> Result<(), Violation> {
        for c in self.columns {
            let value = row.get(c.name).unwrap_or(&Value::Null);
            if value.is_null() {
                if c.not_null {
                    return Err(Violation {
                        code: "23502",
                        message: format!(
                            "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                            c.name, self.name
                        ),
                    });
                }
                continue;
            }
            let passes = match c.check {
                Check::None => true,
                Check::AtLeast(n) => value.as_i64().is_some_and(|v| v >= n),
                Check::Above(n) => value.as_i64().is_some_and(|v| v > n),
                Check::OneOf(allowed) => value.as_str().is_some_and(|v| allowed.contains(&v)),
            };
            if !passes {
                return Err(Violation {
                    code: "23514",
                    message: format!(
                        "new row for relation \"{}\" violates check constraint \"{}_{}_check\"",
                        self.name, self.name, c.name
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A JSON value as `jsonb_populate_record` stores it in a column of `kind`:
/// integers (or integer text) for bigint, any scalar as text for text.
fn coerce(table: &Table, c: &Column, value: &Value) -> Result<Value, Violation> {
    let bad = || Violation {
        code: "22P02",
        message: format!(
            "invalid input syntax for type {} (column \"{}\" of \"{}\")",
            match c.kind {
                Kind::Int => "bigint",
                Kind::Text => "text",
            },
            c.name,
            table.name
        ),
    };
    match (c.kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Kind::Int, Value::Number(n)) => n.as_i64().map(Value::from).ok_or_else(bad),
        (Kind::Int, Value::String(s)) => {
            s.trim().parse::<i64>().map(Value::from).map_err(|_| bad())
        }
        (Kind::Int, _) => Err(bad()),
        (Kind::Text, Value::String(s)) => Ok(Value::String(s.clone())),
        (Kind::Text, other) => Ok(Value::String(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_and_checks() {
        let debts = table("debts").unwrap();
        let r = debts
            .insert_row(&row(
                json!({"id": "d", "customer_id": "c", "amount_cents": 5,
                                     "updated_at": "t", "_ebb_version": 9}),
            ))
            .unwrap();
        assert_eq!(r["amount_paid_cents"], json!(0));
        assert_eq!(r["status"], json!("open"));
        assert!(!r.contains_key("_ebb_version"));
        let e = debts
            .insert_row(&row(
                json!({"id": "d", "customer_id": "c", "amount_cents": 0,
                                     "updated_at": "t"}),
            ))
            .unwrap_err();
        assert_eq!(e.code, "23514");
        let e = debts
            .insert_row(&row(
                json!({"id": "d", "amount_cents": 1, "updated_at": "t"}),
            ))
            .unwrap_err();
        assert_eq!(e.code, "23502");
    }
}
