//! The plugin's only way out: one bounded log line to the host.
//!
//! Owns [`Level`] and [`log`]. In a wasm build a line goes to the host
//! import `ebb:policy/host@0.1.0#log` (the host keeps a bounded number of
//! bytes per call and drops the rest). In a native build (unit tests through
//! [`crate::testing`]) the line is kept in a per-thread buffer that
//! [`crate::testing::take_logs`] returns. It must never fail or panic: a log
//! line is advisory. Called by plugin code.

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail for whoever debugs the plugin.
    Debug,
    /// Normal operation worth a note.
    Info,
    /// Something odd that did not stop the plugin.
    Warn,
    /// Something went wrong.
    Error,
}

/// Sends one line to the host's log for this call.
///
/// Do not log secrets or whole rows: the host's log may be shipped
/// elsewhere.
pub fn log(level: Level, message: &str) {
    imp::log(level, message);
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::bindings::validator::ebb::policy::host;

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod imp {
    use super::Level;
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn log(level: Level, message: &str) {
        LINES.with(|lines| lines.borrow_mut().push((level, message.to_owned())));
    }

    pub(crate) fn take() -> Vec<(Level, String)> {
        LINES.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
    }
}
