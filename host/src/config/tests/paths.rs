//! Paths in policies.toml as a Windows till writes them: drive letters and
//! backslashes load as written, and a backslash that TOML took for an
//! escape is refused naming the key instead of naming another file.

use super::{Dir, err_of};

/// `database` written as `value` (TOML syntax, quotes included).
fn with_database(value: &str) -> String {
    format!("database = {value}\n[remote]\nurl = \"https://xyz.supabase.co\"\n")
}

#[test]
fn single_quotes_and_doubled_backslashes_keep_a_windows_path() {
    for written in [r"'C:\shop\app.db'", r#""C:\\shop\\app.db""#] {
        let dir = Dir::new();
        let c = dir.parse(&with_database(written)).unwrap();
        // Absolute on Windows, so taken as written; elsewhere a file name
        // beside policies.toml.
        let expected = if cfg!(windows) {
            std::path::PathBuf::from(r"C:\shop\app.db")
        } else {
            dir.path().join(r"C:\shop\app.db")
        };
        assert_eq!(c.database, expected, "{written}");
    }
}

#[test]
fn an_escape_taken_from_a_windows_path_is_refused_naming_the_key() {
    // "\n" and "\t" are valid TOML escapes: the path would hold a newline.
    let e = err_of(&with_database(r#""C:\new\till.db""#));
    assert_eq!(e.key(), Some("database"));
    let shown = e.to_string();
    assert!(shown.contains("control character '\\n'"), "{shown}");
    assert!(shown.contains("single quotes"), "{shown}");

    let e = Dir::new()
        .parse(&format!(
            "{}[tables.t]\nvalidate = \"plugins\\tv.wasm\"\n",
            with_database("'app.db'")
        ))
        .unwrap_err();
    assert_eq!(e.key(), Some("tables.t.validate"), "{e}");
}

#[test]
fn an_invalid_escape_says_how_to_write_a_windows_path() {
    // "\s" is no TOML escape: a syntax error, with the hint.
    let shown = err_of(&with_database(r#""C:\shop\app.db""#)).to_string();
    assert!(shown.starts_with("policies.toml:1:"), "{shown}");
    assert!(shown.contains("escape"), "{shown}");
    assert!(
        shown.contains(r"single quotes ('C:\shop\app.db')"),
        "{shown}"
    );
}

#[cfg(windows)]
#[test]
fn relative_paths_with_either_slash_resolve_beside_policies_toml() {
    let dir = Dir::new();
    for written in [r"'data\app.db'", "'data/app.db'"] {
        let c = dir.parse(&with_database(written)).unwrap();
        assert_eq!(c.database, dir.path().join("data").join("app.db"));
    }
    let c = dir.parse(&with_database(r"'\\till\shop\app.db'")).unwrap();
    assert!(c.database.is_absolute(), "a UNC path is kept as written");
}
