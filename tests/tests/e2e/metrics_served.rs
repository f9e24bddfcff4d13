//! `/metrics` serves every metric docs/operations.md documents, each with
//! a series, after real rounds that meet each case (a plugin validating and
//! rejecting a row, a plugin resolving a conflict, a merge overwriting a
//! local edit, an app trigger's write skipped, the server down until an
//! item dies), and serves no other.
//! Counters are checked to have really counted, so a metric declared but
//! never fed (as `ebb_plugin_calls_total` once was) fails here.

use std::collections::BTreeMap;

use ebb::ops::Health;
use ebb_tests::{DeviceSpec, Env, rows};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::common::{now_ms, sync_all};

/// The metrics table of docs/operations.md: the type of each metric.
fn documented() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(ebb_tests::repo_path("docs/operations.md")).unwrap();
    let section = text.split("\n## /metrics\n").nth(1).expect("## /metrics");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[0].trim_end_matches('`').to_owned();
            (name, cells[1].to_owned())
        })
        .collect()
}

/// `GET /metrics` from `ebb::ops::server` over the device's metrics.
async fn scrape(metrics: &ebb::ops::Metrics) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_health_tx, health) = watch::channel(Health::not_assessed());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ebb::ops::server::serve(
        listener,
        metrics.clone(),
        health,
        async {
            let _ = stopped.await;
        },
    ));
    // A plain HTTP/1.1 GET: the head, then the body.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = "content-type: text/plain; version=0.0.4";
    assert!(head.to_ascii_lowercase().contains(content_type), "{head}");
    let text = text.to_owned();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    text
}

/// The samples of family `name`: (series with labels, value). A histogram's
/// family includes its `_bucket`, `_sum` and `_count` lines.
fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let series_name = series.split('{').next().unwrap_or_default();
            series_name == name
                || series_name
                    .strip_prefix(name)
                    .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
        })
        .map(|(series, value)| (series, value.parse().unwrap_or(f64::NAN)))
        .collect()
}

#[tokio::test]
async fn every_documented_metric_is_served_with_a_series() {
    let env = Env::new().await.unwrap();
    ebb_tests::ensure_plugins().unwrap();
    // `a` is the device whose metrics are read; one failed attempt kills
    // an item, so a server that is down makes one dead.
    let a_spec = DeviceSpec {
        max_attempts: 1,
        ..DeviceSpec::shipped()
    };
    let mut a = env.device(&a_spec).unwrap();
    let mut b = env.device(&DeviceSpec::shipped()).unwrap();
    // The server trims customers' names: `a`'s " Ada" comes back as "Ada".
    env.db
        .exec(
            "CREATE FUNCTION trim_name() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN NEW.name := btrim(NEW.name); RETURN NEW; END $$;
             CREATE TRIGGER trim_name BEFORE INSERT OR UPDATE ON customers
                 FOR EACH ROW EXECUTE FUNCTION trim_name();",
        )
        .await
        .unwrap();

    // `a`'s app trigger marks a product when customer "Cy" is added, which
    // only `b` adds: pulled, its write is skipped (`local::skip`).
    a.app()
        .execute_batch(
            "CREATE TRIGGER cy_marks_tea AFTER INSERT ON customers WHEN NEW.name = 'Cy' BEGIN
                 UPDATE products SET stock = stock - 1 WHERE name = 'Tea';
             END;",
        )
        .unwrap();

    // The products validator accepts one row and rejects the other.
    let p = rows::product("Tea", 10);
    let c = rows::customer(" Ada");
    let bad = rows::with(
        &rows::product("Mug", 1),
        &json!({"price_cents": 100, "sale_price_cents": 150}),
    );
    a.insert("products", &p).unwrap();
    a.insert("customers", &c).unwrap();
    a.insert("products", &bad).unwrap();
    sync_all(&env, &mut [&mut a, &mut b]).await.unwrap();
    // `a` pulls its own writes back: the trimmed name is taken.
    sync_all(&env, &mut [&mut a]).await.unwrap();

    // Both devices sell stock and rename the customer; `b` pushes first, so
    // `a` meets the conflicts: the stock resolver plugin merges, the
    // customers merge takes the remote name over `a`'s.
    let (pid, cid) = (rows::id_of(&p), rows::id_of(&c));
    b.update("products", &pid, &json!({"stock": 8})).unwrap();
    b.update("customers", &cid, &json!({"name": "Ada B"}))
        .unwrap();
    b.insert("customers", &rows::customer("Cy")).unwrap();
    a.update("products", &pid, &json!({"stock": 7})).unwrap();
    a.update("customers", &cid, &json!({"name": "Ada A"}))
        .unwrap();
    sync_all(&env, &mut [&mut b, &mut a]).await.unwrap();

    // The server answers 503 (`max_attempts` is 1 here): the request
    // fails and `a`'s new item dies. (A server that cannot be reached at
    // all costs no attempt: `bad_input`.)
    let body = r#"{"code":"PGRST000","message":"database down","details":null,"hint":null}"#;
    for rpc in ["ebb_push", "ebb_push_pull"] {
        env.proxy.answer_instead(rpc, 503, body, 1);
    }
    a.insert("customers", &rows::customer("Bo")).unwrap();
    let report = a.sync().await.unwrap();
    assert!(report.error.is_some(), "{report:?}");
    assert_eq!(report.dead, 1, "{report:?}");

    // As `ebb run` does after every round: the queue as it is now.
    let window = a.engine.config().alerts.error_window;
    let status = a.engine.local().status(now_ms(), window).unwrap();
    a.engine.metrics().set_queue(&status.queue);

    let text = scrape(a.engine.metrics()).await;
    let documented = documented();
    let served: BTreeMap<String, String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect();
    assert_eq!(served, documented, "served vs docs/operations.md:\n{text}");
    for (name, kind) in &documented {
        let series = samples(&text, name);
        assert!(!series.is_empty(), "{name} has no series:\n{text}");
        // A counter, a histogram and the sync time must have counted.
        let fed = matches!(kind.as_str(), "counter" | "histogram")
            || name == "ebb_last_sync_timestamp_seconds";
        if fed {
            assert!(
                series.iter().any(|(_, v)| *v > 0.0),
                "{name} was never fed: {series:?}"
            );
        }
    }
    for expected in [
        r#"ebb_plugin_calls_total{table="products",kind="validate",result="ok"}"#,
        r#"ebb_plugin_calls_total{table="products",kind="resolve",result="ok"}"#,
        r#"ebb_overwritten_total{table="customers",side="local"}"#,
        r#"ebb_changed_by_server_total{table="customers"} 1"#,
        r#"ebb_skipped_writes_total{table="products",by="customers"} 1"#,
        r#"ebb_conflicts_total{table="products",outcome="resolved"}"#,
        r#"ebb_queue_depth{state="dead"} 1"#,
        r#"ebb_queue_depth{state="invalid"} 1"#,
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
}
