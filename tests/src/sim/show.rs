//! How steps and app effects read in a trace: one short line each, keys
//! cut to their first eight characters (enough to tell rows apart in one
//! run). Display impls only.

use std::fmt;

use super::app::Effect;
use super::plan::{AppOp, ServerOp, Step};

/// The first eight characters of a key.
pub fn short(key: &str) -> &str {
    key.get(..8).unwrap_or(key)
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::App { till, op } => write!(f, "till {till}: {op}"),
            Step::Equal {
                tills: (a, b),
                product,
                n,
            } => write!(f, "tills {a} and {b} each sell {n} of product {product}"),
            Step::Server(op) => write!(f, "back office: {op}"),
            Step::Sync {
                till,
                faults,
                during,
            } => {
                write!(f, "sync till {till}")?;
                let shown: Vec<String> = faults
                    .iter()
                    .map(|(i, fault)| format!("call {i}: {}", fault.name()))
                    .chain(
                        during
                            .iter()
                            .map(|(i, op)| format!("during call {i}: {op}")),
                    )
                    .collect();
                if !shown.is_empty() {
                    write!(f, " [{}]", shown.join(", "))?;
                }
                Ok(())
            }
            Step::Deliver { pick } => write!(f, "a held request arrives (pick {pick})"),
        }
    }
}

impl fmt::Display for AppOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppOp::Sell { product, n } => write!(f, "sell {n} of product {product}"),
            AppOp::Restock { product, n } => write!(f, "restock {n} of product {product}"),
            AppOp::Pay {
                debt,
                payment,
                amount,
            } => write!(
                f,
                "pay {amount} on debt {} (payment {})",
                short(debt),
                short(payment)
            ),
            AppOp::OpenDebt {
                debt,
                customer,
                amount,
            } => write!(
                f,
                "open debt {} of {amount} for customer {customer}",
                short(debt)
            ),
            AppOp::Rename { customer, name } => write!(f, "rename customer {customer} {name:?}"),
            AppOp::DeletePayment { payment } => write!(f, "delete payment {}", short(payment)),
            AppOp::DeleteDebt { debt } => write!(f, "delete debt {}", short(debt)),
            AppOp::Held(op) => write!(f, "{op}, the write lock held a moment"),
        }
    }
}

impl fmt::Display for ServerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerOp::Price { product, cents } => {
                write!(f, "price of product {product} = {cents}")
            }
            ServerOp::Stock { product, delta } => {
                write!(f, "stock of product {product} {delta:+}")
            }
            ServerOp::Paid { debt, delta } => write!(f, "debt {} paid {delta:+}", short(debt)),
            ServerOp::Note { customer, text } => write!(f, "note on customer {customer} {text:?}"),
            ServerOp::DeleteDebt { debt } => write!(f, "delete debt {}", short(debt)),
            ServerOp::Hold { customer } => write!(
                f,
                "open a transaction inserting customer {} (held)",
                short(customer)
            ),
            ServerOp::Release => write!(f, "commit the held transaction"),
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Skipped(why) => write!(f, "skipped: {why}"),
            Effect::Stock {
                product,
                delta,
                now,
            } => write!(f, "stock of {} {delta:+}, now {now}", short(product)),
            Effect::Paid { debt, payment } => {
                let amount = payment.get("amount_cents").cloned().unwrap_or_default();
                write!(f, "paid {amount} on debt {}", short(debt))
            }
            Effect::Opened { debt } => write!(f, "debt {} opened", short(debt)),
            Effect::Renamed => write!(f, "renamed"),
            Effect::DeletedPayment { payment } => {
                write!(f, "payment {} deleted", short(payment))
            }
            Effect::DeletedDebt { debt } => {
                write!(f, "debt {} deleted with its payments", short(debt))
            }
        }
    }
}
