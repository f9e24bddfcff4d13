//! The pull half of a round: page through one table's changes since its
//! cursor, plan each page against the local state (`plan_page`), and
//! apply it with its cursor in one local transaction.

use super::fetch::{Ahead, Replans};
use super::pull_all::Fetched;
use super::{Engine, RoundReport, SyncError, now_ms};
use crate::local::{LocalError, TableSpec};
use crate::model::{Cursor, PullPage};
use crate::remote::Remote;

impl<R: Remote> Engine<R> {
    /// Pulls every page of the table `name`. Returns the number of rows written.
    ///
    /// While one page is applied, the next is already being fetched (a
    /// pipeline one page deep): its request starts from the cursor the
    /// page being applied ends at, and its answer is used only when that
    /// cursor is what the table's stored cursor then says, so a cursor
    /// still moves only with the rows it covers. The fetched answer counts
    /// as the request's first attempt (`call_remote_or`); when applying
    /// fails, it is dropped unread. `first`, fetched with every table's
    /// (`pull_all`), is the first page the same way.
    pub(super) async fn pull_table(
        &mut self,
        name: &str,
        first: Option<Fetched>,
        set_aside: bool,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        let spec = self.spec_of(name)?;
        // Rows set aside while this device's own change was in doubt
        // (`set_aside`: the table has some): the push before this pull
        // settled those changes, so plan them again.
        let mut replans = Replans::new(self.config.sync.max_replans, name);
        if set_aside {
            self.replan_set_aside(&spec, &mut replans, report)?;
        }
        let bar = self.progress.table(name);
        let mut ahead: Option<Ahead> = None;
        let mut fetched = first;
        let mut pages = 0;
        loop {
            let cursor = self.local.cursor(name)?;
            let page = match fetched.take() {
                // Fetched with every table's (counted, and pacing the
                // next pages, as that one request).
                Some(f) if f.from == cursor => f.page,
                _ => {
                    let (page, took) = self.fetch_page(name, &cursor, ahead.take()).await?;
                    // A page shorter than asked is the table's end, not the
                    // server's pace: only a full one grows the next.
                    self.pull_pace.answered(page.rows.len(), took);
                    self.pull_pace.sized(page.rows.len(), page.bytes);
                    page
                }
            };
            // Still ours before anything of the page is written (the
            // horizon this handle keeps, then the rows; a check in memory
            // while the lease it wrote has more than half its time left).
            self.renew()?;
            let now = now_ms();
            let held = self
                .local
                .note_horizon(&page.horizon, page.in_flight, now)?;
            if let Some(since) = held {
                report.pull_held_since =
                    Some(report.pull_held_since.map_or(since, |s| s.min(since)));
            }
            let lag = held.map_or(0, |since| (now - since).max(0) as u64);
            self.metrics
                .set_pull_lag(std::time::Duration::from_millis(lag));
            if page.rows.is_empty() && page.next == cursor {
                // Nothing new and the cursor stays: no local transaction
                // (a round with nothing to do costs its one `ebb_pull_all`).
                bar.finish();
                return Ok(());
            }
            if page.has_more && !page.rows.is_empty() {
                ahead = Some(self.fetch_ahead(name, &page.next, self.pull_pace.size()));
            }
            // On an error the page fetched ahead is dropped, so cancelled.
            let (next, has_more, rows) = (page.next.clone(), page.has_more, page.rows.len());
            if !self.apply_page(&spec, page, Some(&next), report)? {
                // The app edited one of its rows meanwhile: the cursor
                // stays, and the page is asked for again (as it is now).
                report.replanned += 1;
                replans.another()?;
                continue;
            }
            replans.reset();
            pages += 1;
            bar.add_rows(rows as u64);
            self.metrics.add_pulled(name, rows as u64);
            self.renew()?;
            if !has_more || rows == 0 {
                bar.finish();
                if pages > 1
                    && let Err(e) = self.local.checkpoint()
                {
                    tracing::warn!(table = %name, error = %e, "checkpoint after a bulk pull failed");
                }
                return Ok(());
            }
        }
    }

    /// Plans again the rows of `spec` set aside (`Local::deferred`).
    fn replan_set_aside(
        &mut self,
        spec: &TableSpec,
        replans: &mut Replans<'_>,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        loop {
            let rows = self.local.deferred(&spec.name)?;
            if rows.is_empty() {
                return Ok(());
            }
            let page = PullPage {
                rows,
                next: Cursor::default(),
                has_more: false,
                horizon: String::new(),
                in_flight: false,
                bytes: 0,
            };
            if self.apply_page(spec, page, None, report)? {
                replans.reset();
                return Ok(());
            }
            report.replanned += 1;
            replans.another()?;
        }
    }

    /// Plans and applies one page; `cursor` is where the table's pull
    /// goes on from (`None` for rows set aside earlier: they move nothing).
    /// The plan takes the page's rows. `false`: a row of the page was
    /// edited here between planning and applying, nothing was applied, and
    /// the page is to be read again and planned anew.
    fn apply_page(
        &mut self,
        spec: &TableSpec,
        page: PullPage,
        cursor: Option<&Cursor>,
        report: &mut RoundReport,
    ) -> Result<bool, SyncError> {
        let set_aside = cursor.is_none();
        // Planning only reads: in one read transaction (one snapshot;
        // the apply below checks every row's queue counter again).
        let began = self.local.begin_reads()?;
        let planned = self.plan_page(spec, page);
        if began {
            self.local.end_reads()?;
        }
        let (ops, counts) = planned?;
        let applied = if set_aside {
            self.local.apply_set_aside(spec, &ops, now_ms())
        } else {
            self.local.apply(spec, &ops, cursor, now_ms())
        };
        match applied {
            Ok(()) => {}
            Err(LocalError::Stale { table, pk }) => {
                tracing::debug!(%table, %pk, "row edited while applying a page; planning again");
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        for d in &counts.decided {
            self.keep_decision(&spec.name, d, report)?;
        }
        report.pulled += counts.written;
        self.announce_rewritten(&spec.name, &counts.rewritten, report)?;
        report.deferred += counts.deferred;
        report.resolved += counts.resolved;
        report.manual += counts.manual;
        for _ in 0..counts.resolved {
            self.metrics.count_conflict(&spec.name, "resolved");
        }
        for _ in 0..counts.manual {
            self.metrics.count_conflict(&spec.name, "manual");
        }
        Ok(true)
    }
}
