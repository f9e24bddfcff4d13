//! The figures of one or many runs: operations by kind, faults by kind,
//! sync rounds, kills, and what the oracle found, summed over seeds and
//! printed by tests/examples/chaos.rs. Plain counters; no I/O.

use std::collections::BTreeMap;
use std::fmt;

/// Counters, added up over runs.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub seeds: u64,
    /// Seeds whose verdict failed.
    pub failed: Vec<u64>,
    /// Steps run, by kind.
    pub ops: BTreeMap<&'static str, u64>,
    /// App writes that found no row on their till.
    pub skipped: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    pub syncs: u64,
    /// Rounds that ended with an error (injected faults, mostly).
    pub round_errors: u64,
    pub kills: u64,
    /// Held requests that reached the server late.
    pub delivered: u64,
    /// Rounds run to converge (faults off).
    pub converge_rounds: u64,
    pub lost: u64,
    pub divergent: u64,
    pub miscounted: u64,
    pub unlisted: u64,
    pub errors: u64,
    /// Rows held back and listed; open manual conflicts.
    pub held: u64,
    pub manual: u64,
}

fn add_map(into: &mut BTreeMap<&'static str, u64>, from: &BTreeMap<&'static str, u64>) {
    for (k, n) in from {
        *into.entry(k).or_insert(0) += n;
    }
}

impl Stats {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Stats) {
        self.seeds += other.seeds;
        self.failed.extend(&other.failed);
        add_map(&mut self.ops, &other.ops);
        self.skipped += other.skipped;
        add_map(&mut self.faults, &other.faults);
        self.syncs += other.syncs;
        self.round_errors += other.round_errors;
        self.kills += other.kills;
        self.delivered += other.delivered;
        self.converge_rounds += other.converge_rounds;
        self.lost += other.lost;
        self.divergent += other.divergent;
        self.miscounted += other.miscounted;
        self.unlisted += other.unlisted;
        self.errors += other.errors;
        self.held += other.held;
        self.manual += other.manual;
    }

    pub fn op(&mut self, kind: &'static str) {
        *self.ops.entry(kind).or_insert(0) += 1;
    }
}

fn line(f: &mut fmt::Formatter<'_>, title: &str, map: &BTreeMap<&'static str, u64>) -> fmt::Result {
    let total: u64 = map.values().sum();
    let parts: Vec<String> = map.iter().map(|(k, n)| format!("{k} {n}")).collect();
    writeln!(f, "{title:<12} {total} ({})", parts.join(", "))
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seeds        {} ({} failed)",
            self.seeds,
            self.failed.len()
        )?;
        line(f, "operations", &self.ops)?;
        writeln!(
            f,
            "skipped      {} (app writes whose row was not on the till)",
            self.skipped
        )?;
        line(f, "faults", &self.faults)?;
        writeln!(
            f,
            "syncs        {} ({} ended with an error), {} more to converge",
            self.syncs, self.round_errors, self.converge_rounds
        )?;
        writeln!(f, "kills        {}", self.kills)?;
        writeln!(f, "delivered    {} (delayed requests)", self.delivered)?;
        writeln!(
            f,
            "held         {} rows listed, {} manual conflicts",
            self.held, self.manual
        )?;
        writeln!(
            f,
            "lost {} / divergent {} / miscounted {} / unlisted {} / errors {}",
            self.lost, self.divergent, self.miscounted, self.unlisted, self.errors
        )?;
        if !self.failed.is_empty() {
            let shown: Vec<String> = self.failed.iter().take(20).map(u64::to_string).collect();
            writeln!(f, "failed seeds {}", shown.join(" "))?;
        }
        Ok(())
    }
}
