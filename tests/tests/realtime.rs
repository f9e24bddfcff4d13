//! Event-driven pull, end to end: the gateway's Realtime endpoint fed by
//! the server's triggers, ebb's listener on the till side, and Supabase's
//! own client (`@supabase/realtime-js`, run by node) against the gateway.
//! Each test has its own fresh PostgreSQL database and gateway.
//!
//! Tests assert that a nudge arrives, never how fast: the generous waits
//! only turn a hang into a failure.

#[path = "realtime/common.rs"]
mod common;
#[path = "realtime/garbage.rs"]
mod garbage;
#[path = "realtime/nudges.rs"]
mod nudges;
#[path = "realtime/reconnect.rs"]
mod reconnect;
#[path = "realtime/supabase_js.rs"]
mod supabase_js;
#[path = "realtime/tokens.rs"]
mod tokens;
