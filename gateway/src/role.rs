//! The startup check of [`GatewaySettings::role`](crate::GatewaySettings::role):
//! the role exists and the login role may switch to it. It tries the very
//! switch every RPC makes (`set_config('role', $1, true)` in a transaction
//! that is rolled back), so it holds on every PostgreSQL version whatever
//! decides the right (membership, superuser, PostgreSQL 16's SET option).
//! It changes nothing on the server. Called by [`serve`](crate::serve)
//! before it listens; the per-request switch lives in `rpc.rs`.

use deadpool_postgres::Pool;

use crate::GatewayError;

/// `Ok` when the login role may run as `role`, or when the database cannot
/// be reached yet (logged; requests answer 503 until it is back, and a
/// switch that then fails answers its SQLSTATE).
pub(super) async fn check(pool: &Pool, role: &str) -> Result<(), GatewayError> {
    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(
                target: "ebb_gateway",
                error = %e,
                "cannot reach the database to check the role; checking it on each request"
            );
            return Ok(());
        }
    };
    let failed = |what: &str, e: tokio_postgres::Error| {
        GatewayError::Role(format!("cannot check role {role:?}: {what}: {e}"))
    };
    let found = client
        .query_opt(
            "SELECT current_user::text FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .map_err(|e| failed("looking it up", e))?;
    let Some(found) = found else {
        return Err(GatewayError::Role(format!(
            "role {role:?} does not exist (create it, e.g. CREATE ROLE ... NOLOGIN)"
        )));
    };
    let login: String = found.get(0);
    let tx = client
        .transaction()
        .await
        .map_err(|e| failed("beginning", e))?;
    let switched = tx
        .execute("SELECT pg_catalog.set_config('role', $1, true)", &[&role])
        .await;
    // Rolled back whatever happened: the check leaves the connection as it was.
    let _ = tx.rollback().await;
    match switched {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            Err(GatewayError::Role(format!(
                "login role {login:?} may not switch to role {role:?} \
                 (GRANT the role to the login role)"
            )))
        }
        Err(e) => Err(failed("switching to it", e)),
    }
}
