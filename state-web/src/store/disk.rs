//! [`DiskStore`]: one JSON file per session in a private directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{valid_id, Changes, SessionStore, Snapshot};

/// The format tag of a stored session file.
const FORMAT: &str = "pagestate-session/1";

#[derive(Serialize, Deserialize)]
struct Record {
    format: String,
    session: String,
    /// When it was saved, in milliseconds since the Unix epoch.
    saved_ms: u64,
    snapshot: Snapshot,
}

/// Sessions stored on local disk: `<dir>/<session id>.json`, each written
/// whole to a temporary file (0600) and renamed over the old one, in a
/// directory only the owner can enter (0700).
///
/// The default store: a restarted app (the edit loop of
/// `cargo run --example app`) gives every open tab its state back.
///
/// ```no_run
/// use std::time::Duration;
/// use pagestate::web::{store::DiskStore, ui, App};
///
/// let store = DiskStore::open("/var/lib/my-app/sessions", Duration::from_secs(3600))?;
/// App::new(|| ui::text("hi")).session_store(store).run()
/// # ;Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct DiskStore {
    dir: PathBuf,
    idle: Duration,
}

impl DiskStore {
    /// Opens (creating it, mode 0700) the directory `dir`; sessions idle
    /// for longer than `idle` are expired, and the expired files found now
    /// are deleted.
    pub fn open(dir: impl AsRef<Path>, idle: Duration) -> io::Result<DiskStore> {
        let dir = dir.as_ref().to_path_buf();
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        }
        let store = DiskStore { dir, idle };
        store.sweep();
        Ok(store)
    }

    /// The directory the sessions are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Deletes the session files not written for longer than the idle time.
    fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|name| name.strip_suffix(".json")) else {
                continue;
            };
            if !valid_id(id) {
                continue;
            }
            let expired = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > self.idle);
            if expired {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn write(&self, id: &str, record: &Record) -> io::Result<()> {
        let bytes = serde_json::to_vec(record).map_err(io::Error::other)?;
        // 0600, created exclusively under an unpredictable name.
        let mut file = tempfile::Builder::new()
            .prefix(".session-")
            .tempfile_in(&self.dir)?;
        file.write_all(&bytes)?;
        file.as_file().sync_data()?;
        file.persist(self.path(id)).map_err(|error| error.error)?;
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

impl SessionStore for DiskStore {
    fn load(&self, id: &str) -> Option<Snapshot> {
        if !valid_id(id) {
            return None;
        }
        let path = self.path(id);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
            Err(error) => {
                tracing::warn!(path = %path.display(), "stored session unreadable, fresh session: {error}");
                return None;
            }
        };
        let record = match serde_json::from_slice::<Record>(&bytes) {
            Ok(record) if record.format == FORMAT && record.session == id => record,
            Ok(_) => {
                tracing::warn!(path = %path.display(), "stored session is not this session's (foreign file), fresh session");
                return None;
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), "stored session corrupt, fresh session: {error}");
                return None;
            }
        };
        let age = Duration::from_millis(now_ms().saturating_sub(record.saved_ms));
        if age > self.idle {
            tracing::debug!(path = %path.display(), "stored session expired");
            let _ = fs::remove_file(&path);
            return None;
        }
        Some(record.snapshot)
    }

    fn save(&self, id: &str, changes: &Changes) {
        if !valid_id(id) {
            return;
        }
        let record = Record {
            format: FORMAT.to_owned(),
            session: id.to_owned(),
            saved_ms: now_ms(),
            snapshot: changes.snapshot.clone(),
        };
        if let Err(error) = self.write(id, &record) {
            tracing::warn!(dir = %self.dir.display(), session = %id, "session not stored: {error}");
        }
    }

    fn remove(&self, id: &str) {
        if valid_id(id) {
            let _ = fs::remove_file(self.path(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use pagestate_core::durable::Entry;

    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";

    fn changes(count: u32) -> Changes {
        Changes {
            snapshot: Snapshot {
                values: vec![Entry {
                    namespace: None,
                    key: "count".into(),
                    value: count.into(),
                }],
                volatile: vec![(None, "plain".into())],
                generation: 1,
            },
            changed: vec![(None, "count".into())],
            removed: Vec::new(),
        }
    }

    fn store(idle: Duration) -> (tempfile::TempDir, DiskStore) {
        let root = tempfile::tempdir().unwrap();
        let store = DiskStore::open(root.path().join("a/sessions"), idle).unwrap();
        (root, store)
    }

    #[test]
    fn saves_and_loads_privately() {
        let (_root, store) = store(Duration::from_secs(60));
        assert_eq!(store.load(ID), None);
        store.save(ID, &changes(3));
        store.save(ID, &changes(4));
        assert_eq!(store.load(ID), Some(changes(4).snapshot));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.dir()), 0o700);
            assert_eq!(mode(&store.path(ID)), 0o600);
        }
        // Only the session file: the temporary one was renamed.
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 1);
        store.remove(ID);
        assert_eq!(store.load(ID), None);
    }

    #[test]
    fn corrupt_and_foreign_files_are_fresh_sessions() {
        let (_root, store) = store(Duration::from_secs(60));
        fs::write(store.path(ID), b"{\"format\": tru").unwrap();
        assert_eq!(store.load(ID), None);
        fs::write(store.path(ID), [0xff, 0x00, 0x13]).unwrap();
        assert_eq!(store.load(ID), None);
        // Another session's file copied under this id.
        let other = "ffeeddccbbaa99887766554433221100";
        store.save(other, &changes(1));
        fs::copy(store.path(other), store.path(ID)).unwrap();
        assert_eq!(store.load(ID), None);
        // A future format.
        let text = fs::read_to_string(store.path(other)).unwrap();
        fs::write(
            store.path(other),
            text.replace(FORMAT, "pagestate-session/9"),
        )
        .unwrap();
        assert_eq!(store.load(other), None);
    }

    #[test]
    fn ids_that_are_not_host_made_never_touch_the_disk() {
        let (root, store) = store(Duration::from_secs(60));
        store.save("../escape", &changes(1));
        assert!(!root.path().join("a/escape.json").exists());
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 0);
        assert_eq!(store.load("../escape"), None);
    }

    #[test]
    fn idle_sessions_expire() {
        let (_root, store) = store(Duration::ZERO);
        store.save(ID, &changes(3));
        // Written at least a millisecond ago: older than an idle time of 0.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(store.load(ID), None);
        assert!(!store.path(ID).exists(), "an expired session is deleted");
        // Files left by an earlier process are swept when the store opens.
        store.save(ID, &changes(3));
        std::thread::sleep(Duration::from_millis(5));
        let reopened = DiskStore::open(store.dir(), Duration::ZERO).unwrap();
        assert!(!reopened.path(ID).exists());
    }
}
