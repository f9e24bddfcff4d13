//! Named scenarios of issue 6, each a fixed plan run through the whole
//! simulation (real SQLite tills, real engines, convergence, the oracle)
//! against the fake server and against the real gateway:
//!
//! - two tills sell one each of 26 from the same synced base: 24, not 25;
//!   two payments of 100 on a debt paid 200: 400;
//! - a sale whose answer was lost (the server applied it) is counted once,
//!   when another till sells in between, when the back office edits the
//!   product instead, and when the till is killed instead of timing out;
//! - a sale made while the till plans a pulled page that holds the product
//!   (after planning, before applying) is counted, and the page read again.

use ebb_tests::sim::plan::{AppOp, Plan, ServerOp, Step};
use ebb_tests::sim::{Fault, Mode, Outcome, run};
use serde_json::Value;

/// Runs `plan` in `mode` and fails with the findings and the trace.
async fn must_pass(plan: &Plan, mode: Mode) -> Outcome {
    let outcome = run(plan, mode).await;
    assert!(
        !outcome.failed(),
        "{mode:?}: {}\n{}\ntrace:\n{}",
        outcome.verdict.summary(),
        outcome.verdict.lines().join("\n"),
        outcome.trace.join("\n")
    );
    outcome
}

fn column(outcome: &Outcome, table: &str, pk: &str, column: &str) -> Value {
    outcome
        .server
        .get(table)
        .and_then(|rows| rows.get(pk))
        .and_then(|row| row.get(column))
        .cloned()
        .unwrap_or(Value::Null)
}

fn sell(till: usize, n: i64) -> Step {
    Step::App {
        till,
        op: AppOp::Sell { product: 0, n },
    }
}

fn sync(till: usize) -> Step {
    Step::Sync {
        till,
        faults: vec![],
        during: vec![],
    }
}

/// Two tills, product 0 at `stock`, debt 0 paid `paid`.
fn world(stock: i64, paid: i64) -> Plan {
    let mut plan = Plan::empty(6, 2);
    plan.products[0].stock = stock;
    plan.debts[0].paid = paid;
    plan
}

/// Both modes of one scenario.
macro_rules! scenario {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn fake() {
                super::$name(ebb_tests::sim::Mode::Fake).await;
            }

            #[tokio::test]
            async fn gateway() {
                super::$name(ebb_tests::sim::Mode::Gateway).await;
            }
        }
    )*};
}

scenario!(
    equal_edits_from_the_same_base_both_count,
    a_lost_answer_is_counted_once,
    a_lost_answer_is_counted_once_around_a_back_office_edit,
    a_till_killed_after_the_server_applied_counts_once,
    a_page_edited_between_planning_and_applying_is_read_again,
);

async fn equal_edits_from_the_same_base_both_count(mode: Mode) {
    let mut plan = world(26, 200);
    let debt = plan.debts[0].id.clone();
    let pay = |till: usize, payment: &str| Step::App {
        till,
        op: AppOp::Pay {
            debt: debt.clone(),
            payment: payment.to_string(),
            amount: 100,
        },
    };
    plan.steps = vec![
        sell(0, 1),
        sell(1, 1),
        pay(0, "00000000-0000-4000-8000-0000000000a1"),
        pay(1, "00000000-0000-4000-8000-0000000000b1"),
        sync(0),
        sync(1),
    ];
    let outcome = must_pass(&plan, mode).await;
    let product = plan.products[0].id.clone();
    assert_eq!(column(&outcome, "products", &product, "stock"), 24);
    assert_eq!(column(&outcome, "debts", &debt, "amount_paid_cents"), 400);
}

/// Till 0 sells 2 (applied, answer lost), sells 1 more; `between` happens;
/// till 0 syncs again.
fn lost_answer(fault: Fault, between: Vec<Step>) -> Plan {
    let mut plan = world(40, 0);
    plan.steps = vec![
        sell(0, 2),
        Step::Sync {
            till: 0,
            faults: vec![(0, fault)],
            during: vec![],
        },
        sell(0, 1),
    ];
    plan.steps.extend(between);
    plan.steps.push(sync(0));
    plan
}

async fn a_lost_answer_is_counted_once(mode: Mode) {
    let plan = lost_answer(Fault::LoseAnswer, vec![sell(1, 3), sync(1)]);
    let outcome = must_pass(&plan, mode).await;
    assert_eq!(
        column(&outcome, "products", &plan.products[0].id, "stock"),
        40 - 6
    );
}

async fn a_lost_answer_is_counted_once_around_a_back_office_edit(mode: Mode) {
    let price = Step::Server(ServerOp::Price {
        product: 0,
        cents: 999,
    });
    let plan = lost_answer(Fault::LoseAnswer, vec![price]);
    let outcome = must_pass(&plan, mode).await;
    let id = &plan.products[0].id;
    assert_eq!(column(&outcome, "products", id, "stock"), 40 - 3);
    assert_eq!(column(&outcome, "products", id, "price_cents"), 999);
}

async fn a_till_killed_after_the_server_applied_counts_once(mode: Mode) {
    let plan = lost_answer(Fault::KillAfter, vec![sell(1, 3), sync(1)]);
    let outcome = must_pass(&plan, mode).await;
    assert_eq!(outcome.stats.kills, 1);
    assert_eq!(
        column(&outcome, "products", &plan.products[0].id, "stock"),
        40 - 6
    );
}

/// The back office changes product 0's price; till 0 pulls it, and the
/// app sells one while the page is planned (the app holds its write lock
/// from the pull's start and sells a second later; the till waits for it to
/// apply). The apply finds the sale queued since the plan, nothing is
/// written, the page is read again and merged with the sale.
async fn a_page_edited_between_planning_and_applying_is_read_again(mode: Mode) {
    let mut plan = world(40, 0);
    plan.steps = vec![
        sync(0),
        Step::Server(ServerOp::Price {
            product: 0,
            cents: 999,
        }),
        Step::Sync {
            till: 0,
            faults: vec![],
            // Call 0: the pull of products, the round's first call.
            during: vec![(0, AppOp::Held(Box::new(AppOp::Sell { product: 0, n: 1 })))],
        },
        sync(0),
    ];
    let outcome = must_pass(&plan, mode).await;
    let id = &plan.products[0].id;
    assert_eq!(column(&outcome, "products", id, "stock"), 40 - 1);
    assert_eq!(column(&outcome, "products", id, "price_cents"), 999);
    assert!(
        outcome.trace.iter().any(|l| l.contains("replanned 1")),
        "the page was not read again:\n{}",
        outcome.trace.join("\n")
    );
}
