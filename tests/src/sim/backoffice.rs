//! The server seen from the back office: SQL run directly on the server
//! (no device, origin NULL), and what the oracle reads there.
//!
//! [`Backoffice`] is the second boundary of the contract suite and the
//! simulation (the first is `ebb::remote::Remote`): `FakeRemote` implements
//! it in memory, [`PgBackoffice`] with tokio-postgres on a test database.

use std::future::Future;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_postgres::Client;

use ebb::model::Row;

/// Server-side writes and reads. Tables are the example app's; keys are
/// the text column `id`.
pub trait Backoffice: Send + Sync {
    /// `INSERT INTO table (named columns) VALUES (...)`.
    fn insert(&self, table: &str, row: &Row) -> impl Future<Output = Result<()>> + Send;

    /// `UPDATE table SET (named columns) WHERE id = pk`; false: no such row.
    fn update(
        &self,
        table: &str,
        pk: &str,
        fields: &Row,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// `UPDATE table SET column = column + delta WHERE id = pk`.
    fn add(
        &self,
        table: &str,
        pk: &str,
        column: &str,
        delta: i64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// `DELETE FROM table WHERE id = pk` (cascades as the schema says).
    fn delete(&self, table: &str, pk: &str) -> impl Future<Output = Result<bool>> + Send;

    /// Every live row of `table` without ebb's columns, ordered by key.
    fn rows(&self, table: &str) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// `_ebb_version` of a live row.
    fn version(&self, table: &str, pk: &str) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// (key, `_ebb_version`) of every live row of `table`, ordered by key.
    fn versions(&self, table: &str) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;

    /// Opens a transaction that inserts `row` and stays open (holding the
    /// pull horizon) until [`Backoffice::release`]. One at a time.
    fn hold(&self, table: &str, row: &Row) -> impl Future<Output = Result<()>> + Send;

    /// Commits the transaction `hold` opened; nothing when none is open.
    fn release(&self) -> impl Future<Output = Result<()>> + Send;

    /// Waits until everything committed so far is below the pull horizon.
    fn settle(&self) -> impl Future<Output = Result<()>> + Send;
}

/// The back office of a real test database.
pub struct PgBackoffice {
    client: Client,
    conn_str: String,
    open: Mutex<Option<Client>>,
}

impl PgBackoffice {
    /// Connects to the database at `conn_str` (e.g. `TestDb::conn_str()`).
    pub async fn connect(conn_str: &str) -> Result<PgBackoffice> {
        Ok(PgBackoffice {
            client: crate::pg::connect(conn_str).await?,
            conn_str: conn_str.to_string(),
            open: Mutex::new(None),
        })
    }
}

/// A quoted identifier (names come from the harness, never from rows).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn columns(row: &Row) -> String {
    row.keys().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
}

fn insert_sql(table: &str, row: &Row) -> String {
    let t = ident(table);
    let cols = columns(row);
    format!("INSERT INTO {t} ({cols}) SELECT {cols} FROM jsonb_populate_record(NULL::{t}, $1)")
}

impl Backoffice for PgBackoffice {
    async fn insert(&self, table: &str, row: &Row) -> Result<()> {
        let json = Value::Object(row.clone());
        self.client
            .execute(&insert_sql(table, row), &[&json])
            .await
            .with_context(|| format!("insert into {table}"))?;
        Ok(())
    }

    async fn update(&self, table: &str, pk: &str, fields: &Row) -> Result<bool> {
        let t = ident(table);
        let cols = columns(fields);
        let sql = format!(
            "UPDATE {t} SET ({cols}) = (SELECT {cols} FROM jsonb_populate_record(NULL::{t}, $1)) \
             WHERE id = $2"
        );
        let json = Value::Object(fields.clone());
        let n = self
            .client
            .execute(&sql, &[&json, &pk])
            .await
            .with_context(|| format!("update {table} {pk}"))?;
        Ok(n > 0)
    }

    async fn add(&self, table: &str, pk: &str, column: &str, delta: i64) -> Result<bool> {
        let (t, c) = (ident(table), ident(column));
        let sql = format!("UPDATE {t} SET {c} = {c} + $1 WHERE id = $2");
        let n = self
            .client
            .execute(&sql, &[&delta, &pk])
            .await
            .with_context(|| format!("add to {table}.{column} of {pk}"))?;
        Ok(n > 0)
    }

    async fn delete(&self, table: &str, pk: &str) -> Result<bool> {
        let sql = format!("DELETE FROM {} WHERE id = $1", ident(table));
        let n = self
            .client
            .execute(&sql, &[&pk])
            .await
            .with_context(|| format!("delete {table} {pk}"))?;
        Ok(n > 0)
    }

    async fn rows(&self, table: &str) -> Result<Vec<Row>> {
        let sql = format!(
            "SELECT to_jsonb(t) - '_ebb_version' - '_ebb_txid' - '_ebb_origin' \
             FROM {} t ORDER BY id COLLATE \"C\"",
            ident(table)
        );
        let found = self.client.query(&sql, &[]).await?;
        Ok(found
            .iter()
            .filter_map(|r| match r.get::<_, Value>(0) {
                Value::Object(row) => Some(row),
                _ => None,
            })
            .collect())
    }

    async fn version(&self, table: &str, pk: &str) -> Result<Option<i64>> {
        let sql = format!("SELECT _ebb_version FROM {} WHERE id = $1", ident(table));
        Ok(self.client.query_opt(&sql, &[&pk]).await?.map(|r| r.get(0)))
    }

    async fn versions(&self, table: &str) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "SELECT id::text, _ebb_version FROM {} ORDER BY id COLLATE \"C\"",
            ident(table)
        );
        let found = self.client.query(&sql, &[]).await?;
        Ok(found.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn hold(&self, table: &str, row: &Row) -> Result<()> {
        let mut open = self.open.lock().await;
        if open.is_some() {
            bail!("a held transaction is already open");
        }
        let client = crate::pg::connect(&self.conn_str).await?;
        client.batch_execute("BEGIN").await?;
        let json = Value::Object(row.clone());
        client
            .execute(&insert_sql(table, row), &[&json])
            .await
            .with_context(|| format!("insert into {table} in a held transaction"))?;
        *open = Some(client);
        Ok(())
    }

    async fn release(&self) -> Result<()> {
        if let Some(client) = self.open.lock().await.take() {
            client.batch_execute("COMMIT").await?;
        }
        Ok(())
    }

    async fn settle(&self) -> Result<()> {
        crate::pg::settle_on(&self.client).await
    }
}
