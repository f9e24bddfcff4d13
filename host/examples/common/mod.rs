//! What the local benchmarks (`bench_apply`, `bench_queue`) share: the
//! app's `products` table, shaped as `tests/examples/bulk` seeds it, and
//! this process's CPU time.

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
