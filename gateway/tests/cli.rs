//! The `ebb-gateway` command line as a user meets it: its help names every
//! flag, and bad flags or a missing key are refused with a message that
//! says what to set, before anything listens. (The RPC contract itself is
//! held by tests/tests/gateway.rs against a real PostgreSQL.)

use std::process::Command;

fn gateway(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ebb-gateway"))
        .args(args)
        .env_remove("EBB_API_KEY")
        .env_remove("EBB_GATEWAY_DATABASE")
        .output()
        .expect("ebb-gateway runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_names_every_flag() {
    let (code, help, _) = gateway(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--database",
        "--api-key-env",
        "--pool-size",
        "--statement-timeout",
        "--pool-wait-timeout",
        "--max-body",
        "--role",
        "--jwt-secret-env",
        "--jwt-secret-file",
        "--jwt-audience",
        "EBB_API_KEY",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn a_missing_key_or_bad_flag_is_refused_with_what_to_set() {
    let (code, _, err) = gateway(&["--database", "host=/nowhere", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("EBB_API_KEY"), "{err}");

    let (code, _, err) = gateway(&["--database", "host=/nowhere", "--max-body", "lots"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-body") && err.contains("lots"), "{err}");

    let (code, _, err) = gateway(&["--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--database"), "{err}");
}
