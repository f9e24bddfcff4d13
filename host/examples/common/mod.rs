//! What the local benchmarks (`bench_apply`, `bench_queue`) share: the
//! app's `products` table, shaped as `tests/examples/bulk` seeds it, and
//! this process's CPU time.

// Each example is its own crate and uses only part of this.
#![allow(dead_code)]

/// The app's table: a text key, a UNIQUE `sku`, rows of ~235 B.
pub const PRODUCTS: &str = "CREATE TABLE products (id TEXT PRIMARY KEY, sku TEXT UNIQUE,
    name TEXT, category TEXT, price_cents INTEGER, sale_price_cents INTEGER,
    stock INTEGER, updated_at TEXT)";

/// User plus system CPU seconds of this process.
pub fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A till: a fresh SQLite file (in `dir`) with the app's `products` table
/// and ebb installed on it; and the row count asked for on the command
/// line (100,000 when none is).
pub struct Till {
    pub rows: i64,
    pub path: std::path::PathBuf,
    pub local: ebb::local::Local,
    pub spec: ebb::local::TableSpec,
}

impl Till {
    pub fn new(dir: &std::path::Path) -> Result<Till, Box<dyn std::error::Error>> {
        let rows = match std::env::args().nth(1) {
            Some(n) => n.parse()?,
            None => 100_000,
        };
        let path = dir.join("till.db");
        rusqlite::Connection::open(&path)?.execute_batch(PRODUCTS)?;
        // `--stamped`: the app stamps a product's `updated_at` with its own
        // trigger, so ebb guards the table against it (`local::nested`)
        // and writes its pulled rows one to a statement.
        if std::env::args().any(|a| a == "--stamped") {
            rusqlite::Connection::open(&path)?.execute_batch(
                "CREATE TRIGGER products_stamped AFTER UPDATE ON products BEGIN
                     UPDATE products SET updated_at = datetime('now') WHERE id = NEW.id;
                 END",
            )?;
        }
        let mut local = ebb::local::Local::open(&path, std::time::Duration::from_secs(5))?;
        let spec = ebb::local::TableSpec {
            name: "products".into(),
            pk: "id".into(),
        };
        local.install(std::slice::from_ref(&spec))?;
        Ok(Till {
            rows,
            path,
            local,
            spec,
        })
    }
}
