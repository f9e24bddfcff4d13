//! The local API of a real `ebb run` (docs/api.md), against a real
//! database behind a real `ebb-gateway`: every route, every error status,
//! the token and the Origin/Host rules, and the event stream of a round
//! with a push, a new conflict and a health change.

use std::net::TcpStream;
use std::process::Command;

use serde_json::{Value, json};

use super::api_support::{Api, Daemon, Events, TOKEN, customer, ebb_run, wait_for};
use super::support::{Server, World, free_port, id};

#[test]
fn the_local_api_of_a_running_daemon() {
    let w = World::new();
    let server = Server::start(&w);
    let a = w.device("a", &server.url);
    let b = w.device("b", &server.url);
    let port = free_port();
    // Realtime off: its join adds a round (the pull after every join), and
    // this test counts rounds and events exactly (cli/realtime.rs has it on).
    let extra = format!(
        "\n[sync]\ninterval = \"1h\"\n\n[realtime]\nenabled = false\n\n\
         [ops]\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let path = w.path(&a);
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + &extra).unwrap();
    let api = Api { port };

    let child = ebb_run(&w, &a, Some(TOKEN))
        .spawn()
        .expect("ebb run starts");
    let mut daemon = Daemon(Some(child));
    wait_for("the first round", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok() && api.get("/health").status == 200
    });

    // Reads.
    let status = api.get("/api/status").expect(200).json();
    assert_eq!(status["health"]["healthy"], true, "{status}");
    assert_eq!(status["tables"].as_array().map(Vec::len), Some(3));
    let tables = api.get("/api/tables").expect(200).json();
    assert_eq!(tables[1]["table"], "customers", "{tables}");
    assert_eq!(tables[1]["rows"], 0);
    assert_eq!(tables[1]["policy"], "manual");
    assert_eq!(api.get("/api/queue").expect(200).json(), json!([]));
    assert_eq!(api.get("/api/conflicts").expect(200).json(), json!([]));
    let history = api.get("/api/history").expect(200).json();
    assert_eq!(history["minutes"][0]["rounds"], 1, "{history}");
    let info = api.get("/api/daemon").expect(200).json();
    assert_eq!(
        (info["rounds"].as_u64(), info["token_configured"].as_bool()),
        (Some(1), Some(true))
    );
    assert!(api.get("/api").expect(200).body.contains("/api/events"));
    let page = api.get("/").expect(200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("Sync console"));
    assert!(api.get("/app.js").expect(200).body.contains("/api/events"));
    api.get("/style.css").expect(200);

    // Bad requests: 4xx with what and where.
    api.get("/api/queue?state=bogus")
        .refused(400, "query.state");
    api.get("/api/queue?limit=0").refused(400, "query.limit");
    api.get("/api/conflicts?all=maybe")
        .refused(400, "query.all");
    api.get("/api/conflicts/abc").refused(400, "path.id");
    api.get("/api/conflicts/999").refused(404, "path.id");
    api.get("/api/conflicts/%FF").refused(400, "path.id");
    api.post("/api/queue/%FF/retry", "").refused(400, "path.id");
    api.get("/api/history?since=yesterday")
        .refused(400, "query.since");
    api.get("/api/nope").refused(404, "path");

    // Host and Origin: DNS rebinding and other web pages are refused.
    for host in ["evil.example:9464", "127.0.0.1:1"] {
        let at = api.call("GET", "/api/status", &[("Host", host)], "");
        at.refused(403, "Host");
    }
    let evil = api.call(
        "GET",
        "/",
        &[("Host", &format!("attacker.example:{port}"))],
        "",
    );
    evil.refused(403, "Host");
    let foreign = [("Origin", "http://evil.example")];
    api.call("GET", "/api/status", &foreign, "")
        .refused(403, "Origin");
    let same = format!("http://127.0.0.1:{port}");
    api.call("GET", "/api/status", &[("Origin", &same)], "")
        .expect(200);
    let bearer = format!("Bearer {TOKEN}");
    let forged = [
        ("Origin", "http://evil.example"),
        ("Authorization", &bearer),
    ];
    api.call("POST", "/api/sync", &forged, "")
        .refused(403, "Origin");

    // The token: changes need it, cookies are not looked at.
    let none = api.call("POST", "/api/sync", &[], "");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    none.refused(401, "Authorization");
    let wrong = [("Authorization", "Bearer not-it")];
    api.call("POST", "/api/sync", &wrong, "")
        .refused(401, "Authorization");
    let cookie = format!("token={TOKEN}");
    let cookie = [("Cookie", cookie.as_str())];
    api.call("POST", "/api/sync", &cookie, "")
        .refused(401, "Authorization");
    api.call("POST", "/api/conflicts/1/resolve", &[], "{}")
        .refused(401, "Authorization");
    api.call("POST", "/api/queue/customers:x/retry", &[], "")
        .refused(401, "Authorization");
    assert_eq!(
        api.post("/api/sync", "").expect(202).json()["started"],
        true
    );
    wait_for("the nudged round", || {
        api.get("/api/daemon").json()["rounds"].as_u64() >= Some(2)
    });

    // A row both tills changed: b first, then a (with a new row in the
    // same round) -> pushed 1, a conflict, a health change.
    let (shared, fresh) = (id(), id());
    w.app_sql("a", &customer(&shared, "Ann"));
    api.post("/api/sync", "").expect(202);
    let on_server = format!("select name from customers where id = '{shared}'");
    wait_for("Ann on the server", || server.query(&on_server) == "Ann");
    w.ebb(&["--config", &b, "sync", "--once"]).expect(0);
    w.app_sql(
        "b",
        &format!("UPDATE customers SET name = 'Ann B' WHERE id = '{shared}'"),
    );
    w.ebb(&["--config", &b, "sync", "--once"]).expect(0);
    wait_for("the round to end", || {
        api.get("/api/queue").json() == json!([])
    });
    let mut events = Events::open(port);
    w.app_sql(
        "a",
        &format!(
            "BEGIN; {} UPDATE customers SET name = 'Ann A' WHERE id = '{shared}'; COMMIT;",
            customer(&fresh, "Bob")
        ),
    );
    api.post("/api/sync", "").expect(202);
    let seq: Vec<(String, Value)> = (0..4).map(|_| events.next()).collect();
    let kinds: Vec<&str> = seq.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "round_started",
            "round_finished",
            "conflict_new",
            "health_changed"
        ],
        "{seq:?}"
    );
    let counts = &seq[1].1["counts"];
    assert_eq!(
        (counts["pushed"].as_u64(), counts["manual"].as_u64()),
        (Some(1), Some(1)),
        "{seq:?}"
    );
    assert_eq!(seq[2].1["table"], "customers");
    assert_eq!(seq[2].1["pk"], shared.as_str());
    let problems = &seq[3].1["health"]["problems"];
    assert_eq!(problems[0]["kind"], "open_conflicts", "{seq:?}");
    assert!(
        seq.windows(2)
            .all(|p| p[0].1["seq"].as_u64() < p[1].1["seq"].as_u64())
    );

    // The example app script shows the badge (when Node is installed).
    let script = super::support::root().join("example/app-api/pos-badge.mjs");
    let node = Command::new("node")
        .arg(&script)
        .arg("--once")
        .env("EBB_URL", format!("http://127.0.0.1:{port}"))
        .output();
    match node {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{out:?}");
            assert!(
                text.contains("[sync !] 0 waiting, 1 conflict(s), 0 not sent"),
                "{text}"
            );
        }
        Err(e) => eprintln!("node not run ({e}): example/app-api/pos-badge.mjs unchecked"),
    }

    // The conflict, side by side.
    let list = api.get("/api/conflicts").expect(200).json();
    let cid = list[0]["id"].as_i64().expect("an id");
    let c = api.get(&format!("/api/conflicts/{cid}")).expect(200).json();
    assert_eq!(
        (c["local"]["name"].as_str(), c["remote"]["name"].as_str()),
        (Some("Ann A"), Some("Ann B"))
    );
    assert_eq!(c["base"]["name"], "Ann");
    let name = c["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "name")
        .unwrap();
    assert_eq!(
        (name["differs"].as_bool(), name["changed_local"].as_bool()),
        (Some(true), Some(true))
    );
    let phone = c["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "phone")
        .unwrap();
    assert_eq!(phone["differs"], false);

    // Resolutions that are refused change nothing.
    let resolve = format!("/api/conflicts/{cid}/resolve");
    api.post(&resolve, "{not json").refused(400, "body");
    api.post(&resolve, r#"{"take":"both"}"#)
        .refused(400, "body.take");
    api.post(&resolve, r#"{"row":[]}"#).refused(400, "body.row");
    api.post("/api/conflicts/999/resolve", r#"{"take":"local"}"#)
        .refused(404, "path.id");
    let mut row = c["local"].clone();
    row["nmae"] = json!("typo");
    api.post(&resolve, &json!({ "row": row }).to_string())
        .refused(422, "body.row.nmae");
    let mut row = c["local"].clone();
    row["id"] = json!(id());
    api.post(&resolve, &json!({ "row": row }).to_string())
        .refused(422, "body.row.id");
    let mut row = c["local"].clone();
    row["name"] = json!("");
    let bad = api
        .post(&resolve, &json!({ "row": row }).to_string())
        .refused(422, "body.row.name");
    assert_eq!(bad["violations"][0]["field"], "name", "{bad}");
    assert_eq!(
        api.get("/api/conflicts").json().as_array().map(Vec::len),
        Some(1)
    );
    let listed = w
        .ebb(&["--config", &a, "conflicts", "list", "--json"])
        .expect(0);
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed[0]["local"]["name"], "Ann A", "{listed}");

    // A merged row is settled, announced and pushed.
    let mut row = c["local"].clone();
    row["name"] = json!("Ann AB");
    let done = api
        .post(&resolve, &json!({ "row": row }).to_string())
        .expect(200)
        .json();
    assert_eq!(done["resolution"], "row");
    let (kind, settled) = events.next();
    assert_eq!(
        (kind.as_str(), settled["id"].as_i64()),
        ("conflict_settled", Some(cid))
    );
    api.post(&resolve, r#"{"take":"local"}"#).expect(409);
    wait_for("the merged row on the server", || {
        server.query(&on_server) == "Ann AB"
    });
    assert_eq!(api.get("/api/conflicts").json(), json!([]));
    let all = api.get("/api/conflicts?all").expect(200).json();
    assert_eq!(all[0]["resolution"], "row");

    // A held item: listed with its reason, retried on request.
    w.app_sql("a", &customer("not-a-uuid", "Bad"));
    api.post("/api/sync", "").expect(202);
    wait_for("the invalid item", || {
        api.get("/api/queue?state=invalid")
            .json()
            .as_array()
            .map(Vec::len)
            == Some(1)
    });
    let held = api.get("/api/queue?state=invalid,dead").expect(200).json();
    assert_eq!(held[0]["id"], "customers:not-a-uuid");
    assert!(
        held[0]["error"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{held}"
    );
    api.post("/api/queue/customers/retry", "")
        .refused(400, "path.id");
    api.post("/api/queue/nosuch:1/retry", "")
        .refused(404, "path.id");
    api.post("/api/queue/customers:nobody/retry", "")
        .refused(404, "path.id");
    let retried = api
        .post("/api/queue/customers:not-a-uuid/retry", "")
        .expect(200)
        .json();
    assert_eq!(
        (retried["was"].as_str(), retried["state"].as_str()),
        (Some("invalid"), Some("pending"))
    );

    // SIGTERM with an event stream open: the daemon still stops cleanly.
    let pid = daemon
        .0
        .as_ref()
        .map(|c| c.id().to_string())
        .unwrap_or_default();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = daemon.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("stopped") && stderr.contains("serving"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "the API token leaked: {stderr}");
    drop(events);
    w.saw(stderr);
    w.saw(server.log_text());
    w.assert_key_never_shown();
}

#[test]
fn off_loopback_the_daemon_needs_a_token_and_says_so() {
    let w = World::new();
    let a = w.device("a", "http://127.0.0.1:1");
    let port = free_port();
    let path = w.path(&a);
    let extra = format!("\n[ops]\nlisten = \"0.0.0.0:{port}\"\n");
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + &extra).unwrap();
    let out = ebb_run(&w, &a, None).output().expect("ebb run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("EBB_API_TOKEN"),
        "{stderr}"
    );

    // Without a token on loopback, reads work and changes are refused (403).
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(&format!("0.0.0.0:{port}"), &format!("127.0.0.1:{port}"));
    std::fs::write(&path, text).unwrap();
    let child = ebb_run(&w, &a, None).spawn().expect("ebb run starts");
    let _daemon = Daemon(Some(child));
    let api = Api { port };
    wait_for("the listener", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    wait_for("a status", || api.get("/api/status").status == 200);
    let off = api.post("/api/sync", "").refused(403, "Authorization");
    assert!(
        off["error"]
            .as_str()
            .unwrap()
            .contains("no token is configured"),
        "{off}"
    );
}
