//! Runs a [`Plan`]: seeds the server, gives every till its first sync,
//! plays the steps in order (app writes, back office SQL, rounds with
//! their faults, late deliveries), converges with faults off, and asks the
//! oracle. Against the fake server ([`Mode::Fake`], deterministic: the same
//! plan gives the same trace) or the real gateway on a fresh PostgreSQL
//! database ([`Mode::Gateway`], the same scheduler over the real client).
//!
//! Everything that happens is written to the trace, so a failing seed
//! reads as a story. One step is `steps`; convergence is `converge`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::app::{Effect, NOW};
use super::backoffice::{Backoffice, PgBackoffice};
use super::fake::FakeRemote;
use super::ledger::Ledger;
use super::oracle::{self, Verdict};
use super::plan::{AppOp, Plan, Step};
use super::show::short;
use super::stats::Stats;
use super::steps::summary;
use super::till::{Round, Till};
use crate::{Gateway, TestDb};
use ebb::model::Row;
use ebb::remote::Remote;
use ebb::remote::postgrest::Client;

/// Which server the tills talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// [`FakeRemote`] in process.
    Fake,
    /// `ebb-gateway` over a fresh PostgreSQL database, the real client.
    Gateway,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    /// The steps of the plan that ran (what a reproduction prints).
    pub plan_steps: Vec<Step>,
    pub verdict: Verdict,
    pub stats: Stats,
    pub trace: Vec<String>,
    /// The server's rows when the oracle judged: table -> key -> row.
    pub server: ServerRows,
}

/// App writes made during a round: the write and what it committed.
pub type InflightWrites = Vec<(AppOp, Result<Effect, String>)>;

/// Rows by table and key.
pub type ServerRows = BTreeMap<String, BTreeMap<String, Row>>;

impl Outcome {
    pub fn failed(&self) -> bool {
        self.verdict.failed()
    }
}

/// Runs `plan` in `mode`.
pub async fn run(plan: &Plan, mode: Mode) -> Outcome {
    let mut sim = Sim::new(plan);
    let result = match mode {
        Mode::Fake => sim.fake().await,
        Mode::Gateway => sim.gateway().await,
    };
    if let Err(e) = result {
        sim.verdict.errors.push(format!("{e:#}"));
    }
    sim.finish()
}

/// One run's bookkeeping.
pub(super) struct Sim<'p> {
    pub plan: &'p Plan,
    /// The same plan, for hooks that outlive a borrow.
    pub shared_plan: Arc<Plan>,
    /// App writes made while a round was out, not yet counted.
    pub inflight: Arc<Mutex<InflightWrites>>,
    /// The threads of held writes (`AppOp::Held`) of the round out.
    pub held: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
    pub ledger: Ledger,
    pub stats: Stats,
    pub trace: Vec<String>,
    pub verdict: Verdict,
    server_rows: ServerRows,
    pub(super) held_open: bool,
}

impl<'p> Sim<'p> {
    fn new(plan: &'p Plan) -> Sim<'p> {
        Sim {
            plan,
            shared_plan: Arc::new(plan.clone()),
            inflight: Arc::default(),
            held: Arc::default(),
            ledger: Ledger::new(plan),
            stats: Stats::default(),
            trace: Vec::new(),
            verdict: Verdict::default(),
            server_rows: ServerRows::new(),
            held_open: false,
        }
    }

    pub fn note(&mut self, line: String) {
        self.trace.push(line);
    }

    async fn fake(&mut self) -> Result<()> {
        let fake = FakeRemote::new();
        let mut tills = Vec::new();
        for (i, knobs) in self.plan.tills.iter().enumerate() {
            let server = fake.clone();
            tills.push(Till::create(
                i,
                knobs,
                "http://127.0.0.1:9/rest/v1",
                "fake-key",
                |_| Ok(server),
            )?);
        }
        self.play(&mut tills, &fake).await
    }

    async fn gateway(&mut self) -> Result<()> {
        let db = TestDb::create().await?;
        let gateway = Gateway::start(&db.conn_str()).await?;
        let server = PgBackoffice::connect(&db.conn_str()).await?;
        let root = format!("http://{}/rest/v1", gateway.addr());
        let mut tills = Vec::new();
        for (i, knobs) in self.plan.tills.iter().enumerate() {
            tills.push(Till::create(i, knobs, &root, gateway.key(), |config| {
                Client::new(&config.remote, &config.rate_limit).context("build the client")
            })?);
        }
        let result = self.play(&mut tills, &server).await;
        // Never leave a transaction open behind the database's drop.
        let _ = server.release().await;
        drop(tills);
        drop(gateway);
        drop(db);
        result
    }

    fn finish(mut self) -> Outcome {
        let v = &self.verdict;
        self.stats.seeds = 1;
        self.stats.lost = v.lost.len() as u64;
        self.stats.divergent = v.divergent.len() as u64;
        self.stats.miscounted = v.miscounted.len() as u64;
        self.stats.unlisted = v.unlisted.len() as u64;
        self.stats.errors = v.errors.len() as u64;
        self.stats.held = v.held as u64;
        self.stats.manual = v.manual as u64;
        if v.failed() {
            self.stats.failed.push(self.plan.seed);
        }
        Outcome {
            seed: self.plan.seed,
            plan_steps: self.plan.steps.clone(),
            verdict: self.verdict,
            stats: self.stats,
            trace: self.trace,
            server: self.server_rows,
        }
    }

    /// Setup, steps, convergence, judgement.
    async fn play<R: Remote, B: Backoffice>(
        &mut self,
        tills: &mut [Till<R>],
        server: &B,
    ) -> Result<()> {
        self.seed_server(server).await?;
        for till in tills.iter_mut() {
            server.settle().await?;
            let round = till.round(&[], Vec::new()).await?;
            let report = match round {
                Round::Done(Ok(report)) if report.error.is_none() => report,
                other => bail!("the first sync of till {} failed: {other:?}", till.index),
            };
            self.note(format!(
                "first sync of till {}: {}",
                till.index,
                summary(&report)
            ));
        }
        let plan = self.plan;
        for (i, step) in plan.steps.iter().enumerate() {
            self.stats.op(step.kind());
            let what = self.step(tills, server, step).await?;
            self.note(format!("#{i:<3} {step} -> {what}"));
            for till in tills.iter() {
                for line in till.remote.take_log() {
                    self.note(format!("       till {}: {line}", till.index));
                }
            }
        }
        for till in tills.iter() {
            for (fault, n) in till.remote.counts() {
                *self.stats.faults.entry(fault.name()).or_insert(0) += n;
            }
        }
        self.converge(tills, server).await?;
        for till in tills.iter() {
            for line in till.held_lines()? {
                self.note(format!("held on till {}: {line}", till.index));
            }
        }
        let verdict = oracle::judge(tills, server, &self.ledger).await?;
        self.server_rows = oracle::server_rows(server).await?;
        self.verdict.lost.extend(verdict.lost);
        self.verdict.divergent.extend(verdict.divergent);
        self.verdict.miscounted.extend(verdict.miscounted);
        self.verdict.unlisted.extend(verdict.unlisted);
        self.verdict.errors.extend(verdict.errors);
        self.verdict.held += verdict.held;
        self.verdict.manual += verdict.manual;
        Ok(())
    }

    async fn seed_server<B: Backoffice>(&mut self, server: &B) -> Result<()> {
        for (i, p) in self.plan.products.iter().enumerate() {
            let row = json!({
                "id": p.id, "sku": format!("BEV-{}", short(&p.id)), "name": format!("Item {i}"),
                "category": "beverages", "price_cents": p.price, "sale_price_cents": null,
                "stock": p.stock, "updated_at": NOW,
            });
            server.insert("products", &object(row)).await?;
        }
        for (i, id) in self.plan.customers.iter().enumerate() {
            let row = json!({
                "id": id, "name": format!("Customer {i}"), "phone": null, "email": null,
                "notes": null, "updated_at": NOW,
            });
            server.insert("customers", &object(row)).await?;
        }
        for d in &self.plan.debts {
            let customer = self
                .plan
                .customers
                .get(d.customer)
                .context("a debt of an unknown customer")?;
            let row = json!({
                "id": d.id, "customer_id": customer, "amount_cents": d.amount,
                "amount_paid_cents": d.paid, "status": "open", "note": null, "updated_at": NOW,
            });
            server.insert("debts", &object(row)).await?;
        }
        Ok(())
    }
}

pub(super) fn object(value: Value) -> Row {
    match value {
        Value::Object(map) => map,
        _ => Row::new(),
    }
}
