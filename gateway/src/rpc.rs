//! `POST /rpc/{function}`: the body's JSON object holds the named arguments,
//! as in PostgREST. The function is looked up in a fixed list (ebb's
//! RPCs), the arguments are matched by name, and the call is
//! `SELECT public.f(name => a.name, ...) FROM json_to_record($1) AS a(...)`,
//! as PostgREST builds it, so PostgreSQL converts and checks every value and
//! its errors come back as PostgREST's. The request body goes to the server
//! as the client sent it (no re-encoding of numbers or strings) and the
//! function's JSON comes back as PostgreSQL wrote it.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deadpool_postgres::Pool;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;

use crate::auth::Identity;
use crate::error::ApiError;

/// One parameter of an RPC: its name, SQL type, and whether the function
/// has a default for it (so the body may leave it out).
struct Param {
    name: &'static str,
    sql_type: &'static str,
    has_default: bool,
}

/// An RPC the gateway serves, with its parameters in declaration order.
struct Function {
    name: &'static str,
    params: &'static [Param],
}

/// The functions `remote/sql` installs. Parameter names and defaults must
/// match the SQL: the contract tests call each one through the gateway.
const FUNCTIONS: &[Function] = &[
    Function {
        name: "ebb_push",
        params: &[Param {
            name: "changes",
            sql_type: "jsonb",
            has_default: false,
        }],
    },
    Function {
        name: "ebb_pull",
        params: &[
            Param {
                name: "tbl",
                sql_type: "text",
                has_default: false,
            },
            Param {
                name: "cursor",
                sql_type: "jsonb",
                has_default: true,
            },
            Param {
                name: "page",
                sql_type: "integer",
                has_default: true,
            },
        ],
    },
    Function {
        name: "ebb_pull_all",
        params: &[
            Param {
                name: "cursors",
                sql_type: "jsonb",
                has_default: false,
            },
            Param {
                name: "page",
                sql_type: "integer",
                has_default: true,
            },
        ],
    },
    Function {
        name: "ebb_push_pull",
        params: &[
            Param {
                name: "changes",
                sql_type: "jsonb",
                has_default: false,
            },
            Param {
                name: "cursors",
                sql_type: "jsonb",
                has_default: false,
            },
            Param {
                name: "page",
                sql_type: "integer",
                has_default: true,
            },
        ],
    },
    Function {
        name: "ebb_device_number",
        params: &[Param {
            name: "device",
            sql_type: "text",
            has_default: false,
        }],
    },
    Function {
        name: "ebb_describe",
        params: &[Param {
            name: "tbl",
            sql_type: "text",
            has_default: false,
        }],
    },
    Function {
        name: "ebb_nudges",
        params: &[],
    },
];

/// Calls `function` with the arguments in `body` and answers its JSON.
/// With a role or claims in `identity`, the call runs in a transaction that
/// first switches to the role (`set_config('role', $1, true)`, the bound
/// form of `SET LOCAL ROLE`) and sets `request.jwt.claims`, as PostgREST
/// does, so the role is never spliced into SQL and both end with the
/// transaction.
pub(crate) async fn call(
    pool: &Pool,
    identity: &Identity,
    function: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid_body())?;
    // An empty body is no arguments, as in PostgREST.
    let text = if text.trim().is_empty() { "{}" } else { text };
    let args = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(args)) => args,
        _ => return Err(ApiError::invalid_body()),
    };
    let sql = statement(function, &args)?;
    let params: &[&(dyn ToSql + Sync)] = if args.is_empty() { &[] } else { &[&text] };
    let mut client = pool.get().await.map_err(|e| ApiError::from_pool(&e))?;
    let query = |e: tokio_postgres::Error| {
        let err = ApiError::from_query(&e);
        if identity.anonymous {
            err.when_anonymous()
        } else {
            err
        }
    };
    // Statements are prepared once per connection (the call's text is one
    // of a fixed few: ebb's functions and their argument sets), so a call
    // costs no Parse round trip; a replaced function is planned again by
    // PostgreSQL itself.
    let row = match (&identity.role, &identity.claims) {
        (None, None) => {
            let call = client.prepare_cached(&sql).await.map_err(query)?;
            client.query_one(&call, params).await.map_err(query)?
        }
        (role, claims) => {
            // `none` is the login role, as `SET ROLE NONE`.
            let (text, values): (&str, Vec<&(dyn ToSql + Sync)>) = match claims {
                None => (
                    "SELECT pg_catalog.set_config('role', coalesce($1, 'none'), true)",
                    vec![role],
                ),
                Some(claims) => (
                    "SELECT pg_catalog.set_config('request.jwt.claims', $1, true), \
                            pg_catalog.set_config('role', coalesce($2, 'none'), true)",
                    vec![claims, role],
                ),
            };
            // Only pg_catalog's set_config: nothing to look up as the role.
            let switch = client.prepare_cached(text).await.map_err(query)?;
            // Dropped on an error: the transaction and the role switch
            // roll back before the connection serves anyone else.
            let tx = client.transaction().await.map_err(query)?;
            // The switch goes first, the call right behind it (`biased`:
            // polled in this order, and tokio-postgres sends requests in
            // the order they are polled): a cached call goes out in the
            // same write, and a call not prepared yet is parsed after the
            // switch, as the role, like every call before. If the switch
            // fails, the call fails in the aborted transaction and the
            // switch's error is the one reported.
            let (switched, row) = tokio::join!(
                biased;
                tx.execute(&switch, &values),
                async {
                    let call = tx.prepare_cached(&sql).await?;
                    tx.query_one(&call, params).await
                }
            );
            switched.map_err(query)?;
            let row = row.map_err(query)?;
            tx.commit().await.map_err(query)?;
            row
        }
    };
    let result: Option<String> = row.try_get(0).map_err(|e| ApiError::from_query(&e))?;
    let mut response = (StatusCode::OK, result.unwrap_or_else(|| "null".into())).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Ok(response)
}

/// The SQL for calling `function` with exactly the arguments named in
/// `args`, or PGRST202 (404) when no function has that name and those
/// parameters, worded as PostgREST words it. Only names from [`FUNCTIONS`]
/// reach the SQL text.
fn statement(function: &str, args: &Map<String, Value>) -> Result<String, ApiError> {
    let found = FUNCTIONS.iter().find(|f| f.name == function).filter(|f| {
        args.keys().all(|k| f.params.iter().any(|p| p.name == k))
            && f.params
                .iter()
                .all(|p| p.has_default || args.contains_key(p.name))
    });
    let Some(f) = found else {
        return Err(not_found(function, args));
    };
    let given: Vec<&Param> = f
        .params
        .iter()
        .filter(|p| args.contains_key(p.name))
        .collect();
    let call_args: Vec<String> = given
        .iter()
        .map(|p| format!("\"{0}\" => a.\"{0}\"", p.name))
        .collect();
    let columns: Vec<String> = given
        .iter()
        .map(|p| format!("\"{}\" {}", p.name, p.sql_type))
        .collect();
    if given.is_empty() {
        return Ok(format!("SELECT public.\"{}\"()::text", f.name));
    }
    Ok(format!(
        "SELECT public.\"{}\"({})::text FROM json_to_record($1::text::json) AS a({})",
        f.name,
        call_args.join(", "),
        columns.join(", ")
    ))
}

fn not_found(function: &str, args: &Map<String, Value>) -> ApiError {
    let mut names: Vec<&str> = args.keys().map(String::as_str).collect();
    names.sort_unstable();
    let listed = names.join(", ");
    let (message, searched) = if names.is_empty() {
        (
            format!(
                "Could not find the function public.{function} without parameters in the schema cache"
            ),
            format!("Searched for the function public.{function} without parameters"),
        )
    } else {
        (
            format!("Could not find the function public.{function}({listed}) in the schema cache"),
            format!("Searched for the function public.{function} with parameters {listed}"),
        )
    };
    let err = ApiError::new(StatusCode::NOT_FOUND, "PGRST202", message).details(format!(
        "{searched} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache."
    ));
    match FUNCTIONS.iter().find(|f| f.name == function) {
        Some(f) => {
            let params: Vec<&str> = f.params.iter().map(|p| p.name).collect();
            err.hint(format!(
                "Perhaps you meant to call the function public.{}({})",
                f.name,
                params.join(", ")
            ))
        }
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn builds_named_calls_for_the_given_arguments_only() {
        let sql = statement("ebb_pull", &args(json!({"tbl": "t", "page": 5}))).expect("found");
        assert_eq!(
            sql,
            "SELECT public.\"ebb_pull\"(\"tbl\" => a.\"tbl\", \"page\" => a.\"page\")::text \
             FROM json_to_record($1::text::json) AS a(\"tbl\" text, \"page\" integer)"
        );
        let sql = statement("ebb_push", &args(json!({"changes": []}))).expect("found");
        assert!(sql.contains("AS a(\"changes\" jsonb)"), "{sql}");
    }

    #[test]
    fn unknown_functions_and_parameters_are_pgrst202() {
        for (function, body) in [
            ("nope", json!({})),
            ("ebb_push", json!({})),
            ("ebb_push", json!({"changes": [], "extra": 1})),
            ("ebb_pull", json!({"cursor": {}})),
        ] {
            let err = statement(function, &args(body)).expect_err("not found");
            assert_eq!((err.status.as_u16(), err.code.as_str()), (404, "PGRST202"));
        }
        let err = statement("ebb_pull", &args(json!({"page": 1, "cursor": null}))).expect_err("nf");
        assert_eq!(
            err.message,
            "Could not find the function public.ebb_pull(cursor, page) in the schema cache"
        );
        assert_eq!(
            err.hint.as_deref(),
            Some("Perhaps you meant to call the function public.ebb_pull(tbl, cursor, page)")
        );
    }
}
