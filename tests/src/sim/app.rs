//! The example app's writes, made on a till's own SQLite connection the way
//! the point-of-sale would make them (plain SQL, foreign keys on, no ebb
//! involved), and what each committed: the [`Effect`] the oracle counts.
//!
//! A write whose row is not on the till (not pulled yet, deleted) changes
//! nothing and says so; it is not an error.

use anyhow::Result;
use rusqlite::{Connection, params};
use serde_json::json;

use super::plan::{AppOp, Plan};
use ebb::model::Row;

/// The app's clock is not ebb's business: every row carries the same time.
pub const NOW: &str = "2025-01-31T14:05:00Z";

/// What a committed app write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Nothing committed (the row is not on this till).
    Skipped(&'static str),
    /// `stock` of a product moved by `delta`, to `now`.
    Stock {
        product: String,
        delta: i64,
        now: i64,
    },
    /// A payment row was inserted and its debt's `amount_paid_cents`
    /// moved by its amount.
    Paid { debt: String, payment: Row },
    /// A new debt (paid 0).
    Opened { debt: String },
    /// A customer renamed.
    Renamed,
    /// A payment deleted.
    DeletedPayment { payment: String },
    /// A debt deleted, its payments with it (ON DELETE CASCADE).
    DeletedDebt { debt: String },
}

/// Runs `op` on the app connection `app`.
pub fn write(app: &Connection, plan: &Plan, op: &AppOp) -> Result<Effect> {
    Ok(match op {
        AppOp::Sell { product, n } => stock(app, plan, *product, -n)?,
        AppOp::Held(op) => write(app, plan, op)?,
        AppOp::Restock { product, n } => stock(app, plan, *product, *n)?,
        AppOp::Pay {
            debt,
            payment,
            amount,
        } => pay(app, debt, payment, *amount)?,
        AppOp::OpenDebt {
            debt,
            customer,
            amount,
        } => {
            let Some(customer) = plan.customers.get(*customer) else {
                return Ok(Effect::Skipped("no such customer"));
            };
            let n = app.execute(
                "INSERT INTO debts (id, customer_id, amount_cents, amount_paid_cents, status, note, updated_at)
                 SELECT ?1, ?2, ?3, 0, 'open', NULL, ?4
                 WHERE EXISTS (SELECT 1 FROM customers WHERE id = ?2)",
                params![debt, customer, amount, NOW],
            )?;
            if n == 1 {
                Effect::Opened { debt: debt.clone() }
            } else {
                Effect::Skipped("customer not on this till")
            }
        }
        AppOp::Rename { customer, name } => {
            let Some(customer) = plan.customers.get(*customer) else {
                return Ok(Effect::Skipped("no such customer"));
            };
            let n = app.execute(
                "UPDATE customers SET name = ?1, updated_at = ?2 WHERE id = ?3",
                params![name, NOW, customer],
            )?;
            if n == 1 {
                Effect::Renamed
            } else {
                Effect::Skipped("customer not on this till")
            }
        }
        AppOp::DeletePayment { payment } => {
            let n = app.execute("DELETE FROM debt_payments WHERE id = ?1", [payment])?;
            if n == 1 {
                Effect::DeletedPayment {
                    payment: payment.clone(),
                }
            } else {
                Effect::Skipped("payment not on this till")
            }
        }
        AppOp::DeleteDebt { debt } => {
            let n = app.execute("DELETE FROM debts WHERE id = ?1", [debt])?;
            if n == 1 {
                Effect::DeletedDebt { debt: debt.clone() }
            } else {
                Effect::Skipped("debt not on this till")
            }
        }
    })
}

fn stock(app: &Connection, plan: &Plan, product: usize, delta: i64) -> Result<Effect> {
    let Some(p) = plan.products.get(product) else {
        return Ok(Effect::Skipped("no such product"));
    };
    let n = app.execute(
        "UPDATE products SET stock = stock + ?1 WHERE id = ?2",
        params![delta, p.id],
    )?;
    if n != 1 {
        return Ok(Effect::Skipped("product not on this till"));
    }
    let now = app.query_row("SELECT stock FROM products WHERE id = ?1", [&p.id], |r| {
        r.get(0)
    })?;
    Ok(Effect::Stock {
        product: p.id.clone(),
        delta,
        now,
    })
}

/// The payment and the debt's paid amount, in one transaction.
fn pay(app: &Connection, debt: &str, payment: &str, amount: i64) -> Result<Effect> {
    let tx = app.unchecked_transaction()?;
    let paid = tx.execute(
        "UPDATE debts SET amount_paid_cents = amount_paid_cents + ?1, updated_at = ?2 WHERE id = ?3",
        params![amount, NOW, debt],
    )?;
    if paid != 1 {
        return Ok(Effect::Skipped("debt not on this till"));
    }
    tx.execute(
        "INSERT INTO debt_payments (id, debt_id, amount_cents, paid_at) VALUES (?1, ?2, ?3, ?4)",
        params![payment, debt, amount, NOW],
    )?;
    tx.commit()?;
    let row = json!({"id": payment, "debt_id": debt, "amount_cents": amount, "paid_at": NOW});
    Ok(Effect::Paid {
        debt: debt.to_string(),
        payment: row.as_object().cloned().unwrap_or_default(),
    })
}
