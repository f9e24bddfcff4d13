//! Writes of this device that the server stored with other values (a
//! trigger, a default or a column type of its own; see `sync::echo`),
//! remembered for `ebb status` and `/api/status`: a short list in
//! `_ebb_meta.rewritten` of (when, table, key, columns), never values,
//! holding the last [`OVERWRITE_WINDOW`] and at most [`KEEP`] entries.
//! Written by `sync` after the page that took them is applied.

use serde::{Deserialize, Serialize};

use super::schema::{meta_set, meta_text};
use super::status::OVERWRITE_WINDOW;
use super::{Local, LocalError, millis};

/// Most entries kept: enough for a person to see which rows and columns.
const KEEP: usize = 200;

const KEY: &str = "rewritten";

/// One write of this device the server stored otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rewritten {
    /// When it was taken here, unix ms.
    pub at: i64,
    pub table: String,
    pub pk: String,
    /// The columns whose values the server changed.
    pub columns: Vec<String>,
}

impl Local {
    /// Remembers rows of `table` (key, columns) taken at `now` as the
    /// server stored them.
    pub fn note_rewritten(
        &self,
        table: &str,
        rows: &[(String, Vec<String>)],
        now: i64,
    ) -> Result<(), LocalError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut kept = self.rewritten(now)?;
        kept.extend(rows.iter().map(|(pk, columns)| Rewritten {
            at: now,
            table: table.to_string(),
            pk: pk.clone(),
            columns: columns.clone(),
        }));
        let skip = kept.len().saturating_sub(KEEP);
        let text = serde_json::to_string(&kept[skip..]).unwrap_or_else(|_| "[]".into());
        meta_set(&self.conn, KEY, rusqlite::types::Value::Text(text))
    }

    /// The rows taken as the server stored them within the last
    /// [`OVERWRITE_WINDOW`] before `now`, oldest first.
    pub fn rewritten(&self, now: i64) -> Result<Vec<Rewritten>, LocalError> {
        let since = now.saturating_sub(millis(OVERWRITE_WINDOW));
        let all: Vec<Rewritten> = meta_text(&self.conn, KEY)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok(all.into_iter().filter(|r| r.at >= since).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::open_temp;

    #[test]
    fn the_last_day_is_kept_and_at_most_keep_entries() {
        let (_dir, local) = open_temp();
        let day = 24 * 60 * 60 * 1000;
        assert!(local.rewritten(day).unwrap().is_empty());
        let rows = vec![("1".to_string(), vec!["name".to_string()])];
        local.note_rewritten("products", &rows, 10).unwrap();
        local.note_rewritten("products", &rows, day + 20).unwrap();
        let kept = local.rewritten(day + 20).unwrap();
        assert_eq!(kept.len(), 1, "the first is older than a day");
        assert_eq!((kept[0].table.as_str(), kept[0].at), ("products", day + 20));
        let many: Vec<_> = (0..300)
            .map(|i| (i.to_string(), vec!["total".to_string()]))
            .collect();
        local.note_rewritten("sales", &many, day + 30).unwrap();
        let kept = local.rewritten(day + 30).unwrap();
        assert_eq!(kept.len(), super::KEEP);
        assert_eq!(kept.last().unwrap().pk, "299", "the newest kept");
    }
}
