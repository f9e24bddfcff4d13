//! Every `[tables.NAME]` key: default, set value, refusal; names, order,
//! duplicates, row schema files and limit inheritance.

use std::time::Duration;

use super::{Dir, MIN, err_of, ok, refused_all};
use crate::config::{BothChanged, ConflictPolicy, PluginLimits};

#[test]
fn table_defaults() {
    let c = ok("[tables.orders]\n");
    let t = &c.tables[0];
    assert_eq!((t.name.as_str(), t.pk.as_str()), ("orders", "id"));
    assert!(t.schema.is_none() && t.validate.is_none());
    assert_eq!(t.conflict, ConflictPolicy::ServerWins);
    assert_eq!(t.limits, PluginLimits::default());
}

#[test]
fn tables_keep_file_order() {
    let c = ok("[tables.zeta]\n[tables.alpha]\npk = \"code\"\n[tables.mid]\n");
    let names: Vec<&str> = c.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    assert_eq!(c.tables[1].pk, "code");
}

#[test]
fn every_strategy() {
    let c = ok(r#"[tables.a]
conflict = "server_wins"
[tables.b]
conflict = "client_wins"
[tables.c]
conflict = "manual"
[tables.d]
conflict = "merge"
[tables.e]
conflict = "merge"
merge_on_both = "manual"
delta_fields = ["stock", "sold"]
[tables.f]
conflict = "plugin"
resolver = "plugins/f.wasm"
validate = "plugins/f_check.wasm"
"#);
    let got: Vec<&ConflictPolicy> = c.tables.iter().map(|t| &t.conflict).collect();
    assert_eq!(
        got[..3],
        [
            &ConflictPolicy::ServerWins,
            &ConflictPolicy::ClientWins,
            &ConflictPolicy::Manual
        ]
    );
    assert_eq!(
        got[3],
        &ConflictPolicy::Merge {
            on_both: BothChanged::Remote,
            delta_fields: vec![]
        }
    );
    let delta = vec!["stock".to_string(), "sold".to_string()];
    assert_eq!(
        got[4],
        &ConflictPolicy::Merge {
            on_both: BothChanged::Manual,
            delta_fields: delta
        }
    );
    let dir = c.path.parent().unwrap();
    assert_eq!(got[5], &ConflictPolicy::Plugin(dir.join("plugins/f.wasm")));
    assert_eq!(c.tables[5].validate, Some(dir.join("plugins/f_check.wasm")));
    let c = ok("[tables.a]\nconflict = \"merge\"\nmerge_on_both = \"local\"\n");
    assert!(matches!(
        c.tables[0].conflict,
        ConflictPolicy::Merge {
            on_both: BothChanged::Local,
            ..
        }
    ));
}

#[test]
fn an_unknown_strategy_lists_the_known_ones() {
    let e = err_of(&format!("{MIN}[tables.orders]\nconflict = \"mrege\"\n"));
    assert_eq!(
        e.to_string(),
        "policies.toml: tables.orders.conflict: unknown strategy \"mrege\" \
         (expected server_wins | client_wins | merge | manual | plugin)"
    );
}

#[test]
fn refused_table_keys() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[tables.t]\nconflict = \"plugin\"\n",
            "tables.t.resolver",
            "needs resolver",
        ),
        (
            "[tables.t]\nconflict = \"merge\"\nresolver = \"r.wasm\"\n",
            "tables.t.resolver",
            "only used with conflict = \"plugin\"",
        ),
        (
            "[tables.t]\nresolver = \"r.wasm\"\n",
            "tables.t.resolver",
            "(conflict is \"server_wins\")",
        ),
        (
            "[tables.t]\nresolver = \"\"\nconflict = \"plugin\"\n",
            "tables.t.resolver",
            "shorter than 1",
        ),
        (
            "[tables.t]\nmerge_on_both = \"local\"\n",
            "tables.t.merge_on_both",
            "only used with conflict = \"merge\"",
        ),
        (
            "[tables.t]\nconflict = \"manual\"\ndelta_fields = []\n",
            "tables.t.delta_fields",
            "only used with conflict = \"merge\"",
        ),
        (
            "[tables.t]\nconflict = \"merge\"\nmerge_on_both = \"both\"\n",
            "tables.t.merge_on_both",
            "unknown value \"both\" (expected remote | local | manual)",
        ),
        (
            "[tables.t]\nconflict = \"merge\"\ndelta_fields = [\"id\"]\n",
            "tables.t.delta_fields",
            "primary key",
        ),
        (
            "[tables.t]\nconflict = \"merge\"\ndelta_fields = [\"a\", \"a\"]\n",
            "tables.t.delta_fields",
            "unique",
        ),
        (
            "[tables.t]\nconflict = \"merge\"\ndelta_fields = [\"a b\"]\n",
            "tables.t.delta_fields[0]",
            "does not match",
        ),
        (
            "[tables.t]\nconflict = \"merge\"\ndelta_fields = [\"_ebb_version\"]\n",
            "tables.t.delta_fields",
            "reserved",
        ),
        (
            "[tables.t]\npk = \"2id\"\n",
            "tables.t.pk",
            "does not match",
        ),
        ("[tables.t]\npk = \"_ebb_pk\"\n", "tables.t.pk", "reserved"),
        (
            "[tables.t]\nvalidate = \"\"\n",
            "tables.t.validate",
            "shorter than 1",
        ),
        ("[tables.t]\nschema = 3\n", "tables.t.schema", "not of type"),
        (
            "[tables.t]\ncolour = \"red\"\n",
            "tables.t.colour",
            "unknown key",
        ),
        (
            "[tables.t.limits]\nfuel = 0\n",
            "tables.t.limits.fuel",
            "minimum of 1",
        ),
        (
            "[tables.t.limits]\ntimeout = \"0s\"\n",
            "tables.t.limits.timeout",
            "longer than zero",
        ),
        (
            "[tables.t.limits]\nmemory = \"16KiB\"\n",
            "tables.t.limits.memory",
            "64KiB",
        ),
        (
            "[tables.t.limits]\nmax_input = 0\n",
            "tables.t.limits.max_input",
            "at least 1 byte",
        ),
        (
            "[tables.t.limits]\nstack = 1\n",
            "tables.t.limits.stack",
            "unknown key",
        ),
        ("[tables]\nt = 5\n", "tables.t", "not of type"),
        ("[tables._ebb_queue]\n", "tables._ebb_queue", "reserved"),
        (
            "[tables.\"order items\"]\n",
            "tables.order items",
            "not a plain identifier",
        ),
        (
            "[tables.Orders]\n[tables.orders]\n",
            "tables.orders",
            "duplicate of tables.Orders",
        ),
    ];
    refused_all(cases);
}

#[test]
fn limits_inherit_plugin_limits_key_by_key() {
    let c = ok(
        "[plugin_limits]\nfuel = 7\ntimeout = \"2s\"\n[tables.a.limits]\nmemory = \"1MiB\"\n[tables.b]\n",
    );
    let base = PluginLimits {
        fuel: 7,
        timeout: Duration::from_secs(2),
        ..PluginLimits::default()
    };
    assert_eq!(
        c.tables[0].limits,
        PluginLimits {
            memory: 1 << 20,
            ..base.clone()
        }
    );
    assert_eq!(c.tables[1].limits, base);
}

#[test]
fn the_default_schema_file_is_used_when_present() {
    let dir = Dir::new();
    dir.write("schemas/orders.schema.json", r#"{"type": "object"}"#);
    let c = dir
        .parse(&format!("{MIN}[tables.orders]\n[tables.lines]\n"))
        .unwrap();
    let schema = c.tables[0].schema.as_ref().expect("default schema loaded");
    assert_eq!(schema.path, dir.path().join("schemas/orders.schema.json"));
    assert_eq!(schema.schema["type"], "object");
    assert!(c.tables[1].schema.is_none());
}

#[test]
fn a_named_schema_file_must_exist_and_be_json() {
    let dir = Dir::new();
    dir.write(
        "rows/orders.json",
        r#"{"type": "object", "required": ["id"]}"#,
    );
    dir.write("rows/broken.json", "{ not json");
    dir.write("rows/list.json", "[1, 2]");
    let with = |file: &str| dir.parse(&format!("{MIN}[tables.orders]\nschema = \"{file}\"\n"));
    let c = with("rows/orders.json").unwrap();
    assert_eq!(
        c.tables[0].schema.as_ref().unwrap().schema["required"][0],
        "id"
    );
    for (file, fragment) in [
        ("rows/missing.json", "cannot read"),
        ("rows/broken.json", "is not JSON"),
        ("rows/list.json", "not a JSON Schema"),
    ] {
        let e = with(file).unwrap_err();
        assert_eq!(e.key(), Some("tables.orders.schema"), "{e}");
        assert!(e.to_string().contains(fragment), "{e}");
    }
    // A broken default file is an error too, not silently skipped.
    dir.write("schemas/orders.schema.json", "nope");
    let e = dir.parse(&format!("{MIN}[tables.orders]\n")).unwrap_err();
    assert_eq!(e.key(), Some("tables.orders.schema"), "{e}");
}
