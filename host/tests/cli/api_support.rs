//! What the local API's tests share: a raw HTTP/1.1 client of the
//! daemon's listener (reqwest stays under `remote/`), an `/api/events`
//! reader, and `ebb run` as a child process killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::World;

pub(super) const TOKEN: &str = "tok-3b8f0c51a2d94e7c";

/// One answer: status, headers (lowercased names), body.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(self.status, status, "{self:?}");
        self
    }

    /// A JSON error naming `at`.
    #[track_caller]
    pub fn refused(self, status: u16, at: &str) -> Value {
        let v = self.expect(status).json();
        assert_eq!(v["where"], at, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        v
    }
}

/// A client of one daemon's listener.
pub(super) struct Api {
    pub port: u16,
}

impl Api {
    /// `METHOD path` with extra headers and a body; Host is the listener's
    /// unless given.
    pub fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("Host: 127.0.0.1:{}\r\n", self.port));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_string(),
        }
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, &[], "")
    }

    pub fn post(&self, path: &str, body: &str) -> Answer {
        let auth = format!("Bearer {TOKEN}");
        self.call("POST", path, &[("Authorization", &auth)], body)
    }
}

/// An open `/api/events` stream.
pub(super) struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub fn open(port: u16) -> Events {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let request = format!("GET /api/events HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        assert!(line.contains(" 200 "), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if line.to_ascii_lowercase().starts_with("content-type") {
                assert!(line.contains("text/event-stream"), "{line}");
            }
        }
        Events { reader }
    }

    /// The next event (type, JSON), skipping keep-alive comments. The body
    /// is chunked: chunk-size lines are skipped too.
    pub fn next(&mut self) -> (String, Value) {
        let (mut kind, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("an event in time");
            assert!(n > 0, "the event stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            } else if line.is_empty() && !data.is_empty() {
                return (kind, serde_json::from_str(&data).expect("event JSON"));
            }
        }
    }
}

/// `ebb run`, killed if the test fails before stopping it.
pub(super) struct Daemon(pub Option<Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(super) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

pub(super) fn ebb_run(w: &World, config: &str, token: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    cmd.args(["--config", config, "run"])
        .current_dir(w.dir.path())
        .env("EBB_API_KEY", &w.key)
        .env_remove("EBB_API_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = token {
        cmd.env("EBB_API_TOKEN", token);
    }
    cmd
}

pub(super) fn customer(id: &str, name: &str) -> String {
    format!(
        "INSERT INTO customers VALUES ('{id}', '{name}', NULL, NULL, NULL, '2025-01-01T00:00:00Z');"
    )
}
