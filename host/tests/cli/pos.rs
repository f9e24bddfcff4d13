//! The point-of-sale app as desktop tills are written (example/pos):
//! integer AUTOINCREMENT keys, REAL money, CURRENT_TIMESTAMP text dates, a
//! stock counter and the app's own sync queue. `ebb init` understands it
//! (the starter is a golden file: EBB_BLESS=1 rewrites it), and `ebb check`
//! names every column whose type would not survive the trip to the
//! server of example/pos/server.sql.

use super::support::{Server, World, root};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/pos-policies.toml"
);

/// `DIR/pos.db` from example/pos/pos.sql, and the seed rows with `seed`.
pub(super) fn pos_db(w: &World, dir: &str, seed: bool) {
    std::fs::create_dir_all(w.path(dir)).unwrap();
    let db = rusqlite::Connection::open(w.path(dir).join("pos.db")).unwrap();
    let read = |f: &str| std::fs::read_to_string(root().join("example/pos").join(f)).unwrap();
    db.execute_batch(&read("pos.sql")).unwrap();
    if seed {
        db.execute_batch(&read("seed.sql")).unwrap();
    }
}

/// The starter with the blocks of `tables` uncommented (the lines from
/// `# [tables.NAME]` to the next blank line) and remote.url set.
pub(super) fn opt_in(text: &str, tables: &[&str], url: &str) -> String {
    let mut open = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.is_empty() {
            open = false;
        }
        if let Some(name) = line
            .strip_prefix("# [tables.")
            .and_then(|l| l.strip_suffix(']'))
        {
            open = tables.contains(&name);
        }
        let line = match line.strip_prefix("# ") {
            Some(rest)
                if open && !rest.starts_with("validate") && !rest.starts_with("resolver") =>
            {
                rest
            }
            _ => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out.replace(
        "url = \"https://your-project.supabase.co\"",
        &format!("url = \"{url}\""),
    )
}

#[test]
fn init_understands_the_point_of_sale_app() {
    let w = World::new();
    pos_db(&w, "pos", true);
    let out = w
        .ebb(&[
            "--config",
            "pos/policies.toml",
            "init",
            "--db",
            "pos/pos.db",
        ])
        .expect(0);
    let text = std::fs::read_to_string(w.path("pos/policies.toml")).unwrap();
    if std::env::var_os("EBB_BLESS").is_some() {
        std::fs::write(GOLDEN, &text).expect("write golden file");
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("golden file (EBB_BLESS=1 to create)");
    assert!(
        golden == text,
        "the starter changed: review, then EBB_BLESS=1 cargo test -p ebb --test cli pos\n{text}"
    );

    assert!(
        out.stdout
            .contains("left out, with the reason in a comment: sync_queue"),
        "{out:?}"
    );
    // Schemas beside it: one per offered table, and the config's own.
    for t in [
        "categories",
        "products",
        "sales",
        "sale_items",
        "settings",
        "users",
    ] {
        let path = w.path(&format!("pos/schemas/{t}.schema.json"));
        assert!(path.is_file(), "no schema for {t}: {out:?}");
    }
    assert!(!w.path("pos/schemas/sync_queue.schema.json").exists());
    assert_eq!(
        std::fs::read_to_string(w.path("pos/schemas/policies.schema.json")).unwrap(),
        ebb::config::POLICIES_SCHEMA
    );
    let products: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.path("pos/schemas/products.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(products["properties"]["price"]["type"], "number");

    // Run again: schema files are kept, never overwritten, and it says so.
    std::fs::write(w.path("pos/schemas/products.schema.json"), "true\n").unwrap();
    let again = w
        .ebb(&[
            "--config",
            "pos/policies.toml",
            "init",
            "--db",
            "pos/pos.db",
            "--table",
            "sale_items,sales",
            "--force",
        ])
        .expect(0);
    assert!(
        again
            .stdout
            .contains("kept pos/schemas/products.schema.json (it exists"),
        "{again:?}"
    );
    assert!(
        again.stdout.contains("parents before children"),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read_to_string(w.path("pos/schemas/products.schema.json")).unwrap(),
        "true\n"
    );
    let text = std::fs::read_to_string(w.path("pos/policies.toml")).unwrap();
    assert!(text.contains("\n[tables.sales]\n") && text.contains("\n[tables.sale_items]\n"));
    // Every block uncommented still loads.
    let all = [
        "categories",
        "products",
        "sales",
        "sale_items",
        "settings",
        "users",
    ];
    std::fs::write(
        w.path("pos/policies.toml"),
        opt_in(&text, &all, "http://127.0.0.1:1"),
    )
    .unwrap();
    w.ebb(&["--config", "pos/policies.toml", "remote-sql"])
        .expect(0);
}

#[test]
fn check_names_every_type_that_would_not_survive() {
    let w = World::new();
    pos_db(&w, "pos", true);
    w.ebb(&[
        "--config",
        "pos/policies.toml",
        "init",
        "--db",
        "pos/pos.db",
    ])
    .expect(0);
    let starter = std::fs::read_to_string(w.path("pos/policies.toml")).unwrap();
    let synced = ["categories", "products", "sales", "sale_items", "settings"];
    let config = w.path("pos/policies.toml");
    std::fs::write(&config, opt_in(&starter, &synced, "http://127.0.0.1:1")).unwrap();
    let server = Server::start_with(&w, "example/pos/server.sql", "pos/policies.toml");
    std::fs::write(&config, opt_in(&starter, &synced, &server.url)).unwrap();

    // As shipped: the text dates against timestamptz are named, but no
    // value would change (UTC session; ebb writes them back as they were).
    let out = w.ebb(&["--config", "pos/policies.toml", "check"]).expect(0);
    let warns: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("WARN"))
        .collect();
    assert_eq!(warns.len(), 2, "{}", out.stdout);
    assert!(
        warns[0].starts_with(
            "WARN  types: products.created_at: TEXT here, timestamp with time zone on the server: \
             \"2026-12-02 07:30:12\" is stored as an instant and comes back \
             \"2026-12-02T07:30:12+00:00\""
        ),
        "{}",
        out.stdout
    );
    assert!(
        warns[1].starts_with("WARN  types: sales.created_at:"),
        "{}",
        out.stdout
    );

    // Money as numeric(12,2): the total summed as 3.3000000000000003 would
    // come back 3.3. Named, and check fails.
    server.query("ALTER TABLE sales ALTER COLUMN total TYPE numeric(12,2)");
    server.query("ALTER TABLE sale_items ALTER COLUMN quantity TYPE integer");
    let out = w.ebb(&["--config", "pos/policies.toml", "check"]).expect(1);
    assert!(
        out.stdout.contains(
            "FAIL  types: sales.total: REAL here, numeric(12,2) on the server: values with \
             more than 2 decimals come back rounded: 3.3000000000000003 becomes 3.3, 1.005 \
             becomes 1.01 (1 here)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "WARN  types: sale_items.quantity: INTEGER here, integer on the server: values \
             above 2147483647 would be refused"
        ),
        "{}",
        out.stdout
    );

    // Dates survive the round trip: the server holds timestamptz, a second
    // till pulls every row back in CURRENT_TIMESTAMP's own format.
    server.query("ALTER TABLE sales ALTER COLUMN total TYPE double precision");
    w.ebb(&["--config", "pos/policies.toml", "sync", "--once"])
        .expect(0);
    assert_eq!(
        server.query("SELECT created_at::text FROM sales ORDER BY created_at DESC LIMIT 1"),
        "2026-12-05 23:07:40+00"
    );
    pos_db(&w, "till2", false);
    // The same config beside it: its database = "pos.db" is till 2's own.
    let till2 = std::fs::read_to_string(&config).unwrap();
    std::fs::write(w.path("till2/policies.toml"), till2).unwrap();
    for schema in std::fs::read_dir(w.path("pos/schemas")).unwrap() {
        let schema = schema.unwrap().path();
        let name = schema.file_name().unwrap();
        std::fs::create_dir_all(w.path("till2/schemas")).unwrap();
        std::fs::copy(&schema, w.path("till2/schemas").join(name)).unwrap();
    }
    w.ebb(&["--config", "till2/policies.toml", "sync", "--once"])
        .expect(0);
    let db = rusqlite::Connection::open(w.path("till2/pos.db")).unwrap();
    let dates: Vec<(String, f64)> = db
        .prepare("SELECT created_at, total FROM sales ORDER BY created_at")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        dates,
        [
            ("2026-12-05 09:12:40".to_string(), 5.7),
            ("2026-12-05 23:07:40".to_string(), 3.3000000000000003)
        ]
    );

    // An INTEGER key left shared is refused, with the fix.
    let shared = opt_in(&starter, &synced, &server.url).replacen("\nkeys = \"map\"", "\n", 1);
    std::fs::write(&config, shared).unwrap();
    let out = w.ebb(&["--config", "pos/policies.toml", "check"]).expect(1);
    assert!(
        out.stdout.contains(
            "FAIL  local tables: tables.categories.keys: categories.id is an INTEGER key each \
             device mints on its own"
        ) && out.stdout.contains("keys = \"single_writer\""),
        "{}",
        out.stdout
    );

    // A mapped key that is int4 on the server cannot hold global keys.
    std::fs::write(&config, opt_in(&starter, &synced, &server.url)).unwrap();
    server.query("TRUNCATE sale_items");
    server.query("ALTER TABLE sale_items ALTER COLUMN id TYPE integer");
    let out = w.ebb(&["--config", "pos/policies.toml", "check"]).expect(1);
    assert!(
        out.stdout.contains(
            "FAIL  types: sale_items.id: integer on the server holds keys of a keys = \"map\" \
             table: global keys (device number * 10^12 + local id) need bigint"
        ),
        "{}",
        out.stdout
    );
    w.saw(server.log_text());
    w.assert_key_never_shown();
}
