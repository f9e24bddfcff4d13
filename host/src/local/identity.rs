//! Which device this database is, and telling a copied database from the
//! original.
//!
//! The device id is minted once (`schema::migrate`) and names this device
//! to the server: rows it pushes carry it as their origin, and it skips
//! telling a retried push from a new one. A copy of the file (a backup
//! restored beside the original, a file copied to set up a new till) would
//! carry the same id, and each copy would take the other's writes for its
//! own: a concurrent edit of one row laid over the other's without a
//! conflict. So the file's identity is kept beside the id: its inode (on
//! Windows the volume serial number and file index) and creation time,
//! which a copy never keeps and a rename does. When they differ on open,
//! the file is a copy (or a restore) and gets a fresh device id. A
//! block-level clone (dd, a disk image, a VM snapshot) keeps both and is
//! not detected: `ebb device --new` (`renew_device_id`) is for that. Each
//! sync round re-reads the id (`refresh_device_id`, from the lease).
//! Called by `Local::open`; never touches the app's tables.

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

/// Whether two identities name the same file. The creation time must
/// match when both carry one: a copy never keeps it. The file id must match
/// too where it is stable, as on Windows: NTFS keeps a file's index for its
/// life, and a file created where one was deleted less than 15 s before
/// inherits that one's creation time (file system tunneling), as when a
/// backup is copied over the original. On unix, where some filesystems
/// renumber inodes on every mount, the inode decides only when a creation
/// time is missing (an opener that cannot read it is not taken for a copy).
fn same_file(stored: &str, now: &str) -> bool {
    same_file_where(cfg!(windows), stored, now)
}

fn same_file_where(stable_ids: bool, stored: &str, now: &str) -> bool {
    let split = |id| str::split_once(id, ':').unwrap_or((id, ""));
    let ((id_a, born_a), (id_b, born_b)) = (split(stored), split(now));
    if !born_a.is_empty() && !born_b.is_empty() {
        return born_a == born_b && (id_a == id_b || !stable_ids);
    }
    id_a == id_b
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

/// The file's volume serial number and file index (Windows' inode) and its
/// creation time, from `GetFileInformationByHandle`. `None` where they
/// cannot be read (then no copy is detected).
#[cfg(windows)]
fn file_identity(path: &Path) -> Option<String> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::Storage::FileSystem::{
        BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS, GetFileInformationByHandle,
    };
    // Neither read nor write access (attributes only, as std's metadata
    // opens), sharing everything: SQLite's own handles and locks are not
    // disturbed.
    let file = std::fs::OpenOptions::new()
        .access_mode(0)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
        .ok()?;
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: the handle stays open across the call (`file` is dropped
    // after it) and `info` is a live, writable struct of the declared type.
    if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
        return None;
    }
    let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    Some(windows_identity(
        info.dwVolumeSerialNumber,
        (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        ticks(info.ftCreationTime),
        ticks(info.ftLastWriteTime),
    ))
}

/// `SERIAL-INDEX:BORN`: the volume serial number and file index in hex,
/// and the creation time in 100 ns ticks since 1601, left empty when the
/// filesystem keeps none: zero, or equal to the last write time (`written`),
/// which is what Wine reports on Linux for both (and keeps in a copy). The
/// file index alone then tells a copy.
#[cfg(any(windows, test))]
fn windows_identity(serial: u32, index: u64, born: u64, written: u64) -> String {
    let born = if born == 0 || born == written {
        String::new()
    } else {
        born.to_string()
    };
    format!("{serial:08x}-{index:016x}:{born}")
}

#[cfg(not(any(unix, windows)))]
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
        use super::same_file_where;
        let unix = |a, b| same_file_where(false, a, b);
        assert!(unix("12:1700", "12:1700"));
        assert!(unix("12:1700", "99:1700"), "an inode renumbered on mount");
        assert!(!unix("12:1700", "12:1800"), "a copy");
        assert!(unix("12:", "12:1700"), "an opener without creation times");
        assert!(!unix("12:", "13:1700"));
        assert!(!unix("reset", "12:1700"), "an identity that is not one");
    }

    #[test]
    fn stable_file_ids_must_match_as_well() {
        use super::same_file_where;
        let windows = |a, b| same_file_where(true, a, b);
        let file = "5e1f00d1-0001000000000a2b:133476000000000000";
        assert!(windows(file, file));
        assert!(
            !windows(file, "5e1f00d1-0001000000000c40:133476000000000000"),
            "a backup copied over the original inherits its creation time"
        );
        assert!(
            !windows(file, "5e1f00d1-0001000000000a2b:133476000100000000"),
            "a copy"
        );
        assert!(
            windows("5e1f00d1-0001000000000a2b:", file),
            "a filesystem that keeps no creation time"
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

    #[test]
    fn a_windows_creation_time_equal_to_the_last_write_is_none() {
        use super::windows_identity;
        assert_eq!(
            windows_identity(0x5e1f_00d1, 0xa2b, 133_476, 133_999),
            "5e1f00d1-0000000000000a2b:133476"
        );
        assert_eq!(
            windows_identity(0x5e1f_00d1, 0xa2b, 133_999, 133_999),
            "5e1f00d1-0000000000000a2b:",
            "Wine's creation time is the last write time"
        );
        assert_eq!(
            windows_identity(7, 1, 0, 133_999),
            "00000007-0000000000000001:"
        );
    }

    /// What `GetFileInformationByHandle` gives for a real file: the same
    /// id after a rename, another for a copy, and an index that is not zero.
    #[cfg(windows)]
    #[test]
    fn the_windows_file_id_survives_a_rename_and_not_a_copy() {
        use super::{file_identity, same_file};
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("app.db");
        std::fs::write(&original, b"till").unwrap();
        let before = file_identity(&original).expect("readable");
        let (id, born) = before.split_once(':').expect("SERIAL-INDEX:BORN");
        let (_serial, index) = id.split_once('-').expect("SERIAL-INDEX");
        assert_ne!(u64::from_str_radix(index, 16).unwrap(), 0, "{before}");
        // Empty under Wine, whose creation time is the last write time.
        assert!(born.is_empty() || born.parse::<u64>().is_ok(), "{before}");

        let moved = dir.path().join("moved.db");
        std::fs::rename(&original, &moved).unwrap();
        let after = file_identity(&moved).expect("readable");
        assert!(same_file(&before, &after), "{before} then {after}");

        let copy = dir.path().join("copy.db");
        std::fs::copy(&moved, &copy).unwrap();
        let copied = file_identity(&copy).expect("readable");
        assert!(!same_file(&before, &copied), "{before} and {copied}");
        assert_eq!(file_identity(&dir.path().join("absent.db")), None);
    }
}
