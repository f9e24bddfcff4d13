//! The end of a run: the held transaction commits, requests still in the
//! network arrive, faults stop, an hour passes (dead items get new tries),
//! and every till syncs, pass after pass, until a whole pass changes
//! nothing on the server or any till. A run that does not settle within
//! [`MAX_PASSES`] fails with the reason.

use anyhow::Result;

use super::backoffice::Backoffice;
use super::plan::ServerOp;
use super::run::Sim;
use super::schema::TABLES;
use super::steps::summary;
use super::till::{Round, Till};
use ebb::remote::Remote;

/// Passes before a run counts as not converging (items that keep failing
/// die after `retry.max_attempts` = 6 rounds).
pub const MAX_PASSES: usize = 12;

impl Sim<'_> {
    pub(super) async fn converge<R: Remote, B: Backoffice>(
        &mut self,
        tills: &mut [Till<R>],
        server: &B,
    ) -> Result<()> {
        let released = self.server(server, &ServerOp::Release).await?;
        self.note(format!("converge: held transaction {released}"));
        for till in tills.iter() {
            while till.remote.delayed() > 0 {
                let what = self.deliver(till).await?;
                self.note(format!("converge: {what}"));
            }
            till.remote.disarm();
            till.revive_dead()?;
        }
        // What each till and the server hold; converged when as many
        // rounds in a row as there are tills (a whole pass) changed nothing.
        let mut held: Vec<String> = tills.iter().map(Till::fingerprint).collect::<Result<_>>()?;
        let mut on_server = server_fingerprint(server).await?;
        let mut quiet = 0;
        let mut errors: Vec<String> = Vec::new();
        for round in 0..MAX_PASSES * tills.len() {
            let i = round % tills.len();
            let till = &mut tills[i];
            server.settle().await?;
            self.stats.converge_rounds += 1;
            let what = match till.round(&[], Vec::new()).await? {
                Round::Done(Ok(report)) => {
                    if let Some(e) = &report.error {
                        errors.push(format!("till {i}: round error: {e}"));
                    }
                    summary(&report)
                }
                Round::Done(Err(e)) => {
                    errors.push(format!("till {i}: round did not run: {e}"));
                    format!("did not run: {e}")
                }
                Round::Killed => {
                    errors.push(format!("till {i}: killed with faults off"));
                    "killed".into()
                }
            };
            self.note(format!("converge round {}: till {i}: {what}", round + 1));
            let now = (till.fingerprint()?, server_fingerprint(server).await?);
            if now.0 == held[i] && now.1 == on_server {
                quiet += 1;
            } else {
                quiet = 0;
                errors.clear();
                (held[i], on_server) = now;
            }
            if quiet == tills.len() {
                // Errors of the quiet pass are the ones that stay.
                self.verdict.errors.extend(errors);
                return Ok(());
            }
        }
        self.verdict.errors.push(format!(
            "no convergence: {MAX_PASSES} passes with faults off still changed something"
        ));
        Ok(())
    }
}

/// What the server holds (every live row's version).
async fn server_fingerprint<B: Backoffice>(server: &B) -> Result<String> {
    let mut out = String::new();
    for t in &TABLES {
        for (pk, version) in server.versions(t.name).await? {
            out.push_str(&format!("{}/{pk} v{version}\n", t.name));
        }
    }
    Ok(out)
}
