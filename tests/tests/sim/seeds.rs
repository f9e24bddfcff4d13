//! Random plans: 200 fixed seeds against the fake server (deterministic,
//! run on every core), and a handful against the real gateway on real
//! PostgreSQL (the same scheduler over the real client). The first few
//! failing seeds print their shortest failing plan and its trace, the
//! others their findings.
//!
//! `EBB_SEED=<n>` runs that one seed only; `EBB_SIM_SEEDS=<n>` changes
//! how many fixed seeds run (tests/examples/chaos.rs runs thousands).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ebb_tests::sim::{Checked, Mode, Shape, Stats, check};

/// The seeds to run: `EBB_SEED` alone, else `0..count`.
fn seeds(count: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("EBB_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let count = std::env::var("EBB_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(count);
    (0..count).collect()
}

/// Failing seeds shrunk per test (the rest are listed with their findings).
const SHRINK: usize = 3;

/// Runs `seeds` on `threads` threads, each with its own runtime.
fn run_all(seeds: &[u64], shape: Shape, mode: Mode, threads: usize) -> (Stats, Vec<Checked>) {
    let next = AtomicU64::new(0);
    let shrunk = AtomicUsize::new(0);
    let results = Mutex::new((Stats::default(), Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(&seed) = seeds.get(i) else { break };
                    let shrink = shrunk.load(Ordering::Relaxed) < SHRINK;
                    let checked = rt.block_on(check(seed, shape, mode, shrink));
                    if checked.repro.is_some() && shrink {
                        shrunk.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    r.0.add(&checked.outcome.stats);
                    if checked.repro.is_some() {
                        r.1.push(checked);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn verdict(stats: &Stats, failed: &[Checked]) {
    eprintln!("{stats}");
    for c in failed.iter().take(SHRINK) {
        eprintln!("{}", c.repro.as_deref().unwrap_or_default());
    }
    for c in failed.iter().skip(SHRINK) {
        eprintln!(
            "seed {} failed: {}",
            c.outcome.seed,
            c.outcome.verdict.summary()
        );
    }
    let seeds: Vec<u64> = failed.iter().map(|c| c.outcome.seed).collect();
    assert!(failed.is_empty(), "failing seeds: {seeds:?}");
}

#[test]
fn two_hundred_seeds_on_the_fake() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = std::time::Instant::now();
    // 40 steps a plan keeps 200 seeds near 25 s of a debug build on two
    // cores; tests/examples/chaos.rs runs longer plans.
    let shape = Shape {
        ops: 40,
        ..Shape::default()
    };
    let (stats, failed) = run_all(&seeds(200), shape, Mode::Fake, threads);
    eprintln!("{} seeds in {:?}", stats.seeds, started.elapsed());
    verdict(&stats, &failed);
}

#[test]
fn a_few_seeds_on_the_gateway() {
    let (stats, failed) = run_all(&seeds(8), Shape::default(), Mode::Gateway, 1);
    verdict(&stats, &failed);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_trace() {
    for seed in [3, 17, 4711] {
        let plan = ebb_tests::sim::generate(seed, Shape::default());
        let first = ebb_tests::sim::run(&plan, Mode::Fake).await;
        let second = ebb_tests::sim::run(&plan, Mode::Fake).await;
        assert_eq!(first.trace, second.trace, "seed {seed}");
        assert_eq!(first.stats.faults, second.stats.faults, "seed {seed}");
    }
}
