//! A failing seed made small: the shortest prefix of its plan that still
//! fails (found by bisection; each try is a whole run with convergence),
//! then, on the fake server, without every step it does not need; and the
//! reproduction printed from it: the seed and how to replay it, the steps
//! kept, the oracle's findings and the trace of the short run.

use std::fmt::Write as _;

use super::generate::generate;
use super::plan::{Plan, Shape};
use super::run::{Mode, Outcome, run};

/// A seed's run, and its reproduction when it failed.
#[derive(Debug, Clone)]
pub struct Checked {
    pub outcome: Outcome,
    /// The shortest failing prefix's report (`None`: the seed passed).
    pub repro: Option<String>,
}

/// Generates the plan of `seed`, runs it, and if it fails, shrinks it
/// (when `shrink`: each try is a whole run, so a suite that finds many
/// failing seeds shrinks only the first few) and writes the reproduction.
pub async fn check(seed: u64, shape: Shape, mode: Mode, shrink: bool) -> Checked {
    let plan = generate(seed, shape);
    let outcome = run(&plan, mode).await;
    if !outcome.failed() {
        return Checked {
            outcome,
            repro: None,
        };
    }
    let repro = if shrink {
        let mut short = shortest_failing_prefix(&plan, mode, &outcome).await;
        if mode == Mode::Fake {
            short = without_needless_steps(&plan, short).await;
        }
        reproduction(&plan, shape, mode, &outcome, Some(&short))
    } else {
        reproduction(&plan, shape, mode, &outcome, None)
    };
    Checked {
        outcome,
        repro: Some(repro),
    }
}

/// The run of the shortest prefix of `plan` that still fails (`full` is
/// the failing run of the whole plan). Assumes that once a prefix fails,
/// longer ones do too; the answer fails either way.
pub async fn shortest_failing_prefix(plan: &Plan, mode: Mode, full: &Outcome) -> Outcome {
    let empty = run(&plan.prefix(0), mode).await;
    if empty.failed() {
        return empty;
    }
    let (mut lo, mut hi) = (0, plan.steps.len());
    let mut best = full.clone();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let tried = run(&plan.prefix(mid), mode).await;
        if tried.failed() {
            hi = mid;
            best = tried;
        } else {
            lo = mid;
        }
    }
    best
}

/// Drops the steps of `short`'s plan one at a time, last first, keeping
/// each removal after which the run still fails (every step names what it
/// touches and carries its own faults, so the others keep their meaning).
/// One run per step: for the fake server only.
pub async fn without_needless_steps(plan: &Plan, short: Outcome) -> Outcome {
    let mut best = short;
    let mut steps = best.plan_steps.clone();
    let mut i = steps.len();
    while i > 0 {
        i -= 1;
        let mut fewer = steps.clone();
        fewer.remove(i);
        let mut tried_plan = plan.clone();
        tried_plan.steps = fewer.clone();
        let tried = run(&tried_plan, Mode::Fake).await;
        if tried.failed() {
            steps = fewer;
            best = tried;
        }
    }
    best
}

/// The text printed for a failing seed: how to replay it, and the short
/// run's steps, findings and trace (`None`: not shrunk, the whole run's
/// findings only).
pub fn reproduction(
    plan: &Plan,
    shape: Shape,
    mode: Mode,
    full: &Outcome,
    short: Option<&Outcome>,
) -> String {
    let mut out = String::new();
    let gateway = if mode == Mode::Gateway {
        " --gateway"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "seed {} failed ({:?}, {} tills, {} steps): {}",
        plan.seed,
        mode,
        plan.tills.len(),
        plan.steps.len(),
        full.verdict.summary()
    );
    let _ = writeln!(
        out,
        "replay: cargo run -p ebb-tests --example chaos -- --from {} --seeds 1 --tills {} --ops {} --fault-rate {}{gateway} --verbose",
        plan.seed, shape.tills, shape.ops, shape.fault_rate
    );
    let Some(short) = short else {
        for line in full.verdict.lines() {
            let _ = writeln!(out, "  {line}");
        }
        return out;
    };
    let _ = writeln!(
        out,
        "shortest failing plan: {} of {} steps ({})",
        short.plan_steps.len(),
        plan.steps.len(),
        short.verdict.summary()
    );
    let _ = writeln!(out, "steps kept:");
    for step in &short.plan_steps {
        let _ = writeln!(out, "  {step}");
    }
    let _ = writeln!(out, "findings of the short run:");
    for line in short.verdict.lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "trace of the short run:");
    for line in &short.trace {
        let _ = writeln!(out, "  {line}");
    }
    out
}
