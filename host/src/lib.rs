//! ebb keeps an application's local SQLite database in two-way sync with a
//! cloud Postgres reached through PostgREST (Supabase's REST API), with
//! per-table validation and conflict policies as sandboxed WebAssembly.
//!
//! # Layout
//!
//! One folder per concern:
//!
//! - [`config`]: policies.toml, raw then validated.
//! - [`model`]: the values that cross boundaries (changes, results, pages).
//! - [`local`]: the app's SQLite file: capture triggers, queue, apply, state.
//! - [`remote`]: the [`remote::Remote`] trait, the PostgREST transport and
//!   the SQL that installs ebb on the server.
//! - [`policy`]: the wasmtime sandbox, built-in strategies, JSON Schema checks.
//! - [`sync`]: push, pull, conflicts, retries, the round driver.
//! - [`ops`]: status, health, metrics, progress, and the daemon loop of
//!   `ebb run` with its local API, live events and web console.
//! - [`cli`]: the `ebb` command.
//!
//! The server side for shops without Supabase, `ebb-gateway`, is its own
//! crate (gateway/): a till carries no Postgres client.
//!
//! Data flows one way:
//! local queue -> validate -> batch -> remote push -> results -> local state;
//! remote pull -> conflict check -> policy -> local apply.
//! `sync` is the only module that sees both sides; it imports neither
//! rusqlite, reqwest nor wasmtime.

pub mod cli;
pub mod config;
pub mod local;
pub mod model;
pub mod ops;
pub mod policy;
pub mod remote;
pub mod sync;
