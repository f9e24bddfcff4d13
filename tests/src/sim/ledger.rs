//! What the server must end up with, written down as the simulation goes:
//! every counter's start plus each committed delta (app writes on any till,
//! back office SQL), every payment an app inserted, and what anyone
//! deleted (deleted rows are not held to these promises).
//!
//! Fed by `run` with each [`Effect`] and each back office write that found
//! its row; read by `oracle`. Knows nothing of ebb.

use std::collections::{BTreeMap, BTreeSet};

use super::app::Effect;
use super::plan::Plan;
use ebb::model::Row;

/// The expectations.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// products.stock by product id.
    pub stock: BTreeMap<String, i64>,
    /// debts.amount_paid_cents by debt id.
    pub paid: BTreeMap<String, i64>,
    /// Debts somebody deleted (a till or the back office).
    pub deleted_debts: BTreeSet<String>,
    /// Payments an app inserted, as inserted.
    pub payments: BTreeMap<String, Row>,
    /// Payments an app deleted.
    pub deleted_payments: BTreeSet<String>,
}

impl Ledger {
    /// The starting values of `plan`'s rows.
    pub fn new(plan: &Plan) -> Ledger {
        Ledger {
            stock: plan
                .products
                .iter()
                .map(|p| (p.id.clone(), p.stock))
                .collect(),
            paid: plan.debts.iter().map(|d| (d.id.clone(), d.paid)).collect(),
            ..Ledger::default()
        }
    }

    /// Counts an app write that committed.
    pub fn app(&mut self, effect: &Effect) {
        match effect {
            Effect::Skipped(_) | Effect::Renamed => {}
            Effect::Stock { product, delta, .. } => self.stock_delta(product, *delta),
            Effect::Paid { debt, payment } => {
                if let Some(amount) = payment.get("amount_cents").and_then(|v| v.as_i64()) {
                    self.paid_delta(debt, amount);
                }
                if let Some(id) = payment.get("id").and_then(|v| v.as_str()) {
                    self.payments.insert(id.to_string(), payment.clone());
                }
            }
            Effect::Opened { debt } => {
                self.paid.insert(debt.clone(), 0);
            }
            Effect::DeletedPayment { payment } => {
                self.deleted_payments.insert(payment.clone());
            }
            Effect::DeletedDebt { debt } => {
                self.deleted_debts.insert(debt.clone());
            }
        }
    }

    pub fn stock_delta(&mut self, product: &str, delta: i64) {
        *self.stock.entry(product.to_string()).or_insert(0) += delta;
    }

    pub fn paid_delta(&mut self, debt: &str, delta: i64) {
        *self.paid.entry(debt.to_string()).or_insert(0) += delta;
    }

    /// Whether the payment is still owed to the server: inserted by an app
    /// and neither it nor its debt deleted by anyone.
    pub fn payment_stands(&self, id: &str) -> bool {
        let Some(row) = self.payments.get(id) else {
            return false;
        };
        let debt = row.get("debt_id").and_then(|v| v.as_str()).unwrap_or("");
        !self.deleted_payments.contains(id) && !self.deleted_debts.contains(debt)
    }
}
