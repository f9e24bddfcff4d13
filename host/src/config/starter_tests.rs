//! Tests of the starter policies.toml: it loads with nothing opted in and
//! with every block uncommented, in foreign-key order, with the suggestions.

use super::*;
use crate::config::survey::AppColumn;
use crate::config::{ConflictPolicy, KeyMode, PluginLimits, parse};

/// A table from "name TYPE [pk]" column specs and (column, parent) keys.
fn table(name: &str, columns: &[&str], fks: &[(&str, &str)]) -> AppTable {
    AppTable {
        name: name.into(),
        columns: columns
            .iter()
            .map(|spec| {
                let words: Vec<&str> = spec.split_whitespace().collect();
                AppColumn {
                    name: words[0].into(),
                    decl_type: words.get(1).copied().unwrap_or_default().into(),
                    pk: words.get(2) == Some(&"pk"),
                }
            })
            .collect(),
        foreign_keys: fks
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect(),
    }
}

fn text_table(name: &str) -> AppTable {
    table(name, &["id TEXT pk", "name TEXT"], &[])
}

/// The text with the section defaults and every table block uncommented:
/// lines from `# [tables.NAME]` down to the next blank line (but the
/// plugin hints, which name files to write first).
fn open_everything(text: &str) -> String {
    let skip = [
        "api_key_file",
        "access_token_env",
        "access_token_file",
        "resolver",
        "validate",
        "notify_command",
        "rest_root",
    ];
    let (sections, tables) = text.split_at(text.find("\n# Synced tables").unwrap());
    let mut out = String::new();
    for line in sections.lines() {
        let opened = match line.strip_prefix("# ") {
            Some(rest)
                if !skip.iter().any(|k| rest.starts_with(k))
                    && rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    }) =>
            {
                rest
            }
            _ => line,
        };
        out.push_str(opened);
        out.push('\n');
    }
    let mut in_block = false;
    for line in tables.lines() {
        if line.is_empty() {
            in_block = false;
        }
        let opened = match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with("[tables.") => {
                in_block = true;
                rest
            }
            Some(rest) if in_block && !skip.iter().any(|k| rest.starts_with(k)) => rest,
            _ => line,
        };
        out.push_str(opened);
        out.push('\n');
    }
    out
}

/// A temp dir with schemas/NAME.schema.json for each table.
fn dir_with_schemas(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
    for name in names {
        std::fs::write(
            dir.path().join(format!("schemas/{name}.schema.json")),
            "true",
        )
        .unwrap();
    }
    dir
}

#[test]
fn starter_loads_with_nothing_synced() {
    let tables = [
        text_table("products"),
        text_table("users"),
        text_table("_ebb_queue"),
        text_table("sqlite_sequence"),
    ];
    let text = starter(Path::new("app.db"), &tables, &[]).text;
    assert!(text.starts_with("#:schema ./schemas/policies.schema.json\n"));
    assert!(text.contains("# [tables.products]"));
    assert!(text.contains("# [tables.users]"));
    assert!(!text.contains("_ebb_queue"));
    assert!(!text.contains("sqlite_sequence"));
    let dir = tempfile::tempdir().unwrap();
    let config = parse(&text, &dir.path().join("policies.toml")).unwrap();
    assert!(config.tables.is_empty());
    assert_eq!(config.database, dir.path().join("app.db"));
    assert_eq!(config.sync.batch_size, 1000);
}

#[test]
fn every_default_shown_is_the_real_default() {
    // Uncommenting every `# key = value` line of the sections (but one key
    // source, the example notify command) and the table block must change
    // nothing.
    let text = starter(Path::new("app.db"), &[text_table("orders")], &[]).text;
    let dir = dir_with_schemas(&["orders"]);
    let path = dir.path().join("policies.toml");
    let plain = parse(&text, &path).unwrap();
    let full = parse(&open_everything(&text), &path).unwrap();
    assert_eq!(full.tables.len(), 1);
    assert_eq!(full.tables[0].conflict, ConflictPolicy::ServerWins);
    assert_eq!(full.tables[0].pk, "id");
    assert_eq!(full.tables[0].keys, KeyMode::Shared);
    assert_eq!(full.tables[0].limits, PluginLimits::default());
    let strip = |c: &crate::config::Config| {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}",
            c.remote, c.sync, c.retry, c.rate_limit, c.alerts, c.ops
        )
    };
    assert_eq!(strip(&plain), strip(&full));
}

#[test]
fn odd_names_are_noted_not_offered() {
    let text = starter(Path::new("my app.db"), &[text_table("order items")], &[]).text;
    assert!(text.contains("# Not syncable: \"order items\" is not a plain identifier"));
    assert!(!text.contains("[tables.order items]"));
    assert!(
        starter(Path::new("a.db"), &[], &[])
            .text
            .contains("no tables yet")
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(parse(&text, &dir.path().join("policies.toml")).is_ok());
}

/// A point-of-sale shape: integer keys, a counter, the app's old queue.
fn shop() -> Vec<AppTable> {
    vec![
        table("categories", &["id INTEGER pk", "name TEXT"], &[]),
        table(
            "products",
            &[
                "id INTEGER pk",
                "category_id INTEGER",
                "name TEXT",
                "stock INTEGER",
            ],
            &[("category_id", "categories")],
        ),
        table(
            "sale_items",
            &[
                "id INTEGER pk",
                "sale_id INTEGER",
                "product_id INTEGER",
                "quantity INTEGER",
                "price REAL",
            ],
            &[("sale_id", "sales"), ("product_id", "products")],
        ),
        table(
            "sales",
            &["id INTEGER pk", "total REAL", "customer_id INTEGER"],
            &[],
        ),
        table("customers", &["id INTEGER pk", "balance REAL"], &[]),
        table("settings", &["key TEXT pk", "value TEXT"], &[]),
        table(
            "sync_queue",
            &[
                "id INTEGER pk",
                "table_name TEXT",
                "record_id INTEGER",
                "operation TEXT",
            ],
            &[],
        ),
        table("tags", &["product_id INTEGER pk", "tag TEXT pk"], &[]),
        table(
            "users",
            &["id INTEGER pk", "username TEXT", "password_hash TEXT"],
            &[],
        ),
    ]
}

#[test]
fn tables_come_parents_first_with_their_keys_and_counters() {
    let text = starter(Path::new("pos.db"), &shop(), &[]).text;
    let at = |t: &str| {
        text.find(&format!("# [tables.{t}]\n"))
            .unwrap_or_else(|| panic!("{t} not offered:\n{text}"))
    };
    assert!(at("categories") < at("products"));
    assert!(at("products") < at("sale_items") && at("sales") < at("sale_items"));
    // An undeclared reference to a table with integer keys orders too.
    assert!(at("customers") < at("sales"), "{text}");
    assert!(text.contains("# pk = \"key\"\n"), "{text}");
    assert!(text.contains("# keys = \"map\""));
    assert!(text.contains("# references = { customer_id = \"customers\" }"));
    assert!(text.contains("# delta_fields = [\"stock\"]"));
    assert!(text.contains("# delta_fields = [\"balance\"]"));
    // A line item's quantity is what was sold, not a running count.
    let sale_items = &text[at("sale_items")..];
    let sale_items = &sale_items[..sale_items.find("\n\n").unwrap_or(sale_items.len())];
    assert!(
        sale_items.contains("conflict = \"server_wins\""),
        "{sale_items}"
    );
    assert!(!text.contains("[tables.sync_queue]"));
    assert!(text.contains("# sync_queue looks like the app's own sync bookkeeping"));
    assert!(!text.contains("[tables.tags]"));
    assert!(text.contains("tags has a primary key of 2 columns (product_id, tag)"));
    assert!(text.contains("# users may hold secrets (password_hash): leave it out"));
    for line in text.lines().filter(|l| !l.contains(" = ")) {
        assert!(line.len() <= 80, "long line: {line}");
    }
}

#[test]
fn every_block_uncommented_loads() {
    let tables = shop();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let dir = dir_with_schemas(&names);
    let path = dir.path().join("policies.toml");
    let text = starter(Path::new("pos.db"), &tables, &[]).text;
    assert!(parse(&text, &path).unwrap().tables.is_empty());
    let config = parse(&open_everything(&text), &path).unwrap();
    let synced: Vec<&str> = config.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        synced,
        [
            "categories",
            "products",
            "customers",
            "sales",
            "sale_items",
            "settings",
            "users"
        ]
    );
    let products = &config.tables[1];
    assert_eq!(products.keys, KeyMode::Map);
    assert!(matches!(
        &products.conflict,
        ConflictPolicy::Merge { delta_fields, .. } if delta_fields == &["stock"]
    ));
    assert_eq!(config.tables[5].keys, KeyMode::Shared);
    assert_eq!(config.tables[5].pk, "key");
    assert_eq!(
        config.tables[3].references,
        [("customer_id".to_string(), "customers".to_string())]
    );
}

#[test]
fn opted_tables_are_written_uncommented_even_bookkeeping() {
    let opted = ["products".to_string(), "sync_queue".to_string()];
    let text = starter(Path::new("pos.db"), &shop(), &opted).text;
    assert!(text.contains("\n[tables.products]\n"));
    assert!(text.contains("\nkeys = \"map\""));
    assert!(text.contains("\n[tables.sync_queue]\n"));
    assert!(text.contains("but you opted it in"));
    assert!(text.contains("# [tables.categories]"));
    let tables = shop();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let dir = dir_with_schemas(&names);
    let config = parse(&text, &dir.path().join("policies.toml")).unwrap();
    let synced: Vec<&str> = config.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(synced, ["products", "sync_queue"]);
}

#[test]
fn a_cycle_is_said_and_its_tables_still_listed() {
    let tables = [
        table("a", &["id TEXT pk", "b_id TEXT"], &[("b_id", "b")]),
        table("b", &["id TEXT pk", "a_id TEXT"], &[("a_id", "a")]),
        table("c", &["id TEXT pk"], &[]),
        table("d", &["id TEXT pk", "d_id TEXT"], &[("d_id", "d")]),
    ];
    let text = starter(Path::new("x.db"), &tables, &[]).text;
    assert!(
        text.contains("# A cycle of foreign keys among a, b:"),
        "{text}"
    );
    let at = |t: &str| text.find(&format!("# [tables.{t}]\n")).unwrap();
    assert!(at("c") < at("d") && at("d") < at("a") && at("a") < at("b"));
}
