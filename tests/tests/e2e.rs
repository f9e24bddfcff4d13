//! ebb's end-to-end suite: one binary, one module per guarantee, each test
//! on its own fresh PostgreSQL database with the real gateway, the real
//! PostgREST client, real SQLite files and the real sync engine.
//!
//! Needs PostgreSQL reachable as `host=/var/run/postgresql user=postgres`
//! (or `EBB_TEST_PG`). Randomized tests print `EBB_SEED=...` to replay.

#[path = "e2e/adaptive_batch.rs"]
mod adaptive_batch;
#[path = "e2e/api_daemon.rs"]
mod api_daemon;
#[path = "e2e/app_triggers.rs"]
mod app_triggers;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/cascade.rs"]
mod cascade;
#[path = "e2e/cloned_device.rs"]
mod cloned_device;
#[path = "e2e/common.rs"]
mod common;
#[path = "e2e/conflicts.rs"]
mod conflicts;
#[path = "e2e/counters.rs"]
mod counters;
#[path = "e2e/dated_day.rs"]
mod dated_day;
#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/hot_reload.rs"]
mod hot_reload;
#[path = "e2e/idempotent_push.rs"]
mod idempotent_push;
#[path = "e2e/inflight_edit.rs"]
mod inflight_edit;
#[path = "e2e/integer_keys.rs"]
mod integer_keys;
#[path = "e2e/key_collision.rs"]
mod key_collision;
#[path = "e2e/lossless_pull.rs"]
mod lossless_pull;
#[path = "e2e/metrics_served.rs"]
mod metrics_served;
#[path = "e2e/migration.rs"]
mod migration;
#[path = "e2e/money_day.rs"]
mod money_day;
#[path = "e2e/no_echo.rs"]
mod no_echo;
#[path = "e2e/one_request.rs"]
mod one_request;
#[path = "e2e/plugins.rs"]
mod plugins;
#[path = "e2e/pos_random.rs"]
mod pos_random;
#[path = "e2e/price_change.rs"]
mod price_change;
#[path = "e2e/replace_import.rs"]
mod replace_import;
#[path = "e2e/replay.rs"]
mod replay;
#[path = "e2e/reused_ids.rs"]
mod reused_ids;
#[path = "e2e/rls_tombstones.rs"]
mod rls_tombstones;
#[path = "e2e/sandbox_in_sync.rs"]
mod sandbox_in_sync;
#[path = "e2e/server_config.rs"]
mod server_config;
#[path = "e2e/server_delete.rs"]
mod server_delete;
#[path = "e2e/server_rewrites.rs"]
mod server_rewrites;
#[path = "e2e/sync_lock.rs"]
mod sync_lock;
#[path = "e2e/two_way.rs"]
mod two_way;
