//! The judgement after convergence:
//!
//! - (a) every till's synced tables equal the server's, except rows the
//!   till lists as held (open conflict, or queue item invalid / dead /
//!   in conflict); a divergent row that is not listed is a failure, and
//!   so is an item still pending or retrying;
//! - (b) no acknowledged write lost: every payment an app inserted, and
//!   nobody deleted, is on the server as inserted;
//! - (c) every counter exact: products.stock and debts.amount_paid_cents
//!   equal their start plus every committed delta (debts somebody deleted
//!   are left out);
//! - (d) every manual conflict listed: a queue item waiting in conflict
//!   has its open conflict record, and `ebb status` counts them all.
//!
//! Reads the server through [`Backoffice`] and the tills through their
//! files; writes nothing.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::backoffice::Backoffice;
use super::ledger::Ledger;
use super::schema::TABLES;
use super::till::Till;
use ebb::model::Row;
use ebb::remote::Remote;

/// What the oracle found. Each entry is one line for the report.
#[derive(Debug, Default, Clone)]
pub struct Verdict {
    /// (b) writes the server never got.
    pub lost: Vec<String>,
    /// (a) rows a till holds otherwise than the server, unlisted.
    pub divergent: Vec<String>,
    /// (c) counters off.
    pub miscounted: Vec<String>,
    /// (d) conflicts not listed where a person looks.
    pub unlisted: Vec<String>,
    /// The run itself went wrong (setup, no convergence, a round error
    /// after convergence).
    pub errors: Vec<String>,
    /// Rows held back and listed (fine, counted for the figures).
    pub held: usize,
    /// Open manual conflicts (fine, counted for the figures).
    pub manual: usize,
}

impl Verdict {
    pub fn failed(&self) -> bool {
        !(self.lost.is_empty()
            && self.divergent.is_empty()
            && self.miscounted.is_empty()
            && self.unlisted.is_empty()
            && self.errors.is_empty())
    }

    /// Which checks failed, e.g. "(b) lost 1, (c) miscounted 2".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("(a) divergent", self.divergent.len()),
            ("(b) lost", self.lost.len()),
            ("(c) miscounted", self.miscounted.len()),
            ("(d) unlisted", self.unlisted.len()),
            ("errors", self.errors.len()),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
        if parts.is_empty() {
            "ok".into()
        } else {
            parts.join(", ")
        }
    }

    /// Every finding, one per line.
    pub fn lines(&self) -> Vec<String> {
        let tag = |t: &str, v: &[String]| -> Vec<String> {
            v.iter().map(|l| format!("{t}: {l}")).collect()
        };
        [
            tag("divergent", &self.divergent),
            tag("lost", &self.lost),
            tag("miscounted", &self.miscounted),
            tag("unlisted", &self.unlisted),
            tag("error", &self.errors),
        ]
        .concat()
    }
}

/// The server's rows of every synced table: table -> key -> row.
pub async fn server_rows<B: Backoffice>(
    server: &B,
) -> Result<BTreeMap<String, BTreeMap<String, Row>>> {
    let mut out = BTreeMap::new();
    for t in &TABLES {
        let rows = server.rows(t.name).await?;
        let by_key = rows
            .into_iter()
            .map(|r| (key(&r), r))
            .collect::<BTreeMap<_, _>>();
        out.insert(t.name.to_string(), by_key);
    }
    Ok(out)
}

fn key(row: &Row) -> String {
    row.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn shown(row: Option<&Row>) -> String {
    row.map_or("absent".into(), |r| Value::Object(r.clone()).to_string())
}

/// Judges the tills and the server against the ledger.
pub async fn judge<R: Remote, B: Backoffice>(
    tills: &[Till<R>],
    server: &B,
    ledger: &Ledger,
) -> Result<Verdict> {
    let mut v = Verdict::default();
    let rows = server_rows(server).await?;
    for till in tills {
        same_rows(till, &rows, &mut v)?;
        listed(till, &mut v)?;
    }
    let empty = BTreeMap::new();
    let payments = rows.get("debt_payments").unwrap_or(&empty);
    for (id, sent) in &ledger.payments {
        if !ledger.payment_stands(id) {
            continue;
        }
        match payments.get(id) {
            Some(row) if row == sent => {}
            found => v.lost.push(format!(
                "payment {id}: inserted {}, server has {}",
                shown(Some(sent)),
                shown(found)
            )),
        }
    }
    counters(&rows, "products", "stock", &ledger.stock, ledger, &mut v);
    counters(
        &rows,
        "debts",
        "amount_paid_cents",
        &ledger.paid,
        ledger,
        &mut v,
    );
    Ok(v)
}

/// (a) for one till.
fn same_rows<R: Remote>(
    till: &Till<R>,
    server: &BTreeMap<String, BTreeMap<String, Row>>,
    v: &mut Verdict,
) -> Result<()> {
    let held = till.held()?;
    v.held += held.len();
    for t in &TABLES {
        let local = till.rows(t.name)?;
        let empty = BTreeMap::new();
        let remote = server.get(t.name).unwrap_or(&empty);
        let keys: std::collections::BTreeSet<&String> = local.keys().chain(remote.keys()).collect();
        for pk in keys {
            let (l, r) = (local.get(pk), remote.get(pk));
            if l == r || held.contains(&(t.name.to_string(), pk.clone())) {
                continue;
            }
            v.divergent.push(format!(
                "till {} {} {pk}: till has {}, server has {}",
                till.index,
                t.name,
                shown(l),
                shown(r)
            ));
        }
    }
    let stuck = till
        .engine
        .local()
        .queue_items(&["pending", "retry", "inflight"], 100)?;
    for item in stuck {
        v.divergent.push(format!(
            "till {} {} {}: queue item still {} after convergence",
            till.index, item.table, item.pk, item.state
        ));
    }
    Ok(())
}

/// (d) for one till.
fn listed<R: Remote>(till: &Till<R>, v: &mut Verdict) -> Result<()> {
    let local = till.engine.local();
    let open = local.conflicts(false)?;
    v.manual += open.len();
    for item in local.queue_items(&["conflict"], 10_000)? {
        if !open
            .iter()
            .any(|c| c.table == item.table && c.pk == item.pk)
        {
            v.unlisted.push(format!(
                "till {} {} {}: queue item in conflict without an open conflict",
                till.index, item.table, item.pk
            ));
        }
    }
    let status = local.status(ebb::sync::now_ms(), std::time::Duration::from_secs(60))?;
    if status.open_conflicts != open.len() as u64 {
        v.unlisted.push(format!(
            "till {}: status counts {} open conflicts, the list has {}",
            till.index,
            status.open_conflicts,
            open.len()
        ));
    }
    Ok(())
}

/// (c) for one counter column.
fn counters(
    rows: &BTreeMap<String, BTreeMap<String, Row>>,
    table: &str,
    column: &str,
    expected: &BTreeMap<String, i64>,
    ledger: &Ledger,
    v: &mut Verdict,
) {
    let empty = BTreeMap::new();
    let found = rows.get(table).unwrap_or(&empty);
    for (id, want) in expected {
        if table == "debts" && ledger.deleted_debts.contains(id) {
            continue;
        }
        match found
            .get(id)
            .and_then(|r| r.get(column))
            .and_then(Value::as_i64)
        {
            Some(have) if have == *want => {}
            Some(have) => v.miscounted.push(format!(
                "{table} {id}: {column} is {have}, expected {want} (off by {})",
                have - want
            )),
            None => v.lost.push(format!(
                "{table} {id}: not on the server (expected {column} {want})"
            )),
        }
    }
}
