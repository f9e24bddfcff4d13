//! The API's changes (POST, token required): settle a conflict, put a held
//! item back to pending, start a round now. Each checks everything first
//! and changes nothing when it refuses; each announces what it changed on
//! the event hub and nudges the daemon, so the change is pushed at once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::read::{conflict_id, path_id};
use super::{Api, ApiError};
use crate::local::{Choice, Revived};
use crate::ops::events::Event;
use crate::ops::settle::settle;
use crate::sync::now_ms;

/// The body of a resolve: `{"take": "local" | "remote"}` or `{"row": {...}}`.
fn choice(body: &[u8]) -> Result<Choice, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            "body",
            format!(
                "the body is not JSON ({e}); send {{\"take\": \"local\"}}, \
                 {{\"take\": \"remote\"}} or {{\"row\": {{...}}}}"
            ),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad("body", "the body must be a JSON object"));
    };
    if let Some(key) = map.keys().find(|k| *k != "take" && *k != "row") {
        return Err(ApiError::bad(
            &format!("body.{key}"),
            format!("unknown field {key:?} (expected take or row)"),
        ));
    }
    match (map.get("take"), map.get("row")) {
        (Some(take), None) => match take.as_str() {
            Some("local") => Ok(Choice::Local),
            Some("remote") => Ok(Choice::Remote),
            _ => Err(ApiError::bad(
                "body.take",
                format!("take is \"local\" or \"remote\" (got {take})"),
            )),
        },
        (None, Some(Value::Object(row))) => Ok(Choice::Row(row.clone())),
        (None, Some(_)) => Err(ApiError::bad(
            "body.row",
            "row must be a JSON object with every column of the table",
        )),
        (Some(_), Some(_)) => Err(ApiError::bad("body", "send either take or row, not both")),
        (None, None) => Err(ApiError::bad(
            "body",
            "say how to settle it: {\"take\": \"local\"}, {\"take\": \"remote\"} or {\"row\": {...}}",
        )),
    }
}

pub(super) async fn resolve(
    State(api): State<Api>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = conflict_id(&path_id(id)?)?;
    let body = body.map_err(|e| ApiError::bad("body", format!("unreadable body: {e}")))?;
    let choice = choice(&body)?;
    let settled = api
        .with_local(move |local, inner| {
            Ok(settle(local, Some(&inner.policies), id, choice, now_ms())?)
        })
        .await?;
    let inner = &api.inner;
    inner
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .forget_conflict(id);
    inner.events.emit(Event::ConflictSettled {
        id,
        table: settled.table.clone(),
        pk: settled.pk.clone(),
        resolution: settled.resolution.clone(),
    });
    inner.nudge.notify_one();
    tracing::info!(id, table = %settled.table, pk = %settled.pk, "conflict settled through the local API");
    Ok(Json(json!({
        "id": id,
        "table": settled.table,
        "pk": settled.pk,
        "resolution": settled.resolution,
        "resolved_at": settled.resolved_at,
    })))
}

pub(super) async fn retry(
    State(api): State<Api>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = path_id(id)?;
    let Some((table, pk)) = id.split_once(':') else {
        return Err(ApiError::bad(
            "path.id",
            format!("a queue item id is TABLE:PK, as GET /api/queue lists it (got {id:?})"),
        ));
    };
    let (table, pk) = (table.to_string(), pk.to_string());
    if !api.inner.config.tables.iter().any(|t| t.name == table) {
        return Err(ApiError::not_found(
            "path.id",
            format!("{table} is not a synced table"),
        ));
    }
    let (t, p) = (table.clone(), pk.clone());
    let revived = api
        .with_local(move |local, _| local.revive_item(&t, &p).map_err(|e| ApiError::local(&e)))
        .await?;
    let was = match revived {
        Revived::Pending { was } => was,
        Revived::Missing => {
            return Err(ApiError::not_found(
                "path.id",
                format!("nothing is queued for {table}/{pk}"),
            ));
        }
        Revived::NotHeld { state } => {
            return Err(ApiError::conflict(format!(
                "{table}/{pk} is {state}, not dead or invalid: nothing to retry"
            )));
        }
    };
    let inner = &api.inner;
    inner
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .forget_item(&table, &pk);
    inner.events.emit(Event::ItemRetried {
        id: id.clone(),
        table: table.clone(),
        pk: pk.clone(),
    });
    inner.nudge.notify_one();
    tracing::info!(%table, %pk, %was, "held item put back to pending through the local API");
    Ok(Json(
        json!({ "id": id, "table": table, "pk": pk, "was": was, "state": "pending" }),
    ))
}

pub(super) async fn sync_now(State(api): State<Api>) -> (StatusCode, Json<Value>) {
    api.inner.nudge.notify_one();
    (
        StatusCode::ACCEPTED,
        Json(
            json!({ "started": true, "note": "a round starts now, or right after the one running; watch /api/events" }),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> u16 {
        choice(body.as_bytes()).unwrap_err().status().as_u16()
    }

    #[test]
    fn bodies_are_read_strictly() {
        assert_eq!(choice(br#"{"take":"local"}"#).unwrap(), Choice::Local);
        assert_eq!(choice(br#"{"take":"remote"}"#).unwrap(), Choice::Remote);
        assert!(matches!(
            choice(br#"{"row":{"id":"1"}}"#).unwrap(),
            Choice::Row(_)
        ));
        for bad in [
            "",
            "{",
            "[]",
            "{}",
            r#"{"take":"both"}"#,
            r#"{"row":[1]}"#,
            r#"{"take":"local","row":{}}"#,
            r#"{"tkae":"local"}"#,
        ] {
            assert_eq!(refused(bad), 400, "{bad}");
        }
    }
}
