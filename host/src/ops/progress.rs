//! Progress bars for the initial (and any long) pull: one line per table
//! with the rows pulled so far and the rate, on stderr, built on indicatif.
//!
//! Hidden when stderr is not a terminal or with `--quiet`: then every call
//! is a cheap no-op on a hidden bar. Log lines must not be torn by a bar
//! redraw, so the CLI sends tracing's output through [`Progress::log_writer`],
//! which clears the bars, writes the line and redraws them. Called by `sync`
//! (one [`TableProgress`] per table pulled) and the CLI (construction,
//! logging). It decides nothing about sync.
//!
//! Under `ebb run` there are no bars; [`Progress::events`] instead sends a
//! `progress` event about once a second per table while a pull lasts
//! longer than a second (a short pull sends none).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ops::events::{Event, Events};

/// How often a spinner redraws on its own.
const TICK: Duration = Duration::from_millis(120);

/// How often a table's pull sends a `progress` event (and after how long
/// the first).
const EVENT_EVERY: Duration = Duration::from_secs(1);

/// The set of progress lines. Clones share the same display.
#[derive(Clone, Debug)]
pub struct Progress {
    /// `None` when hidden.
    multi: Option<MultiProgress>,
    /// Where `progress` events go, under `ebb run`.
    feed: Option<Events>,
}

impl Progress {
    /// Bars on stderr, unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Progress {
        if quiet || !io::stderr().is_terminal() {
            return Progress::hidden();
        }
        Progress {
            multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            feed: None,
        }
    }

    /// No bars at all.
    pub fn hidden() -> Progress {
        Progress {
            multi: None,
            feed: None,
        }
    }

    /// No bars; `progress` events on `events` during long pulls.
    pub fn events(events: Events) -> Progress {
        Progress {
            multi: None,
            feed: Some(events),
        }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.multi.is_some()
    }

    /// A line for `table`: a spinner with the row count and rows/s, since
    /// the total is unknown (see [`TableProgress::set_total`] when it is).
    pub fn table(&self, table: &str) -> TableProgress {
        let feed = self.feed.clone().map(|events| Feed {
            events,
            table: table.to_owned(),
            started: Instant::now(),
            rows: AtomicU64::new(0),
            total: AtomicU64::new(0),
            sent_ms: AtomicU64::new(0),
        });
        let Some(multi) = &self.multi else {
            return TableProgress {
                bar: ProgressBar::hidden(),
                feed,
            };
        };
        let bar = multi.add(ProgressBar::new_spinner());
        // The template is a literal; if indicatif ever refused it, a plain
        // spinner is still correct.
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {prefix}: {human_pos} rows ({per_sec})")
        {
            bar.set_style(style);
        }
        bar.set_prefix(table.to_owned());
        bar.enable_steady_tick(TICK);
        TableProgress { bar, feed }
    }

    /// Run `f` with the bars cleared, then redraw them.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(multi) => multi.suspend(f),
            None => f(),
        }
    }

    /// A `tracing_subscriber` writer for stderr that never interleaves with
    /// a bar redraw.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter {
            progress: self.clone(),
            out: Arc::new(Mutex::new(Box::new(io::stderr()))),
        }
    }
}

/// One table's line.
#[derive(Debug)]
pub struct TableProgress {
    bar: ProgressBar,
    feed: Option<Feed>,
}

/// One table's `progress` events.
#[derive(Debug)]
struct Feed {
    events: Events,
    table: String,
    started: Instant,
    rows: AtomicU64,
    /// 0 while unknown.
    total: AtomicU64,
    /// Milliseconds after `started` of the last event (0: none yet).
    sent_ms: AtomicU64,
}

impl Feed {
    fn add(&self, n: u64) {
        let rows = self.rows.fetch_add(n, Ordering::Relaxed) + n;
        let elapsed = self.started.elapsed();
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let every = EVENT_EVERY.as_millis() as u64;
        if ms < every || ms.saturating_sub(self.sent_ms.load(Ordering::Relaxed)) < every {
            return;
        }
        self.sent_ms.store(ms, Ordering::Relaxed);
        let rate = rows as f64 / elapsed.as_secs_f64().max(0.001);
        let total = self.total.load(Ordering::Relaxed);
        let eta_s =
            (total > rows && rate > 0.0).then(|| ((total - rows) as f64 / rate).ceil() as u64);
        self.events.emit(Event::Progress {
            table: self.table.clone(),
            rows,
            rows_per_s: (rate * 10.0).round() / 10.0,
            eta_s,
        });
    }
}

impl TableProgress {
    /// `n` more rows were pulled.
    pub fn add_rows(&self, n: u64) {
        self.bar.inc(n);
        if let Some(feed) = &self.feed {
            feed.add(n);
        }
    }

    /// The total became known: show a bar instead of a spinner.
    pub fn set_total(&self, total: u64) {
        if let Some(feed) = &self.feed {
            feed.total.store(total, Ordering::Relaxed);
        }
        self.bar.set_length(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix}: [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, {eta})",
        ) {
            self.bar.set_style(style.progress_chars("=> "));
        }
    }

    /// Rows counted so far.
    pub fn rows(&self) -> u64 {
        self.bar.position()
    }

    /// The table is done: the line stays with its final count.
    pub fn finish(&self) {
        self.bar.finish_with_message("done");
    }
}

/// Writes log output so that bars are cleared first and redrawn after.
/// Each writer buffers one event and writes it on drop, in one piece.
#[derive(Clone)]
pub struct LogWriter {
    progress: Progress,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl LogWriter {
    #[cfg(test)]
    fn to(progress: Progress, out: Box<dyn Write + Send>) -> LogWriter {
        LogWriter {
            progress,
            out: Arc::new(Mutex::new(out)),
        }
    }
}

/// One event's bytes on their way out.
pub struct LogLine {
    writer: LogWriter,
    buf: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let out = &self.writer.out;
        self.writer.progress.suspend(|| {
            let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
            out.write_all(&buf)?;
            out.flush()
        })
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        // Nowhere to report a failed write of a log line to.
        let _ = self.flush();
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            writer: self.clone(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn quiet_is_hidden_and_still_counts() {
        let p = Progress::new(true);
        assert!(!p.is_visible());
        let t = p.table("orders");
        t.add_rows(500);
        t.add_rows(20);
        assert_eq!(t.rows(), 520);
        t.set_total(1000);
        t.finish();
    }

    #[test]
    fn not_a_terminal_is_hidden() {
        // cargo test captures stderr into a pipe, never a terminal.
        if !io::stderr().is_terminal() {
            assert!(!Progress::new(false).is_visible());
        }
    }

    #[tokio::test]
    async fn a_long_pull_sends_progress_events_and_a_short_one_none() {
        let events = Events::new(64);
        let mut rx = events.subscribe();
        let p = Progress::events(events.clone());
        let short = p.table("customers");
        short.add_rows(5);
        let long = p.table("orders");
        long.set_total(1000);
        long.add_rows(100);
        std::thread::sleep(EVENT_EVERY + Duration::from_millis(50));
        long.add_rows(100);
        long.add_rows(100);
        let e = rx.try_recv().expect("one progress event");
        let v: serde_json::Value = serde_json::from_str(&e.json).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["table"].as_str()),
            (Some("progress"), Some("orders"))
        );
        assert_eq!(v["rows"], 200);
        assert!(v["rows_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["eta_s"].as_u64().unwrap() >= 1, "{v}");
        assert!(rx.try_recv().is_err(), "at most one a second");
    }

    #[test]
    fn visible_bars_count_rows() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let p = Progress {
            multi: Some(multi),
            feed: None,
        };
        let a = p.table("orders");
        let b = p.table("customers");
        a.add_rows(3);
        b.add_rows(7);
        assert_eq!((a.rows(), b.rows()), (3, 7));
        a.finish();
        b.finish();
    }

    #[test]
    fn log_lines_arrive_whole_with_or_without_bars() {
        for p in [
            Progress::hidden(),
            Progress {
                multi: Some(MultiProgress::with_draw_target(ProgressDrawTarget::hidden())),
                feed: None,
            },
        ] {
            let _bar = p.table("orders");
            let sink = Sink::default();
            let writer = LogWriter::to(p.clone(), Box::new(sink.clone()));
            {
                let mut line = writer.make_writer();
                line.write_all(b"INFO pulled ").unwrap();
                line.write_all(b"500 rows\n").unwrap();
                assert!(
                    sink.0.lock().unwrap().is_empty(),
                    "held until the event ends"
                );
            }
            let mut line = writer.make_writer();
            line.write_all(b"WARN second\n").unwrap();
            drop(line);
            assert_eq!(
                String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
                "INFO pulled 500 rows\nWARN second\n"
            );
        }
    }

    #[test]
    fn works_as_a_tracing_writer() {
        let sink = Sink::default();
        let writer = LogWriter::to(Progress::hidden(), Box::new(sink.clone()));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(table = "orders", "pulled");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("INFO") && text.contains("pulled") && text.contains("orders"),
            "{text}"
        );
    }
}
