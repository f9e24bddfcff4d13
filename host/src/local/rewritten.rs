//! Writes of this device that the server stored with other values (a
//! trigger, a default or a column type of its own; see `sync::echo`),
//! remembered for `ebb status` and `/api/status`: a short list in
//! `_ebb_meta.rewritten`, one entry per page and set of columns (when,
//! table, columns, how many rows, the first keys), never values, holding
//! the last [`OVERWRITE_WINDOW`] and at most [`KEEP`] entries.
//! Written by `sync` after the page that took them is applied.

use serde::{Deserialize, Serialize};

use super::schema::{meta_set, meta_text};
use super::status::OVERWRITE_WINDOW;
use super::{Local, LocalError, millis};

/// Most entries kept: enough for a person to see which tables and columns.
const KEEP: usize = 200;

/// Keys named per entry.
const KEYS: usize = 5;

const KEY: &str = "rewritten";

/// Writes of this device to one table the server stored otherwise, in
/// the same columns, taken on one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rewritten {
    /// When they were taken here, unix ms.
    pub at: i64,
    pub table: String,
    /// The columns whose values the server changed.
    pub columns: Vec<String>,
    /// How many rows.
    pub rows: u64,
    /// The first keys (at most five).
    pub keys: Vec<String>,
}

/// Rows (key, changed columns) grouped by their columns.
pub fn group(table: &str, rows: &[(String, Vec<String>)], at: i64) -> Vec<Rewritten> {
    let mut groups: Vec<Rewritten> = Vec::new();
    for (pk, columns) in rows {
        let i = match groups.iter().position(|g| &g.columns == columns) {
            Some(i) => i,
            None => {
                groups.push(Rewritten {
                    at,
                    table: table.to_string(),
                    columns: columns.clone(),
                    rows: 0,
                    keys: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[i].rows += 1;
        if groups[i].keys.len() < KEYS {
            groups[i].keys.push(pk.clone());
        }
    }
    groups
}

impl Local {
    /// Remembers rows taken at `now` as the server stored them ([`group`]).
    pub fn note_rewritten(&self, groups: &[Rewritten], now: i64) -> Result<(), LocalError> {
        if groups.is_empty() {
            return Ok(());
        }
        let mut kept = self.rewritten(now)?;
        kept.extend_from_slice(groups);
        let skip = kept.len().saturating_sub(KEEP);
        let text = serde_json::to_string(&kept[skip..]).unwrap_or_else(|_| "[]".into());
        meta_set(&self.conn, KEY, rusqlite::types::Value::Text(text))
    }

    /// The rows taken as the server stored them within the last
    /// [`OVERWRITE_WINDOW`] before `now`, oldest first (entries past
    /// [`KEEP`] are dropped: `ebb status` may count fewer then).
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
    use super::{KEEP, group};

    #[test]
    fn rows_are_grouped_by_columns_and_the_last_day_kept() {
        let (_dir, local) = open_temp();
        let day = 24 * 60 * 60 * 1000;
        assert!(local.rewritten(day).unwrap().is_empty());
        let name = vec!["name".to_string()];
        let rows: Vec<_> = (0..7).map(|i| (i.to_string(), name.clone())).collect();
        let mut rows = rows;
        rows.push(("x".into(), vec!["total".to_string()]));
        let groups = group("products", &rows, 10);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].rows, groups[0].keys.len()), (7, 5));
        local.note_rewritten(&groups, 10).unwrap();
        let later = group("products", &rows[7..], day + 20);
        local.note_rewritten(&later, day + 20).unwrap();
        let kept = local.rewritten(day + 20).unwrap();
        assert_eq!(kept.len(), 1, "the first page is older than a day");
        assert_eq!(
            (kept[0].columns.clone(), kept[0].at),
            (vec!["total".to_string()], day + 20)
        );
        let many: Vec<_> = (0..300)
            .map(|i| (i.to_string(), vec![format!("c{i}")]))
            .collect();
        local
            .note_rewritten(&group("sales", &many, day + 30), day + 30)
            .unwrap();
        let kept = local.rewritten(day + 30).unwrap();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(
            kept.last().unwrap().keys,
            vec!["299".to_string()],
            "the newest kept"
        );
    }
}
