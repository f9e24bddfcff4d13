//! `FaultProxy`: a tiny HTTP/1.1 proxy on 127.0.0.1:0 in front of the
//! gateway that injects the network faults the sync engine must survive.
//!
//! It understands just enough HTTP to find request and response boundaries
//! (`Content-Length` and chunked bodies), so it can act per request:
//! - pass through (the default);
//! - be down: new connections are refused (the listener is closed) and a
//!   request on a kept-alive connection gets the connection closed unanswered;
//! - cut: forward the request, read the upstream's whole answer (the server
//!   committed), then close the client's connection without a byte of it
//!   (the response is lost);
//! - call a hook once the upstream answered and before relaying, so a test can
//!   act while a request is in flight;
//! - answer instead of the upstream: a canned status and JSON body, as a
//!   misconfigured server would send it (the request never reaches it).
//!
//! A request to `ebb_push_pull` is a push too: faults set on `ebb_push`
//! hit it, and `seen("ebb_push")` counts it (`seen("ebb_push_pull")`
//! counts it alone).
//!
//! It owns only sockets; it never looks inside bodies. Test-only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Faults {
    /// Per rpc name (the last path segment): responses still to cut.
    cut: HashMap<String, usize>,
    /// Per rpc name: one-shot hooks, run in order.
    hooks: HashMap<String, Vec<Hook>>,
    /// Per rpc name: requests that reached the proxy.
    seen: HashMap<String, usize>,
    /// Per rpc name: canned answers (status, JSON body) still to give.
    answers: HashMap<String, Vec<(u16, String)>>,
}

/// The proxy. Dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    down: watch::Sender<bool>,
    faults: Arc<Mutex<Faults>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (down, down_rx) = watch::channel(false);
        let faults = Arc::new(Mutex::new(Faults::default()));
        let task = tokio::spawn(accept_loop(
            listener,
            addr,
            upstream,
            down_rx,
            faults.clone(),
        ));
        Ok(FaultProxy {
            addr,
            down,
            faults,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Down: refuse connections and drop requests unanswered. Up: pass.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    /// The next `times` requests to `rpc` (`"ebb_push"`, `"ebb_pull"`) are
    /// forwarded and answered by the upstream, but the answer is lost.
    pub fn cut_responses(&self, rpc: &str, times: usize) {
        *lock(&self.faults).cut.entry(rpc.to_string()).or_default() += times;
    }

    /// Runs `hook` once, when the next request to `rpc` has been answered
    /// upstream and before the answer is relayed.
    pub fn on_request(&self, rpc: &str, hook: impl FnOnce() + Send + 'static) {
        lock(&self.faults)
            .hooks
            .entry(rpc.to_string())
            .or_default()
            .push(Box::new(hook));
    }

    /// Forgets the hooks not run yet (a round that ended without the
    /// request they waited for).
    pub fn clear_hooks(&self) {
        lock(&self.faults).hooks.clear();
    }

    /// The next `times` requests to `rpc` get `status` and the JSON `body`
    /// from the proxy itself; the upstream never sees them.
    pub fn answer_instead(&self, rpc: &str, status: u16, body: &str, times: usize) {
        let mut faults = lock(&self.faults);
        let queue = faults.answers.entry(rpc.to_string()).or_default();
        queue.extend(std::iter::repeat_n((status, body.to_string()), times));
    }

    /// Requests to `rpc` that reached the proxy so far.
    pub fn seen(&self, rpc: &str) -> usize {
        lock(&self.faults).seen.get(rpc).copied().unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(faults: &Mutex<Faults>) -> std::sync::MutexGuard<'_, Faults> {
    faults.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    mut down: watch::Receiver<bool>,
    faults: Arc<Mutex<Faults>>,
) {
    let mut listener = Some(listener);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        if *down.borrow_and_update() {
            listener = None;
            if down.changed().await.is_err() {
                return;
            }
            continue;
        }
        let Some(open) = listener.as_ref() else {
            // Back up: the same port (SO_REUSEADDR is set by tokio on unix).
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
            continue;
        };
        tokio::select! {
            accepted = open.accept() => {
                if let Ok((client, _)) = accepted {
                    conns.spawn(serve_conn(client, upstream, down.clone(), faults.clone()));
                }
            }
            changed = down.changed() => if changed.is_err() { return },
        }
        while conns.try_join_next().is_some() {}
    }
}

/// One client connection: request by request, with its own upstream
/// connection opened on first use.
async fn serve_conn(
    client: TcpStream,
    upstream: SocketAddr,
    down: watch::Receiver<bool>,
    faults: Arc<Mutex<Faults>>,
) {
    let mut client = BufReader::new(client);
    let mut server: Option<BufReader<TcpStream>> = None;
    loop {
        let request = match read_message(&mut client, false).await {
            Ok(Some(m)) => m,
            _ => return,
        };
        if *down.borrow() {
            return;
        }
        let rpc = rpc_name(&request.head);
        let names = also_named(&rpc);
        let canned = {
            let mut f = lock(&faults);
            for name in &names {
                *f.seen.entry(name.clone()).or_default() += 1;
            }
            names.iter().find_map(|name| {
                f.answers
                    .get_mut(name)
                    .and_then(|a| (!a.is_empty()).then(|| a.remove(0)))
            })
        };
        if let Some((status, body)) = canned {
            let answer = format!(
                "HTTP/1.1 {status} Canned\r\nContent-Type: application/json; charset=utf-8\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if client.get_mut().write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        if server.is_none() {
            match TcpStream::connect(upstream).await {
                Ok(s) => server = Some(BufReader::new(s)),
                Err(_) => return,
            }
        }
        let Some(up) = server.as_mut() else { return };
        if up.get_mut().write_all(&request.bytes).await.is_err() {
            return;
        }
        let response = match read_message(up, true).await {
            Ok(Some(m)) => m,
            _ => return,
        };
        let (cut, hook) = {
            let mut f = lock(&faults);
            let cut = names.iter().any(|name| match f.cut.get_mut(name) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            });
            let hook = names.iter().find_map(|name| {
                f.hooks
                    .get_mut(name)
                    .and_then(|hooks| (!hooks.is_empty()).then(|| hooks.remove(0)))
            });
            (cut, hook)
        };
        if let Some(hook) = hook {
            // The hook may block (SQLite): keep it off the runtime's threads.
            let _ = tokio::task::spawn_blocking(hook).await;
        }
        if cut {
            return;
        }
        if client.get_mut().write_all(&response.bytes).await.is_err() {
            return;
        }
    }
}

struct Message {
    head: String,
    bytes: Vec<u8>,
}

/// Reads one HTTP/1.1 message (head and body) verbatim. `None` at a clean
/// end of stream before a message starts.
async fn read_message(
    stream: &mut BufReader<TcpStream>,
    is_response: bool,
) -> Result<Option<Message>> {
    let mut bytes = Vec::new();
    let mut head = String::new();
    loop {
        let mut line = Vec::new();
        let n = stream.read_until(b'\n', &mut line).await?;
        if n == 0 {
            if bytes.is_empty() {
                return Ok(None);
            }
            bail!("connection closed inside a message head");
        }
        bytes.extend_from_slice(&line);
        let text = String::from_utf8_lossy(&line);
        if text.trim_end().is_empty() {
            if head.is_empty() {
                continue;
            }
            break;
        }
        head.push_str(&text);
    }
    let lower = head.to_ascii_lowercase();
    let header = |name: &str| {
        lower
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut line = Vec::new();
            stream.read_until(b'\n', &mut line).await?;
            bytes.extend_from_slice(&line);
            let size_text = String::from_utf8_lossy(&line);
            let size_text = size_text.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16).context("chunk size")?;
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).await?;
            bytes.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(len) = header("content-length:") {
        let len: usize = len.parse().context("content-length")?;
        let mut body = vec![0; len];
        stream.read_exact(&mut body).await?;
        bytes.extend_from_slice(&body);
    } else if is_response && !head.starts_with("HTTP/1.1 204") && !head.starts_with("HTTP/1.1 304")
    {
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await?;
        bytes.extend_from_slice(&rest);
    }
    Ok(Some(Message { head, bytes }))
}

/// The names a request answers to: its own, and `ebb_push` for
/// `ebb_push_pull` (a push that also brings pages back), so a fault set
/// on the push hits whichever request carries it.
fn also_named(rpc: &str) -> Vec<String> {
    match rpc {
        "ebb_push_pull" => vec![rpc.to_string(), "ebb_push".to_string()],
        _ => vec![rpc.to_string()],
    }
}

/// The last path segment of the request line: `POST /rest/v1/rpc/ebb_push
/// HTTP/1.1` -> `ebb_push`.
fn rpc_name(head: &str) -> String {
    let target = head.split_whitespace().nth(1).unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    path.rsplit('/').next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_names() {
        assert_eq!(
            rpc_name("POST /rest/v1/rpc/ebb_push HTTP/1.1\r\n"),
            "ebb_push"
        );
        assert_eq!(rpc_name("POST /rpc/ebb_pull?x=1 HTTP/1.1\r\n"), "ebb_pull");
    }
}
