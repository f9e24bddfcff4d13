//! What `ebb init` makes of the app's own tables: the order parents come
//! in, each table's primary key and how it crosses devices, the app's own
//! sync bookkeeping (left out), counter columns (merged by delta), columns
//! holding secrets, and foreign keys the schema does not declare.
//!
//! Pure judgement on facts the CLI reads from the database (`AppTable`):
//! nothing here opens a file. Guesses go by column names and types, so
//! every one is written into policies.toml as a suggestion with its
//! reason, never applied silently. Used by `starter` only.

use super::units;

/// One table of the app's database as `ebb init` read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppTable {
    pub name: String,
    /// In declaration order.
    pub columns: Vec<AppColumn>,
    /// (column, parent table) of each declared foreign key.
    pub foreign_keys: Vec<(String, String)>,
}

/// One column as `PRAGMA table_info` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppColumn {
    pub name: String,
    /// The declared type as written (may be empty).
    pub decl_type: String,
    /// Part of the primary key.
    pub pk: bool,
}

/// What `ebb init` offers for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Advice {
    /// Not offered: the reason, one sentence.
    Left(String),
    /// Offered as a `[tables.NAME]` block.
    Offer(Offer),
}

/// A table block's suggested keys, each with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    /// The one-column primary key.
    pub pk: String,
    /// The key is an integer each device mints (`keys = "map"`).
    pub integer_key: bool,
    /// Counter columns (`delta_fields`).
    pub counters: Vec<String>,
    /// Why it may hold secrets: "its name", or columns named so.
    pub secrets: Vec<String>,
    /// Undeclared foreign keys to tables with integer keys: (column, parent).
    pub references: Vec<(String, String)>,
    /// Looks like sync bookkeeping but was opted in anyway: why it looks so.
    pub bookkeeping: Option<String>,
}

impl AppTable {
    /// The one primary key column, if there is exactly one.
    fn pk(&self) -> Option<&AppColumn> {
        let mut keys = self.columns.iter().filter(|c| c.pk);
        match (keys.next(), keys.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    fn has_integer_key(&self) -> bool {
        self.pk().is_some_and(|c| is_integer(&c.decl_type))
    }

    /// Declared and guessed parents, itself excluded.
    pub(crate) fn parents(&self, all: &[AppTable]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let guessed = guessed_references(self, all);
        for (_, parent) in self.foreign_keys.iter().chain(&guessed) {
            if !parent.eq_ignore_ascii_case(&self.name) && !out.contains(parent) {
                out.push(parent.clone());
            }
        }
        out
    }
}

/// What to offer for `table`, one of `all`. `opted`: the user named it
/// (`--table`), so bookkeeping is offered anyway, with the warning.
pub(crate) fn advise(table: &AppTable, all: &[AppTable], opted: bool) -> Advice {
    if let Err(why) = units::identifier(&table.name) {
        return Advice::Left(format!("Not syncable: {why}."));
    }
    let bookkeeping = bookkeeping(table);
    if let Some(why) = &bookkeeping
        && !opted
    {
        return Advice::Left(format!(
            "{} looks like the app's own sync bookkeeping ({why}): left out. ebb keeps \
             its own queue; synced, this one would carry each till's queue to every \
             other till. Once ebb syncs, the app's old sync code can stop writing it.",
            table.name
        ));
    }
    let Some(pk) = table.pk() else {
        let keys: Vec<&str> = table
            .columns
            .iter()
            .filter(|c| c.pk)
            .map(|c| c.name.as_str())
            .collect();
        let has = match keys.as_slice() {
            [] => String::from("no primary key"),
            many => format!(
                "a primary key of {} columns ({})",
                many.len(),
                many.join(", ")
            ),
        };
        return Advice::Left(format!(
            "Not syncable: {} has {has}; ebb needs a one-column primary key.",
            table.name
        ));
    };
    let line_item = table.columns.iter().any(|c| {
        ["price", "amount", "total"]
            .iter()
            .any(|w| c.name.to_ascii_lowercase().contains(w))
    }) && !table.foreign_keys.is_empty();
    let references = guessed_references(table, all);
    let is_reference = |name: &str| {
        table
            .foreign_keys
            .iter()
            .chain(&references)
            .any(|(c, _)| c.eq_ignore_ascii_case(name))
    };
    let counters = table
        .columns
        .iter()
        .filter(|c| !c.pk && is_numeric(&c.decl_type) && !is_reference(&c.name))
        .filter(|c| counter_name(&c.name, line_item))
        .map(|c| c.name.clone())
        .collect();
    let mut secrets: Vec<String> = Vec::new();
    let lower = table.name.to_ascii_lowercase();
    if [
        "license",
        "licence",
        "credential",
        "secret",
        "token",
        "session",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        secrets.push(String::from("its name"));
    }
    secrets.extend(
        table
            .columns
            .iter()
            .filter(|c| secret_name(&c.name))
            .map(|c| c.name.clone()),
    );
    Advice::Offer(Offer {
        pk: pk.name.clone(),
        integer_key: is_integer(&pk.decl_type),
        counters,
        secrets,
        references,
        bookkeeping,
    })
}

/// The evidence that `table` is the app's own sync bookkeeping: its name
/// (sync_queue, sync_log, order_sync_state, ...) or its columns (a table
/// name beside a record id or an operation).
fn bookkeeping(table: &AppTable) -> Option<String> {
    let name = table.name.to_ascii_lowercase();
    let by_name = name == "sync"
        || name.starts_with("sync_")
        || name.ends_with("_sync")
        || name.contains("_sync_")
        || ["outbox", "changelog", "change_log", "pending_changes"].contains(&name.as_str());
    let find = |names: &[&str]| {
        table
            .columns
            .iter()
            .find(|c| names.contains(&c.name.to_ascii_lowercase().as_str()))
    };
    let shaped = [
        find(&[
            "table_name",
            "tbl",
            "table",
            "entity",
            "entity_type",
            "entity_name",
        ]),
        find(&["record_id", "row_id", "entity_id", "object_id", "record_pk"]),
        find(&["operation", "op", "action", "change_type"]),
        find(&[
            "status",
            "state",
            "synced",
            "is_synced",
            "synced_at",
            "sync_status",
        ]),
    ];
    let queue_like = shaped[0].is_some() && (shaped[1].is_some() || shaped[2].is_some());
    let columns: Vec<&str> = shaped.iter().flatten().map(|c| c.name.as_str()).collect();
    match (by_name, queue_like) {
        (false, false) => None,
        (true, false) => Some(String::from("its name")),
        (false, true) => Some(format!("columns {}", columns.join(", "))),
        (true, true) => Some(format!("its name; columns {}", columns.join(", "))),
    }
}

/// A number the app adds to and takes from, by its name. `quantity` and
/// `qty` count only outside a line item (a row with a price and a parent:
/// its quantity is what was sold, set once, not a running count).
fn counter_name(name: &str, line_item: bool) -> bool {
    let n = name.to_ascii_lowercase();
    let strong = [
        "stock",
        "on_hand",
        "in_stock",
        "inventory",
        "balance",
        "amount_paid",
        "points",
    ]
    .contains(&n.as_str())
        || ["_count", "_stock", "_balance", "_on_hand", "_points"]
            .iter()
            .any(|s| n.ends_with(s))
        || ["stock_", "amount_paid_", "balance_"]
            .iter()
            .any(|p| n.starts_with(p));
    let weak = ["quantity", "qty"].contains(&n.as_str())
        || ["_qty", "_quantity"].iter().any(|s| n.ends_with(s))
        || ["qty_", "quantity_"].iter().any(|p| n.starts_with(p));
    strong || (weak && !line_item)
}

/// A column whose name says it holds a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "passcode",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "license_key",
    ]
    .iter()
    .any(|w| n.contains(w))
        || ["pin", "pin_hash", "salt"].contains(&n.as_str())
}

/// Columns named like a key of another table with an integer key
/// (`product_id` -> `products`) that the schema does not declare.
fn guessed_references(table: &AppTable, all: &[AppTable]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for column in table.columns.iter().filter(|c| !c.pk) {
        let lower = column.name.to_ascii_lowercase();
        let Some(stem) = lower.strip_suffix("_id").filter(|s| !s.is_empty()) else {
            continue;
        };
        if table
            .foreign_keys
            .iter()
            .any(|(c, _)| c.eq_ignore_ascii_case(&column.name))
        {
            continue;
        }
        let mut names = vec![stem.to_string(), format!("{stem}s"), format!("{stem}es")];
        if let Some(base) = stem.strip_suffix('y') {
            names.push(format!("{base}ies"));
        }
        let parent = all.iter().find(|t| {
            !t.name.eq_ignore_ascii_case(&table.name)
                && names.iter().any(|n| t.name.eq_ignore_ascii_case(n))
                && t.has_integer_key()
        });
        if let Some(parent) = parent {
            out.push((column.name.clone(), parent.name.clone()));
        }
    }
    out
}

/// Indices of `tables` with each after the tables it references, in the
/// given order otherwise; then those in a cycle of references (which no
/// order puts parents first), in the given order.
pub(crate) fn parents_first(tables: &[AppTable]) -> (Vec<usize>, Vec<usize>) {
    let parents: Vec<Vec<usize>> = tables
        .iter()
        .map(|t| {
            t.parents(tables)
                .iter()
                .filter_map(|p| tables.iter().position(|o| o.name.eq_ignore_ascii_case(p)))
                .collect()
        })
        .collect();
    let mut placed: Vec<usize> = Vec::with_capacity(tables.len());
    loop {
        let ready = (0..tables.len())
            .find(|i| !placed.contains(i) && parents[*i].iter().all(|p| placed.contains(p)));
        match ready {
            Some(i) => placed.push(i),
            None => break,
        }
    }
    let stuck = (0..tables.len()).filter(|i| !placed.contains(i)).collect();
    (placed, stuck)
}

/// SQLite's INTEGER affinity: the declared type contains "INT".
fn is_integer(decl_type: &str) -> bool {
    decl_type.to_ascii_uppercase().contains("INT")
}

/// INTEGER, REAL or NUMERIC affinity (not text, not blob, not untyped),
/// and not declared a date, time or boolean.
fn is_numeric(decl_type: &str) -> bool {
    let t = decl_type.to_ascii_uppercase();
    let not = ["CHAR", "CLOB", "TEXT", "BLOB", "DATE", "TIME", "BOOL"];
    is_integer(&t) || (!not.iter().any(|w| t.contains(w)) && !t.trim().is_empty())
}

#[cfg(test)]
#[path = "survey_tests.rs"]
mod tests;
