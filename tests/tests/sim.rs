//! The simulation suite of issue 6, "exact under every fault: counters
//! never drift" (the machinery is `ebb_tests::sim`):
//!
//! - `contract`: the `ebb_push` / `ebb_pull` contract, each case against
//!   the fake server and against the real gateway on PostgreSQL;
//! - `scenarios`: named plans (equal edits, lost answers) on both;
//! - `seeds`: 200 random plans on the fake, a few on the gateway.
//!
//! The gateway halves need PostgreSQL as `host=/var/run/postgresql
//! user=postgres` (or `EBB_TEST_PG`; scripts/pg-setup.sh starts one).

#[path = "sim/contract.rs"]
mod contract;
#[path = "sim/scenarios.rs"]
mod scenarios;
#[path = "sim/seeds.rs"]
mod seeds;
