//! What one round did, as `Engine::run_once` returns it: counts the
//! round's parts add to as they go, read by the CLI, the events and the
//! daemon.

/// What one round did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RoundReport {
    /// Changes the server applied.
    pub pushed: usize,
    /// Pulled rows written locally.
    pub pulled: usize,
    /// Pulled rows set aside because this device's own change of the row
    /// is in doubt (sent, answer lost); planned again after its next push.
    pub deferred: usize,
    /// Conflicts settled by policy, and those left for a person.
    pub resolved: usize,
    pub manual: usize,
    /// Items held as invalid by validation.
    pub invalid: usize,
    /// Items that failed and will be retried, or are now dead.
    pub retrying: usize,
    pub dead: usize,
    /// Since when (unix ms) a transaction open on the server has held the
    /// pull back: rows newer than it wait, so `pulled: 0` is not "up to
    /// date". `None` when nothing held it.
    pub pull_held_since: Option<i64>,
    /// Conflicts a policy settled by discarding a local write (a local
    /// delete undone, a field edit replaced), and a remote one.
    pub overwritten_local: usize,
    pub overwritten_remote: usize,
    /// This device's own writes the server stored with other values (a
    /// trigger, a default or a column type of its own), now written here
    /// as the server has them (`echo`).
    pub changed_by_server: usize,
    /// Writes an app trigger made to a synced table while ebb applied
    /// pulled rows of another, skipped (`local::Skipped`).
    pub skipped_writes: usize,
    /// Tables whose push and pull both completed (their last_sync_at moved).
    pub completed_tables: Vec<String>,
    /// Inflight items of an earlier, interrupted round returned to pending.
    pub recovered: usize,
    /// Pulled pages read again and planned anew because the app edited
    /// one of their rows between planning and applying them.
    pub replanned: usize,
    /// The error that ended the round early, if any.
    pub error: Option<String>,
}
