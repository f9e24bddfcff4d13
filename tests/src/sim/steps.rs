//! One step of a plan, run: an app write on its till (counted in the
//! ledger when it commits), back office SQL (counted when it finds its
//! row), a sync round with its faults and the app's writes while it is
//! out, a held request delivered late.
//! Returns a line for the trace.

use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Result, bail};
use serde_json::json;

use super::app::{self, NOW};
use super::backoffice::Backoffice;
use super::faulty::Hook;
use super::plan::{AppOp, ServerOp, Step};
use super::run::{Sim, object};
use super::till::{Round, Till};
use ebb::remote::Remote;
use ebb::sync::RoundReport;

/// How long a held write (`AppOp::Held`) keeps the app's write lock
/// before it writes and commits: far longer than a till takes to plan a
/// page, far shorter than its busy timeout (5 s).
const HELD_FOR: std::time::Duration = std::time::Duration::from_millis(1000);

impl Sim<'_> {
    /// Runs one step; returns what it did, for the trace.
    pub(super) async fn step<R: Remote, B: Backoffice>(
        &mut self,
        tills: &mut [Till<R>],
        server: &B,
        step: &Step,
    ) -> Result<String> {
        match step {
            Step::App { till, op } => {
                let Some(t) = tills.get(*till) else {
                    return Ok("no such till".into());
                };
                self.app(t, op)
            }
            Step::Equal {
                tills: (a, b),
                product,
                n,
            } => {
                let op = AppOp::Sell {
                    product: *product,
                    n: *n,
                };
                let mut done = Vec::new();
                for i in [a, b] {
                    if let Some(t) = tills.get(*i) {
                        done.push(format!("till {i}: {}", self.app(t, &op)?));
                    }
                }
                Ok(done.join("; "))
            }
            Step::Server(op) => self.server(server, op).await,
            Step::Sync {
                till,
                faults,
                during,
            } => {
                let Some(t) = tills.get_mut(*till) else {
                    return Ok("no such till".into());
                };
                self.stats.syncs += 1;
                let hooks = during
                    .iter()
                    .map(|(call, op)| (*call, self.inflight_write(t, op)))
                    .collect();
                let round = t.round(faults, hooks).await?;
                // A held write commits even when the round did not wait
                // for it: counted with the round's.
                for write in std::mem::take(&mut *lock(&self.held)) {
                    if write.join().is_err() {
                        bail!("a held write's thread panicked");
                    }
                }
                let mut what = match round {
                    Round::Killed => {
                        self.stats.kills += 1;
                        self.stats.round_errors += 1;
                        "killed mid-round; restarted".to_string()
                    }
                    Round::Done(Ok(report)) => {
                        if report.error.is_some() {
                            self.stats.round_errors += 1;
                        }
                        summary(&report)
                    }
                    Round::Done(Err(e)) => {
                        self.stats.round_errors += 1;
                        format!("round did not run: {e}")
                    }
                };
                let written = std::mem::take(&mut *lock(&self.inflight));
                for (op, effect) in written {
                    self.stats.op("inflight-write");
                    match effect {
                        Ok(effect) => {
                            what.push_str(&format!("; while out, {op}: {effect}"));
                            if matches!(effect, app::Effect::Skipped(_)) {
                                self.stats.skipped += 1;
                            }
                            self.ledger.app(&effect);
                        }
                        Err(e) => bail!("the in-flight write {op} failed: {e}"),
                    }
                }
                Ok(what)
            }
            Step::Deliver { pick } => {
                let holding: Vec<usize> = (0..tills.len())
                    .filter(|&i| tills[i].remote.delayed() > 0)
                    .collect();
                if holding.is_empty() {
                    return Ok("nothing held in the network".into());
                }
                let i = holding[pick % holding.len()];
                self.deliver(&tills[i]).await
            }
        }
    }

    /// A hook that makes the app write `op` on `till`'s second connection
    /// and leaves the effect for the step to count.
    fn inflight_write<R: Remote>(&self, till: &Till<R>, op: &AppOp) -> Hook {
        if let AppOp::Held(op) = op {
            return self.held_write(till, op);
        }
        let conn = Arc::clone(&till.inflight);
        let plan = Arc::clone(&self.shared_plan);
        let sink = Arc::clone(&self.inflight);
        let op = op.clone();
        Box::new(move || {
            let effect = app::write(&lock(&conn), &plan, &op).map_err(|e| format!("{e:#}"));
            lock(&sink).push((op, effect));
        })
    }

    /// `op` as `AppOp::Held` makes it: the app's write lock taken as the
    /// call starts, the write made and committed [`HELD_FOR`] later on a
    /// thread of its own.
    fn held_write<R: Remote>(&self, till: &Till<R>, op: &AppOp) -> Hook {
        let conn = Arc::clone(&till.inflight);
        let plan = Arc::clone(&self.shared_plan);
        let sink = Arc::clone(&self.inflight);
        let held = Arc::clone(&self.held);
        let op = op.clone();
        Box::new(move || {
            let began = lock(&conn)
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| format!("taking the write lock: {e}"));
            let write = std::thread::spawn(move || {
                std::thread::sleep(HELD_FOR);
                let conn = lock(&conn);
                let effect = began.and_then(|()| {
                    let effect = app::write(&conn, &plan, &op).map_err(|e| format!("{e:#}"));
                    let end = match effect {
                        Ok(_) => "COMMIT",
                        Err(_) => "ROLLBACK",
                    };
                    conn.execute_batch(end)
                        .map_err(|e| format!("{end}: {e}"))
                        .and(effect)
                });
                lock(&sink).push((AppOp::Held(Box::new(op)), effect));
            });
            lock(&held).push(write);
        })
    }

    fn app<R: Remote>(&mut self, till: &Till<R>, op: &AppOp) -> Result<String> {
        let effect = app::write(&till.app, self.plan, op)?;
        if matches!(effect, app::Effect::Skipped(_)) {
            self.stats.skipped += 1;
        }
        self.ledger.app(&effect);
        Ok(effect.to_string())
    }

    /// Delivers one request `till` left in the network.
    pub(super) async fn deliver<R: Remote>(&mut self, till: &Till<R>) -> Result<String> {
        self.stats.delivered += 1;
        Ok(match till.remote.deliver().await {
            None => "nothing held".into(),
            Some(Ok(results)) => {
                format!("late request of till {} answered {results:?}", till.index)
            }
            Some(Err(e)) => format!("late request of till {} failed: {e}", till.index),
        })
    }

    /// Runs a server op; a plain edit, while no transaction is held on
    /// purpose, is then let below the pull horizon, so the next pull sees
    /// it as the plan says. Else a transaction open elsewhere on the
    /// cluster (another test's) held it back by chance: a scenario whose
    /// step expects it failed on a loaded machine (CI, session 15).
    pub(super) async fn server<B: Backoffice>(
        &mut self,
        server: &B,
        op: &ServerOp,
    ) -> Result<String> {
        let done = self.server_op(server, op).await?;
        let edit = !matches!(op, ServerOp::Hold { .. } | ServerOp::Release);
        if edit && !self.held_open {
            server.settle().await?;
        }
        Ok(done)
    }

    async fn server_op<B: Backoffice>(&mut self, server: &B, op: &ServerOp) -> Result<String> {
        let plan = self.plan;
        let product = |i: usize| {
            plan.products
                .get(i)
                .map(|p| p.id.clone())
                .unwrap_or_default()
        };
        let customer = |i: usize| plan.customers.get(i).cloned().unwrap_or_default();
        let found = |hit: bool| if hit { "done" } else { "no such row" }.to_string();
        Ok(match op {
            ServerOp::Price { product: p, cents } => {
                let fields = object(json!({"price_cents": cents}));
                found(server.update("products", &product(*p), &fields).await?)
            }
            ServerOp::Stock { product: p, delta } => {
                let id = product(*p);
                let hit = server.add("products", &id, "stock", *delta).await?;
                if hit {
                    self.ledger.stock_delta(&id, *delta);
                }
                found(hit)
            }
            ServerOp::Paid { debt, delta } => {
                let hit = server
                    .add("debts", debt, "amount_paid_cents", *delta)
                    .await?;
                if hit {
                    self.ledger.paid_delta(debt, *delta);
                }
                found(hit)
            }
            ServerOp::Note { customer: c, text } => {
                let fields = object(json!({"notes": text}));
                found(server.update("customers", &customer(*c), &fields).await?)
            }
            ServerOp::DeleteDebt { debt } => {
                let hit = server.delete("debts", debt).await?;
                if hit {
                    self.ledger.deleted_debts.insert(debt.clone());
                }
                found(hit)
            }
            ServerOp::Hold { customer: id } => {
                if self.held_open {
                    return Ok("a transaction is already held".into());
                }
                let row = object(json!({
                    "id": id, "name": "Walk-in", "phone": null, "email": null,
                    "notes": "inserted by a long transaction", "updated_at": NOW,
                }));
                server.hold("customers", &row).await?;
                self.held_open = true;
                "transaction open, horizon held".into()
            }
            ServerOp::Release => {
                server.release().await?;
                let was = std::mem::replace(&mut self.held_open, false);
                if was { "committed" } else { "nothing held" }.into()
            }
        })
    }
}

/// A lock that a panic elsewhere does not poison for the oracle.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One line for a round's report.
pub(super) fn summary(r: &RoundReport) -> String {
    let mut s = format!(
        "pushed {} pulled {} resolved {} manual {}",
        r.pushed, r.pulled, r.resolved, r.manual
    );
    for (what, n) in [
        ("invalid", r.invalid),
        ("retrying", r.retrying),
        ("dead", r.dead),
        ("recovered", r.recovered),
        ("replanned", r.replanned),
    ] {
        if n > 0 {
            s.push_str(&format!(" {what} {n}"));
        }
    }
    if let Some(e) = &r.error {
        s.push_str(&format!(" ERROR {e}"));
    }
    s
}
