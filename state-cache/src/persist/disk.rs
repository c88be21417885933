//! The disk tier of one `persist = "disk"` function: files written
//! atomically and privately, read without following symlinks (see the
//! parent module for the layout and the rules).

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::envelope::Envelope;
use super::super::expiry::Moment;
use super::super::key::{CacheValue, DynValue, ErasedValue, PersistValue};
use super::{entry_path, function_dir, remove_entries, Tier};

/// The persisted side of one function's cache, whose values are `V`.
///
/// Generic in `V` although only its envelope needs the type: so its code
/// (and `tempfile`'s) is compiled where a `persist = "disk"` function
/// creates one, and is not in this library's objects, where the code of
/// every cache would reach it through shared generic instances.
pub(crate) struct Disk<V> {
    dir: PathBuf,
    envelope: Envelope,
    values: PhantomData<fn() -> V>,
}

impl<V: CacheValue + PersistValue> Disk<V> {
    /// The disk side of the function with `identity`.
    pub(crate) fn new(base: &Path, identity: u128) -> Self {
        Disk {
            dir: function_dir(base, identity),
            envelope: Envelope::new::<V>(identity),
            values: PhantomData,
        }
    }

    fn path(&self, key_hash: u128) -> PathBuf {
        entry_path(&self.dir, key_hash)
    }

    fn write_atomically(&self, key_hash: u128, contents: &[u8]) -> std::io::Result<()> {
        Self::create_private_dir(&self.dir)?;
        // Created with O_EXCL (a planted file or symlink is never opened),
        // mode 0600, under a random name; deleted if anything below fails.
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{key_hash:032x}."))
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        temp.write_all(contents)?;
        // The rename replaces whatever has the entry's name, a symlink
        // included, without following it.
        temp.persist(self.path(key_hash))
            .map(drop)
            .map_err(|error| error.error)
    }

    /// Creates `dir` and its missing parents, private to the user on Unix
    /// (0700); an existing directory keeps its permissions.
    fn create_private_dir(dir: &Path) -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)
    }

    /// Reads the file at `path`; a symlink there is an error, not followed.
    fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
        let mut options = fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        let mut bytes = Vec::new();
        options.open(path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

impl<V: CacheValue + PersistValue> Tier for Disk<V> {
    fn load(&self, key_hash: u128) -> Option<(ErasedValue, Option<Moment>)> {
        let path = self.path(key_hash);
        let bytes = match Self::read_no_follow(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::NotFound => return None,
            Err(_) => {
                let _ = fs::remove_file(&path);
                return None;
            }
        };
        let loaded = self.envelope.open(&bytes, key_hash);
        if loaded.is_none() {
            // Corrupt, foreign or expired: make room for a fresh value.
            let _ = fs::remove_file(&path);
        }
        loaded
    }

    fn store(&self, key_hash: u128, value: &dyn DynValue, ttl: Option<Duration>) {
        let Some(file) = self.envelope.seal(key_hash, value, ttl) else {
            return;
        };
        let _ = self.write_atomically(key_hash, &file);
    }

    fn clear(&self) {
        remove_entries(&self.dir);
    }

    fn remove(&self, key_hash: u128) -> bool {
        fs::remove_file(self.path(key_hash)).is_ok()
    }
}
