//! Where a round crosses between local ids and the server's keys: the
//! push sends global keys (`Local::globalize`), conflict answers and
//! pulled rows come back to local ids (`Local::localize`) before anything
//! compares or writes them. Tables without `keys = "map"` (and without
//! foreign keys to such tables) pass through untouched.
//!
//! Owns the device number's life: asked of the server once per device id
//! (`ebb_device_number`) before the first push that needs one.

use super::{Engine, SyncError};
use crate::local::{KeyLookup, TableSpec, Unmapped};
use crate::model::{Change, PulledRow, Row};
use crate::remote::Remote;

/// A pulled row, as this device knows it.
pub(super) enum Localized {
    /// A row this device has (or a table without mapped keys): in local
    /// ids and SQLite's types, ready to plan.
    Here(PulledRow),
    /// A deletion of a row this device never had: nothing to do.
    Absent,
    /// A row of a mapped table new to this device (`row` localized but
    /// for its key): adopted under a fresh local id.
    New { global: i64, row: Row },
    /// It points at a parent this device has not pulled yet: set aside.
    Waits(Unmapped),
}

impl<R: Remote> Engine<R> {
    /// `pulled`, of a table without mapped keys, with its content
    /// normalized in place (see `localize`).
    pub(super) fn normalized(
        &self,
        spec: &TableSpec,
        mut pulled: PulledRow,
    ) -> Result<PulledRow, SyncError> {
        if let Some(content) = pulled.row.take() {
            pulled.row = Some(self.local.normalize_owned(spec, content)?);
        }
        Ok(pulled)
    }

    /// Normalizes a pulled row of a table touched by mapped keys
    /// (`keys.touches`; the others go through `normalized`) to SQLite's
    /// types (PG's true / 1.50 / "42" become 1 / 1.5 / 42, so a base from a
    /// pull and one from a push mean the same thing) and translates its
    /// keys to local ids, with the key map's answers for its page in
    /// `lookup` (`Local::key_lookup`).
    pub(super) fn localize(
        &self,
        spec: &TableSpec,
        lookup: &KeyLookup,
        pulled: &PulledRow,
    ) -> Result<Localized, SyncError> {
        // The envelope copied, the content normalized (never copied twice).
        let mut row = PulledRow {
            pk: pulled.pk.clone(),
            version: pulled.version,
            txid: pulled.txid.clone(),
            deleted: pulled.deleted,
            origin: pulled.origin.clone(),
            row: match &pulled.row {
                Some(content) => Some(self.local.normalize(spec, content)?),
                None => None,
            },
        };
        let mapped = self.keys.is_mapped(&spec.name);
        let local = match (mapped, pulled.pk.parse::<i64>()) {
            (true, Ok(global)) => match self.local.looked_up(lookup, &spec.name, global)? {
                Some(local) => Some(local),
                None if pulled.deleted => return Ok(Localized::Absent),
                None => None,
            },
            _ => None,
        };
        if let Some(content) = &mut row.row
            && let Err(missing) = self
                .local
                .localize(&self.keys, lookup, &spec.name, content)?
        {
            return Ok(Localized::Waits(missing));
        }
        match (mapped, local, row.row) {
            (true, None, Some(content)) => Ok(Localized::New {
                global: pulled.pk.parse().unwrap_or_default(),
                row: content,
            }),
            (_, local, content) => {
                row.row = content;
                if let Some(local) = local {
                    row.pk = local.to_string();
                }
                Ok(Localized::Here(row))
            }
        }
    }

    /// A remote row of a push's conflict answer, in local ids (`Err`: it
    /// points at a parent this device has not pulled yet).
    pub(super) fn localize_row(
        &self,
        table: &str,
        mut row: Row,
    ) -> Result<Result<Row, Unmapped>, SyncError> {
        let lookup = self
            .local
            .key_lookup(&self.keys, table, [("", Some(&row))])?;
        Ok(self
            .local
            .localize(&self.keys, &lookup, table, &mut row)?
            .map(|()| row))
    }

    /// `changes` with global keys, ready to send (a no-op without mapped
    /// tables). Asks the server for this device's number the first time.
    pub(super) async fn globalize(&mut self, changes: &mut [Change]) -> Result<(), SyncError> {
        if self.keys.is_empty() || !changes.iter().any(|c| self.keys.touches(&c.table)) {
            return Ok(());
        }
        let number = match self.local.device_number()? {
            Some(n) => n,
            None => {
                let device = self.local.device_id().to_string();
                let answer = self
                    .call_remote("ebb_device_number", |remote| remote.device_number(&device))
                    .await?;
                let n = answer?;
                tracing::info!(
                    number = n,
                    "the server gave this device its number for mapped keys"
                );
                self.local.set_device_number(n)?;
                n
            }
        };
        self.local.globalize(&self.keys, number, changes)?;
        Ok(())
    }
}
