//! Draws a [`Plan`] from a seed: the world (products, customers, debts,
//! each till's batch and page sizes) and the steps, with weights that keep
//! conflicts frequent (four products, three debts, three customers) and a
//! fault script per sync round. Only `rand`'s seeded `StdRng`: the same
//! seed gives the same plan.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::faulty::Fault;
use super::plan::{AppOp, Debt, Plan, Product, ServerOp, Shape, Step, TillKnobs};

/// A uuid-shaped key drawn from `rng`.
pub fn uuid(rng: &mut StdRng) -> String {
    let a: u32 = rng.random();
    let b: u16 = rng.random();
    let c: u16 = rng.random::<u16>() & 0x0fff;
    let d: u16 = (rng.random::<u16>() & 0x3fff) | 0x8000;
    let e: u64 = rng.random::<u64>() & 0xffff_ffff_ffff;
    format!("{a:08x}-{b:04x}-4{c:03x}-{d:04x}-{e:012x}")
}

/// The starting world of `seed` (what [`generate`] starts from too).
pub fn world(seed: u64, tills: usize) -> Plan {
    world_from(&mut StdRng::seed_from_u64(seed), seed, tills)
}

fn world_from(rng: &mut StdRng, seed: u64, tills: usize) -> Plan {
    let tills = (0..tills)
        .map(|_| TillKnobs {
            batch_size: rng.random_range(3..=7),
            pull_page_size: rng.random_range(2..=6),
        })
        .collect();
    let products = (0..4)
        .map(|_| Product {
            id: uuid(rng),
            stock: rng.random_range(20..=60),
            price: rng.random_range(100..=900),
        })
        .collect();
    let customers: Vec<String> = (0..3).map(|_| uuid(rng)).collect();
    let debts = (0..3)
        .map(|i| Debt {
            id: uuid(rng),
            customer: i % 3,
            amount: 100_000,
            paid: rng.random_range(0..=500),
        })
        .collect();
    Plan {
        seed,
        tills,
        products,
        customers,
        debts,
        steps: Vec::new(),
    }
}

/// The plan of `seed`.
pub fn generate(seed: u64, shape: Shape) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut plan = world_from(&mut rng, seed, shape.tills.max(1));
    let tills = plan.tills.len();
    let mut debts: Vec<String> = plan.debts.iter().map(|d| d.id.clone()).collect();
    let mut payments: Vec<String> = Vec::new();
    let mut held = false;
    for _ in 0..shape.ops {
        let till = rng.random_range(0..tills);
        let product = rng.random_range(0..plan.products.len());
        let customer = rng.random_range(0..plan.customers.len());
        let debt = debts[rng.random_range(0..debts.len())].clone();
        let roll = rng.random_range(0..100);
        let sell = |rng: &mut StdRng| Step::App {
            till,
            op: AppOp::Sell {
                product,
                n: rng.random_range(1..=3),
            },
        };
        let step = match roll {
            0..32 => {
                let faults = faults(&mut rng, shape.fault_rate);
                // Sometimes the app writes while a call of the round is out.
                let mut during = Vec::new();
                if rng.random_bool(0.2) {
                    let call = rng.random_range(0..6);
                    let op = if rng.random_bool(0.7) {
                        AppOp::Sell {
                            product,
                            n: rng.random_range(1..=2),
                        }
                    } else {
                        match pay(&mut rng, till, &debt, &mut payments) {
                            Step::App { op, .. } => op,
                            _ => AppOp::Sell { product, n: 1 },
                        }
                    };
                    during.push((call, op));
                }
                Step::Sync {
                    till,
                    faults,
                    during,
                }
            }
            32..48 => sell(&mut rng),
            48..52 => Step::App {
                till,
                op: AppOp::Restock {
                    product,
                    n: rng.random_range(5..=20),
                },
            },
            52..58 if tills > 1 => {
                let other = (till + rng.random_range(1..tills)) % tills;
                Step::Equal {
                    tills: (till, other),
                    product,
                    n: 1,
                }
            }
            52..58 => sell(&mut rng),
            58..70 => pay(&mut rng, till, &debt, &mut payments),
            70..73 => {
                let id = uuid(&mut rng);
                debts.push(id.clone());
                Step::App {
                    till,
                    op: AppOp::OpenDebt {
                        debt: id,
                        customer,
                        amount: 50_000,
                    },
                }
            }
            73..77 => Step::App {
                till,
                op: AppOp::Rename {
                    customer,
                    name: format!("Customer {}", rng.random_range(100..1000)),
                },
            },
            77..80 if !payments.is_empty() => Step::App {
                till,
                op: AppOp::DeletePayment {
                    payment: payments[rng.random_range(0..payments.len())].clone(),
                },
            },
            77..80 => pay(&mut rng, till, &debt, &mut payments),
            80..81 => Step::App {
                till,
                op: AppOp::DeleteDebt { debt },
            },
            81..84 => Step::Server(ServerOp::Price {
                product,
                cents: rng.random_range(100..=900),
            }),
            84..87 => Step::Server(ServerOp::Stock {
                product,
                delta: rng.random_range(-5..=10),
            }),
            87..89 => Step::Server(ServerOp::Paid {
                debt,
                delta: 10 * rng.random_range(1..=10),
            }),
            89..91 => Step::Server(ServerOp::Note {
                customer,
                text: format!("note {}", rng.random_range(0..1000)),
            }),
            91..92 => Step::Server(ServerOp::DeleteDebt { debt }),
            92..96 if held => {
                held = false;
                Step::Server(ServerOp::Release)
            }
            92..96 => {
                held = true;
                Step::Server(ServerOp::Hold {
                    customer: uuid(&mut rng),
                })
            }
            _ => Step::Deliver {
                pick: rng.random_range(0..tills),
            },
        };
        plan.steps.push(step);
    }
    plan
}

/// A payment of `debt` on `till`, remembered for later deletes.
fn pay(rng: &mut StdRng, till: usize, debt: &str, payments: &mut Vec<String>) -> Step {
    let payment = uuid(rng);
    payments.push(payment.clone());
    Step::App {
        till,
        op: AppOp::Pay {
            debt: debt.to_string(),
            payment,
            amount: 100 * rng.random_range(1..=5),
        },
    }
}

/// The fault script of one round: each of its first calls is broken with
/// chance `rate`, by a kind drawn with fixed weights.
fn faults(rng: &mut StdRng, rate: f64) -> Vec<(u32, Fault)> {
    const WEIGHTS: [(Fault, u32); 9] = [
        (Fault::LoseRequest, 3),
        (Fault::LoseAnswer, 5),
        (Fault::Duplicate, 2),
        (Fault::Delay, 2),
        (Fault::DelayedDuplicate, 2),
        (Fault::RateLimited, 2),
        (Fault::Unavailable, 2),
        (Fault::KillBefore, 1),
        (Fault::KillAfter, 2),
    ];
    let total: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut out = Vec::new();
    for call in 0..10u32 {
        if !rng.random_bool(rate.clamp(0.0, 1.0)) {
            continue;
        }
        let mut pick = rng.random_range(0..total);
        for (fault, w) in WEIGHTS {
            if pick < w {
                out.push((call, fault));
                break;
            }
            pick -= w;
        }
    }
    out
}
