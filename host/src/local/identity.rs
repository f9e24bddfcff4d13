//! Which device this database is, and telling a copied database from the
//! original.
//!
//! The device id is minted once (`schema::migrate`) and names this device
//! to the server: rows it pushes carry it as their origin, and it skips
//! telling a retried push from a new one. A copy of the file (a backup
//! restored beside the original, a file copied to set up a new till) would
//! carry the same id, and each copy would take the other's writes for its
//! own: a concurrent edit of one row laid over the other's without a
//! conflict. So the file's identity is kept beside the id:
//! its inode and creation time, which a copy never keeps and a rename
//! does. When they differ on open, the file is a copy (or a restore) and
//! gets a fresh device id. A block-level clone (dd, a VM snapshot) keeps
//! both and is not detected: `ebb device --new` (`renew_device_id`) is for
//! that. Each sync round re-reads the id (`refresh_device_id`, from the
//! lease). Called by `Local::open`; never touches the app's tables.

use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior};

use super::schema::{device_id, meta_set, meta_text};
use super::{Context, LocalError};

const KEY: &str = "file_identity";

/// The device id to use for the file at `path`: the stored one when the
/// file is the one it was minted for (`device`, read at open, when its
/// identity cannot be read), else a new id, stored in the same transaction
/// as the file's identity.
pub(super) fn confirm(
    conn: &mut Connection,
    path: &Path,
    device: String,
) -> Result<String, LocalError> {
    let Some(now) = file_identity(path) else {
        return Ok(device);
    };
    if meta_text(conn, KEY)?.is_some_and(|stored| same_file(&stored, &now)) {
        // Read again: another process may have renewed it since `device`
        // was read.
        return device_id(conn);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(|| "recording the database file's identity".into())?;
    // Read again under the write lock: another process may have just done
    // this.
    let stored = meta_text(&tx, KEY)?;
    let device = match stored {
        Some(stored) if same_file(&stored, &now) => device_id(&tx)?,
        None => device_id(&tx)?,
        Some(_) => {
            let old = device_id(&tx)?;
            let new = uuid::Uuid::new_v4().to_string();
            meta_set(&tx, "device_id", Value::Text(new.clone()))?;
            tracing::warn!(
                path = %path.display(),
                old_device = %old,
                new_device = %new,
                "this database file is a copy (or a restored backup) of another device's: \
                 it gets a new device id, so neither copy mistakes the other's changes \
                 for its own"
            );
            new
        }
    };
    meta_set(&tx, KEY, Value::Text(now))?;
    tx.commit()
        .ctx(|| "committing the database file's identity".into())?;
    Ok(device)
}

/// Whether two identities name the same file: the same creation time when
/// both carry one (a copy never keeps it; some filesystems renumber inodes
/// on every mount), else the same inode (an opener that cannot read the
/// creation time is not taken for a copy).
fn same_file(stored: &str, now: &str) -> bool {
    let split = |id| str::split_once(id, ':').unwrap_or((id, ""));
    let ((ino_a, born_a), (ino_b, born_b)) = (split(stored), split(now));
    if !born_a.is_empty() && !born_b.is_empty() {
        return born_a == born_b;
    }
    ino_a == ino_b
}

impl super::Local {
    /// Gives this database a new device id (`ebb device --new`). Returns
    /// the new id.
    pub fn renew_device_id(&mut self) -> Result<String, LocalError> {
        let new = uuid::Uuid::new_v4().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(|| "renewing the device id".into())?;
        meta_set(&tx, "device_id", Value::Text(new.clone()))?;
        tx.commit().ctx(|| "committing the new device id".into())?;
        tracing::warn!(old_device = %self.device, new_device = %new, "device id renewed");
        self.device = new.clone();
        Ok(new)
    }

    /// Re-reads the device id, which another process may have renewed
    /// (`ebb device --new`) since this one opened the database.
    pub(super) fn refresh_device_id(&mut self) -> Result<(), LocalError> {
        self.device = device_id(&self.conn)?;
        Ok(())
    }
}

/// The file's inode and creation time, which survive a rename but not a
/// copy. `None` where they cannot be read (then no copy is detected).
#[cfg(unix)]
fn file_identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(String::new, |d| d.as_nanos().to_string());
    Some(format!("{}:{born}", meta.ino()))
}

#[cfg(not(unix))]
fn file_identity(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::local::Local;

    fn open(path: &std::path::Path) -> Local {
        Local::open(path, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn a_renewed_id_is_seen_by_others_at_their_next_lease() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let mut running = open(&path);
        let old = running.device_id().to_string();
        let new = open(&path).renew_device_id().unwrap();
        assert_ne!(new, old);
        assert_eq!(open(&path).device_id(), new, "kept, not taken for a copy");
        // A process that opened the file before syncs as the new id from
        // its next round on.
        assert_eq!(running.device_id(), old);
        running
            .lease_acquire("round", Duration::from_secs(5), 1)
            .unwrap();
        assert_eq!(running.device_id(), new);
    }

    #[test]
    fn identities_match_by_creation_time_else_inode() {
        use super::same_file;
        assert!(same_file("12:1700", "12:1700"));
        assert!(
            same_file("12:1700", "99:1700"),
            "an inode renumbered on mount"
        );
        assert!(!same_file("12:1700", "12:1800"), "a copy");
        assert!(
            same_file("12:", "12:1700"),
            "an opener without creation times"
        );
        assert!(!same_file("12:", "13:1700"));
        assert!(
            !same_file("reset", "12:1700"),
            "an identity that is not one"
        );
    }

    #[test]
    fn a_copy_gets_a_new_device_id_and_a_rename_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("app.db");
        let first = open(&original).device_id().to_string();
        assert_eq!(open(&original).device_id(), first, "reopening keeps it");

        // Closed (WAL checkpointed), copied byte for byte, as a cloned disk.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&original, &copy).unwrap();
        let copied = open(&copy).device_id().to_string();
        assert_ne!(copied, first);
        assert_eq!(open(&copy).device_id(), copied, "the new id is kept");
        assert_eq!(
            open(&original).device_id(),
            first,
            "the original keeps its id"
        );

        let moved = dir.path().join("moved.db");
        std::fs::rename(&original, &moved).unwrap();
        assert_eq!(open(&moved).device_id(), first, "a rename is the same file");
    }
}
