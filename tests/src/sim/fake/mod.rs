//! [`FakeRemote`]: an in-process server with the contract of the real
//! `ebb_push` / `ebb_pull` (host/src/remote/sql), for the deterministic
//! simulation and the contract suite.
//!
//! It implements both boundaries: [`Remote`] as every device sees it, and
//! [`Backoffice`] for SQL made directly on the server. Clones share one
//! server. Files: `store` (rows, tombstones, txids, constraints), `push`
//! (the decision of `_ebb_push_one`), `pull` (paging below the horizon).
//! The schema it enforces is `sim::schema`. Nothing here is random or
//! reads a clock, so the same calls give the same answers.

mod pull;
mod push;
mod store;

use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Result, anyhow, bail};

use super::backoffice::Backoffice;
use super::schema::{self, Table};
use ebb::model::{Change, Cursor, PullPage, PushResult, Row};
use ebb::remote::{Remote, RemoteError};
use store::{OpenTx, Store, Writer};

/// The fake server. Cheap to clone; clones share the same data.
#[derive(Clone, Default)]
pub struct FakeRemote {
    store: Arc<Mutex<Store>>,
}

impl FakeRemote {
    /// An empty server with the example app's four tables installed.
    pub fn new() -> FakeRemote {
        FakeRemote::default()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere must not hide the data from the oracle.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn table(name: &str) -> Result<&'static Table> {
    schema::table(name).ok_or_else(|| anyhow!("no synced table {name}"))
}

impl Remote for FakeRemote {
    async fn push(&self, changes: &[Change]) -> Result<Vec<PushResult>, RemoteError> {
        let mut store = self.store();
        let mut txid = None;
        Ok(changes
            .iter()
            .map(|c| push::push_one(&mut store, c, &mut txid))
            .collect())
    }

    async fn pull(
        &self,
        table: &str,
        cursor: &Cursor,
        page: usize,
    ) -> Result<PullPage, RemoteError> {
        pull::page(&self.store(), table, cursor, page)
    }
}

impl Backoffice for FakeRemote {
    async fn insert(&self, table_name: &str, row: &Row) -> Result<()> {
        let t = table(table_name)?;
        let pk = pk_of(row)?;
        let mut store = self.store();
        if store.live(t.name, &pk).is_some() {
            bail!("insert into {table_name}: key {pk} exists (23505)");
        }
        let by = Writer {
            origin: None,
            txid: store.new_txid(),
        };
        store
            .upsert(t, &pk, row, &by)
            .map_err(|v| anyhow!("insert into {table_name}: {} ({})", v.message, v.code))?;
        Ok(())
    }

    async fn update(&self, table_name: &str, pk: &str, fields: &Row) -> Result<bool> {
        let t = table(table_name)?;
        let mut store = self.store();
        if store.live(t.name, pk).is_none() {
            return Ok(false);
        }
        let by = Writer {
            origin: None,
            txid: store.new_txid(),
        };
        store
            .upsert(t, pk, fields, &by)
            .map_err(|v| anyhow!("update {table_name} {pk}: {} ({})", v.message, v.code))?;
        Ok(true)
    }

    async fn add(&self, table_name: &str, pk: &str, column: &str, delta: i64) -> Result<bool> {
        let t = table(table_name)?;
        let mut store = self.store();
        let Some(live) = store.live(t.name, pk) else {
            return Ok(false);
        };
        let now = live
            .row
            .get(column)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| anyhow!("{table_name}.{column} of {pk} is not an integer"))?;
        let mut fields = Row::new();
        fields.insert(column.to_string(), (now + delta).into());
        let by = Writer {
            origin: None,
            txid: store.new_txid(),
        };
        store
            .upsert(t, pk, &fields, &by)
            .map_err(|v| anyhow!("update {table_name} {pk}: {} ({})", v.message, v.code))?;
        Ok(true)
    }

    async fn delete(&self, table_name: &str, pk: &str) -> Result<bool> {
        let t = table(table_name)?;
        let mut store = self.store();
        if store.live(t.name, pk).is_none() {
            return Ok(false);
        }
        let by = Writer {
            origin: None,
            txid: store.new_txid(),
        };
        store
            .delete(t, pk, &by)
            .map_err(|v| anyhow!("delete {table_name} {pk}: {} ({})", v.message, v.code))?;
        Ok(true)
    }

    async fn rows(&self, table_name: &str) -> Result<Vec<Row>> {
        let t = table(table_name)?;
        let store = self.store();
        // BTreeMap order is byte order, as COLLATE "C".
        Ok(store
            .live_rows(t.name)
            .map(|(_, l)| l.row.clone())
            .collect())
    }

    async fn version(&self, table_name: &str, pk: &str) -> Result<Option<i64>> {
        let t = table(table_name)?;
        Ok(self.store().live(t.name, pk).map(|l| l.version))
    }

    async fn versions(&self, table_name: &str) -> Result<Vec<(String, i64)>> {
        let t = table(table_name)?;
        let store = self.store();
        Ok(store
            .live_rows(t.name)
            .map(|(pk, l)| (pk.clone(), l.version))
            .collect())
    }

    async fn hold(&self, table_name: &str, row: &Row) -> Result<()> {
        let t = table(table_name)?;
        let mut store = self.store();
        if store.open.is_some() {
            bail!("a held transaction is already open");
        }
        let txid = store.new_txid();
        store.open = Some(OpenTx {
            txid,
            table: t.name,
            row: row.clone(),
        });
        Ok(())
    }

    async fn release(&self) -> Result<()> {
        let mut store = self.store();
        let Some(open) = store.open.take() else {
            return Ok(());
        };
        let t = table(open.table)?;
        let pk = pk_of(&open.row)?;
        let by = Writer {
            origin: None,
            txid: open.txid,
        };
        store
            .upsert(t, &pk, &open.row, &by)
            .map_err(|v| anyhow!("commit of the held transaction: {} ({})", v.message, v.code))?;
        Ok(())
    }

    async fn settle(&self) -> Result<()> {
        Ok(())
    }
}

fn pk_of(row: &Row) -> Result<String> {
    row.get("id")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("a row needs a text \"id\""))
}
