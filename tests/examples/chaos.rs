//! The long run of the simulation: many seeds against the fake server (or
//! the real gateway), with figures at the end, and a non-zero exit code
//! when any seed fails.
//!
//!   cargo run -p ebb-tests --example chaos -- --seeds 10000
//!   cargo run -p ebb-tests --example chaos -- --seeds 20 --gateway
//!   cargo run -p ebb-tests --example chaos -- --from 4711 --seeds 1 --verbose
//!
//! Options: `--seeds N` (default 1000), `--from SEED` (first seed, default
//! 0), `--tills N` (3), `--ops N` (steps per plan, 60), `--fault-rate P`
//! (chance that a call of a round breaks, 0.08), `--gateway` (real
//! PostgreSQL through `ebb-gateway`; needs scripts/pg-setup.sh),
//! `--threads N` (default: every core; 1 with --gateway), `--shrink N`
//! (failing seeds to shrink, 10; the others print their findings only),
//! `--verbose` (print every seed's trace). A failing seed prints its
//! shortest failing plan, findings and trace.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ebb_tests::sim::{Mode, Shape, Stats, check};

struct Args {
    seeds: u64,
    from: u64,
    shape: Shape,
    mode: Mode,
    threads: usize,
    verbose: bool,
    /// Failing seeds still to shrink.
    shrink: usize,
}

fn parse() -> Result<Args> {
    let mut args = Args {
        seeds: 1000,
        from: 0,
        shape: Shape::default(),
        mode: Mode::Fake,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        verbose: false,
        shrink: 10,
    };
    let mut threads = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--seeds" => args.seeds = value("--seeds")?.parse()?,
            "--from" => args.from = value("--from")?.parse()?,
            "--tills" => args.shape.tills = value("--tills")?.parse()?,
            "--ops" => args.shape.ops = value("--ops")?.parse()?,
            "--fault-rate" => args.shape.fault_rate = value("--fault-rate")?.parse()?,
            "--threads" => threads = Some(value("--threads")?.parse()?),
            "--gateway" => args.mode = Mode::Gateway,
            "--verbose" => args.verbose = true,
            "--shrink" => args.shrink = value("--shrink")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "chaos [--seeds N] [--from SEED] [--tills N] [--ops N] [--fault-rate P] \
                     [--gateway] [--threads N] [--shrink N] [--verbose]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other} (try --help)"),
        }
    }
    if args.shape.tills == 0 {
        bail!("--tills must be at least 1");
    }
    args.threads = threads.unwrap_or(match args.mode {
        Mode::Fake => args.threads,
        Mode::Gateway => 1,
    });
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let shrunk = AtomicUsize::new(0);
    let total = Mutex::new(Stats::default());
    let print = Mutex::new(());
    std::thread::scope(|scope| {
        for _ in 0..args.threads.max(1) {
            scope.spawn(|| {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("chaos: no runtime: {e}");
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.seeds {
                        break;
                    }
                    let seed = args.from + i;
                    let shrink = shrunk.load(Ordering::Relaxed) < args.shrink;
                    let checked = rt.block_on(check(seed, args.shape, args.mode, shrink));
                    if checked.repro.is_some() && shrink {
                        shrunk.fetch_add(1, Ordering::Relaxed);
                    }
                    let _guard = print.lock().unwrap_or_else(|e| e.into_inner());
                    if args.verbose {
                        println!("seed {seed}: {}", checked.outcome.verdict.summary());
                        for line in &checked.outcome.trace {
                            println!("  {line}");
                        }
                    }
                    if let Some(repro) = &checked.repro {
                        println!("{repro}");
                    }
                    let mut t = total.lock().unwrap_or_else(|e| e.into_inner());
                    t.add(&checked.outcome.stats);
                    if t.seeds % 500 == 0 {
                        eprintln!(
                            "{} seeds, {} failed, {:?}",
                            t.seeds,
                            t.failed.len(),
                            started.elapsed()
                        );
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap_or_else(|e| e.into_inner());
    println!("{total}");
    println!("time         {:?} ({:?})", started.elapsed(), args.mode);
    if total.failed.is_empty() && total.seeds == args.seeds {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
