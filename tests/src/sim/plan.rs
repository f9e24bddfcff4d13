//! What a simulation does, decided up front from a seed: the starting rows
//! and a list of steps (app writes on tills, back office SQL, sync rounds
//! with their scripted faults, delayed requests delivered).
//!
//! Pure values; `generate` draws them, `show` prints them, `run` runs
//! them. A plan is a complete reproduction: a prefix of its steps is a smaller plan (what
//! `shrink` bisects), and a step names everything it touches, so removing
//! one leaves the others' meaning intact. Keys are uuids drawn from the
//! seed, so the same seed gives the same plan.

use super::faulty::Fault;

/// How big a plan is and how often faults strike.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub tills: usize,
    /// Steps after the initial sync.
    pub ops: usize,
    /// Chance that one remote call of a round is broken.
    pub fault_rate: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            tills: 3,
            ops: 60,
            fault_rate: 0.08,
        }
    }
}

/// A product the server starts with.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub stock: i64,
    pub price: i64,
}

/// A debt the server starts with.
#[derive(Debug, Clone)]
pub struct Debt {
    pub id: String,
    pub customer: usize,
    pub amount: i64,
    pub paid: i64,
}

/// A till's knobs (drawn per till).
#[derive(Debug, Clone, Copy)]
pub struct TillKnobs {
    pub batch_size: usize,
    pub pull_page_size: usize,
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub tills: Vec<TillKnobs>,
    pub products: Vec<Product>,
    pub customers: Vec<String>,
    pub debts: Vec<Debt>,
    pub steps: Vec<Step>,
}

/// One thing that happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The app on `till` writes.
    App { till: usize, op: AppOp },
    /// Two tills each sell `n` of the same product, from the same synced
    /// base if neither synced since (an equal concurrent edit).
    Equal {
        tills: (usize, usize),
        product: usize,
        n: i64,
    },
    /// SQL made directly on the server.
    Server(ServerOp),
    /// One sync round on `till`; call `i` of the round gets fault `f`, and
    /// the app on `till` makes write `op` while call `i` is in flight.
    Sync {
        till: usize,
        faults: Vec<(u32, Fault)>,
        during: Vec<(u32, AppOp)>,
    },
    /// A request held in the network reaches the server (the `pick`-th
    /// till that holds one, counted round-robin).
    Deliver { pick: usize },
}

/// A write of the app, through its own connection.
#[derive(Debug, Clone, PartialEq)]
pub enum AppOp {
    /// `UPDATE products SET stock = stock - n`
    Sell { product: usize, n: i64 },
    /// `UPDATE products SET stock = stock + n`
    Restock { product: usize, n: i64 },
    /// A `debt_payments` row and `amount_paid_cents + amount` on its debt,
    /// in one transaction.
    Pay {
        debt: String,
        payment: String,
        amount: i64,
    },
    /// A new debt of a customer.
    OpenDebt {
        debt: String,
        customer: usize,
        amount: i64,
    },
    /// `UPDATE customers SET name = ...`
    Rename { customer: usize, name: String },
    /// `DELETE FROM debt_payments WHERE id = ...`
    DeletePayment { payment: String },
    /// `DELETE FROM debts WHERE id = ...` (its payments cascade).
    DeleteDebt { debt: String },
    /// The write `op` made while a round's call is out, with the app's
    /// write lock taken as the call starts and the write committed a
    /// moment later: the till plans the call's answer meanwhile, and waits
    /// for the lock to apply it (a row edited between planning and
    /// applying). Made at once outside a round.
    Held(Box<AppOp>),
}

/// Back office SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerOp {
    /// `UPDATE products SET price_cents = ...`
    Price { product: usize, cents: i64 },
    /// `UPDATE products SET stock = stock + delta`
    Stock { product: usize, delta: i64 },
    /// `UPDATE debts SET amount_paid_cents = amount_paid_cents + delta`
    Paid { debt: String, delta: i64 },
    /// `UPDATE customers SET notes = ...`
    Note { customer: usize, text: String },
    /// `DELETE FROM debts` (payments cascade, tombstones for all).
    DeleteDebt { debt: String },
    /// A transaction inserting a customer that stays open (holding the
    /// pull horizon) until `Release`.
    Hold { customer: String },
    /// Commits the held transaction.
    Release,
}

impl Step {
    /// A short fixed name of the step's kind (figures).
    pub fn kind(&self) -> &'static str {
        match self {
            Step::App { op, .. } => match op {
                AppOp::Sell { .. } => "sell",
                AppOp::Restock { .. } => "restock",
                AppOp::Pay { .. } => "pay",
                AppOp::OpenDebt { .. } => "open-debt",
                AppOp::Rename { .. } => "rename",
                AppOp::DeletePayment { .. } => "delete-payment",
                AppOp::DeleteDebt { .. } => "delete-debt",
                AppOp::Held(_) => "held-write",
            },
            Step::Equal { .. } => "equal-sell",
            Step::Server(op) => match op {
                ServerOp::Price { .. } => "server-price",
                ServerOp::Stock { .. } => "server-stock",
                ServerOp::Paid { .. } => "server-paid",
                ServerOp::Note { .. } => "server-note",
                ServerOp::DeleteDebt { .. } => "server-delete-debt",
                ServerOp::Hold { .. } => "server-hold",
                ServerOp::Release => "server-release",
            },
            Step::Sync { .. } => "sync",
            Step::Deliver { .. } => "deliver",
        }
    }
}

impl Plan {
    /// This plan with only its first `n` steps.
    pub fn prefix(&self, n: usize) -> Plan {
        let mut p = self.clone();
        p.steps.truncate(n);
        p
    }

    /// A plan with no steps and the starting rows of `seed`'s world, for
    /// hand-written scenarios.
    pub fn empty(seed: u64, tills: usize) -> Plan {
        super::generate::world(seed, tills)
    }
}
