//! The API's reads (GET): status (what `ebb status --json` prints),
//! tables, queue, conflicts (one with its field-by-field difference),
//! history for the charts, and the daemon itself. Each answers from the
//! database as it is now; none changes anything.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Api, ApiError, DAY};
use crate::local::{ConflictRecord, QUEUE_STATES};
use crate::ops::daemon::watch::item_id;
use crate::ops::view;
use crate::sync::now_ms;

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;
type Id = Result<Path<String>, PathRejection>;

/// The query's parameters, or a 400 JSON error (not axum's text).
fn params(q: Params) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad("query", format!("unreadable query string: {e}")))
}

/// The `{id}` of the path, or a 400 JSON error.
pub(super) fn path_id(p: Id) -> Result<String, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|e| ApiError::bad("path.id", format!("unreadable id: {e}")))
}

/// The most queue items one answer lists.
const MAX_LIMIT: usize = 1000;

pub(super) async fn index() -> Json<Value> {
    Json(json!({
        "routes": [
            "GET /api/status", "GET /api/tables", "GET /api/queue?state=&limit=",
            "GET /api/conflicts[?all]", "GET /api/conflicts/{id}", "GET /api/history?since=",
            "GET /api/daemon", "GET /api/events",
            "POST /api/conflicts/{id}/resolve", "POST /api/queue/{id}/retry", "POST /api/sync"
        ],
        "docs": "docs/api.md"
    }))
}

pub(super) async fn no_route() -> ApiError {
    ApiError::not_found("path", "no such API route (GET /api lists them)")
}

pub(super) async fn status(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    api.with_local(|local, inner| {
        let now = now_ms();
        let status = local
            .status(now, inner.config.alerts.error_window)
            .map_err(|e| ApiError::local(&e))?;
        let mut v = view::status_view(&inner.config, &status, now);
        // The engine's id: `ebb device --new` renews it under a running daemon.
        v.device = inner.device.borrow().clone();
        let mut v = serde_json::to_value(v).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            let realtime = inner.realtime.borrow().clone();
            o.insert(
                "realtime".into(),
                serde_json::to_value(realtime).unwrap_or_default(),
            );
        }
        Ok(Json(v))
    })
    .await
}

pub(super) async fn tables(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    api.with_local(|local, inner| {
        let now = now_ms();
        let status = local
            .status(now, inner.config.alerts.error_window)
            .map_err(|e| ApiError::local(&e))?;
        let v = view::status_view(&inner.config, &status, now);
        let open = local.conflicts(false).map_err(|e| ApiError::local(&e))?;
        let held = local
            .queue_items(&["invalid", "dead"], usize::MAX)
            .map_err(|e| ApiError::local(&e))?;
        let mut out = Vec::new();
        for t in &v.tables {
            let rows = local.row_count(&t.table).map_err(|e| ApiError::local(&e))?;
            let count = |state: &str| {
                held.iter()
                    .filter(|i| i.table == t.table && i.state == state)
                    .count()
            };
            out.push(json!({
                "table": t.table,
                "rows": rows,
                "pending": t.pending,
                "invalid": count("invalid"),
                "dead": count("dead"),
                "conflicts": open.iter().filter(|c| c.table == t.table).count(),
                "last_sync_at": t.last_sync_at,
                "lag_ms": t.last_sync_at.map(|at| (now - at).max(0)),
                "policy": inner.policies.policy_name(&t.table),
            }));
        }
        Ok(Json(Value::Array(out)))
    })
    .await
}

pub(super) async fn queue(State(api): State<Api>, q: Params) -> Result<Json<Value>, ApiError> {
    let q = params(q)?;
    let states: Vec<String> = match q.get("state").map(String::as_str) {
        None | Some("") => Vec::new(),
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    if let Some(bad) = states.iter().find(|s| !QUEUE_STATES.contains(&s.as_str())) {
        return Err(ApiError::bad(
            "query.state",
            format!(
                "unknown state {bad:?} (expected {})",
                QUEUE_STATES.join(", ")
            ),
        ));
    }
    let limit = match q.get("limit") {
        None => 100,
        Some(text) => match text.parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => n,
            _ => {
                return Err(ApiError::bad(
                    "query.limit",
                    format!("limit must be a number from 1 to {MAX_LIMIT} (got {text:?})"),
                ));
            }
        },
    };
    api.with_local(move |local, _| {
        let refs: Vec<&str> = states.iter().map(String::as_str).collect();
        let items = local
            .queue_items(&refs, limit)
            .map_err(|e| ApiError::local(&e))?;
        let out = items
            .into_iter()
            .map(|i| {
                let mut v = serde_json::to_value(&i).unwrap_or_default();
                v["id"] = item_id(&i.table, &i.pk).into();
                v
            })
            .collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

pub(super) async fn conflicts(State(api): State<Api>, q: Params) -> Result<Json<Value>, ApiError> {
    let q = params(q)?;
    let all = match q.get("all").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("" | "true" | "1") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "query.all",
                format!("all is a flag: ?all or ?all=true (got {other:?})"),
            ));
        }
    };
    api.with_local(move |local, _| {
        let list = local.conflicts(all).map_err(|e| ApiError::local(&e))?;
        let out = list.iter().map(summary).collect();
        Ok(Json(Value::Array(out)))
    })
    .await
}

/// A conflict without its rows (the list).
fn summary(c: &ConflictRecord) -> Value {
    json!({
        "id": c.id, "table": c.table, "pk": c.pk, "policy": c.policy, "reason": c.reason,
        "created_at": c.created_at, "resolved_at": c.resolved_at,
        "resolution": c.resolution, "held": c.held,
    })
}

/// The conflict id of a path, or a 400 naming it.
pub(super) fn conflict_id(text: &str) -> Result<i64, ApiError> {
    text.trim_start_matches('#').parse::<i64>().map_err(|_| {
        ApiError::bad(
            "path.id",
            format!("a conflict id is a number, as GET /api/conflicts lists it (got {text:?})"),
        )
    })
}

pub(super) async fn conflict(State(api): State<Api>, id: Id) -> Result<Json<Value>, ApiError> {
    let id = conflict_id(&path_id(id)?)?;
    api.with_local(move |local, inner| {
        let c = match local.conflict(id) {
            Ok(c) => c,
            Err(crate::local::LocalError::NotFound { .. }) => {
                return Err(ApiError::not_found(
                    "path.id",
                    format!("conflict #{id} not found"),
                ));
            }
            Err(e) => return Err(ApiError::local(&e)),
        };
        let columns: Vec<String> = match crate::local::describe(local, &c.table) {
            Ok(info) => info.columns.into_iter().map(|c| c.name).collect(),
            Err(_) => Vec::new(),
        };
        let mut v = summary(&c);
        v["local"] = serde_json::to_value(&c.local).unwrap_or_default();
        v["remote"] = serde_json::to_value(&c.remote).unwrap_or_default();
        v["base"] = serde_json::to_value(&c.base).unwrap_or_default();
        v["remote_version"] = c.remote_version.into();
        v["differences"] = differences(&c, &columns);
        v["columns"] = columns.into();
        v["resolver"] = inner.policies.policy_name(&c.table).into();
        Ok(Json(v))
    })
    .await
}

/// Field by field: each side's value, and who changed it since the base.
fn differences(c: &ConflictRecord, columns: &[String]) -> Value {
    let mut names: Vec<String> = columns.to_vec();
    for row in [&c.local, &c.remote, &c.base].into_iter().flatten() {
        for k in row.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let get = |row: &Option<crate::model::Row>, k: &str| {
        row.as_ref()
            .map(|r| r.get(k).cloned().unwrap_or(Value::Null))
    };
    let out: Vec<Value> = names
        .iter()
        .map(|k| {
            let (l, r, b) = (get(&c.local, k), get(&c.remote, k), get(&c.base, k));
            json!({
                "field": k,
                "local": l, "remote": r, "base": b,
                "differs": l != r,
                "changed_local": c.base.is_some() && l != b,
                "changed_remote": c.base.is_some() && r != b,
            })
        })
        .collect();
    Value::Array(out)
}

pub(super) async fn history(State(api): State<Api>, q: Params) -> Result<Json<Value>, ApiError> {
    let q = params(q)?;
    let now = now_ms();
    let since = match q.get("since") {
        None => now - crate::sync::ms(DAY),
        Some(text) => text.parse::<i64>().map_err(|_| {
            ApiError::bad(
                "query.since",
                format!("since is unix milliseconds (got {text:?})"),
            )
        })?,
    };
    api.with_local(move |local, _| {
        let minutes = local.history(since).map_err(|e| ApiError::local(&e))?;
        Ok(Json(
            json!({ "since": since, "now": now, "minutes": minutes }),
        ))
    })
    .await
}

pub(super) async fn daemon(State(api): State<Api>) -> Response {
    let inner = &api.inner;
    let health = inner.health.borrow().clone();
    let body = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": inner.started_at,
        "rounds": inner.rounds.load(std::sync::atomic::Ordering::Relaxed),
        "interval_ms": crate::sync::ms(inner.config.sync.interval),
        "health": health,
        "token_configured": api.rules.token.is_some(),
        "events": { "readers": inner.events.readers(), "dropped": inner.events.dropped() },
    });
    (StatusCode::OK, Json(body)).into_response()
}
