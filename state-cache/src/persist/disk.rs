//! The disk tier of one `persist = "disk"` function: files written
//! atomically and privately, read without following symlinks (see the
//! parent module for the layout and the rules).

use std::collections::hash_map::RandomState;
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::envelope::Envelope;
use super::super::expiry::Moment;
use super::super::key::{CacheValue, DynValue, ErasedValue, PersistValue};
use super::{entry_path, function_dir, remove_entries, Tier};

/// The persisted side of one function's cache, whose values are `V`.
///
/// Generic in `V` although only its envelope needs the type: so its code
/// is compiled where a `persist = "disk"` function creates one, and is not
/// in this library's objects, where the code of every cache would reach it
/// through shared generic instances.
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
        let (temp, mut file) = Self::create_temp(&self.dir, key_hash)?;
        // The rename replaces whatever has the entry's name, a symlink
        // included, without following it.
        let written = file
            .write_all(contents)
            .and_then(|()| fs::rename(&temp, self.path(key_hash)));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// A new file in `dir` under an unpredictable name, created exclusively
    /// (`O_CREAT | O_EXCL`: a file or symlink planted under that name is
    /// never opened, let alone written through) and, on Unix, private to
    /// the user (0600).
    fn create_temp(dir: &Path, key_hash: u128) -> std::io::Result<(PathBuf, File)> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut attempts = 0;
        loop {
            let path = dir.join(format!(".{key_hash:032x}.{:016x}.tmp", unpredictable()));
            match options.open(&path) {
                Ok(file) => return Ok((path, file)),
                // Someone else's file: another name.
                Err(error) if error.kind() == ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                Err(error) => return Err(error),
            }
        }
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

/// A number nobody else can predict: std's `RandomState` keys SipHash from
/// the operating system's random source; a counter and the clock make each
/// call's input new.
fn unpredictable() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_files_get_fresh_private_names_and_a_failed_write_leaves_none() {
        let base = std::env::temp_dir().join(format!("pagestate-disk-temp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let disk = Disk::<u64>::new(&base, 9);
        Disk::<u64>::create_private_dir(&disk.dir).unwrap();
        let (first, _) = Disk::<u64>::create_temp(&disk.dir, 5).unwrap();
        let (second, _) = Disk::<u64>::create_temp(&disk.dir, 5).unwrap();
        assert_ne!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&first).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_file(&first).unwrap();
        fs::remove_file(&second).unwrap();
        // The entry's name is taken by a directory: the rename fails, and
        // the temporary file goes.
        fs::create_dir(disk.path(5)).unwrap();
        assert!(disk.write_atomically(5, b"value").is_err());
        let left: Vec<_> = fs::read_dir(&disk.dir)
            .unwrap()
            .flatten()
            .map(|file| file.file_name())
            .filter(|name| name.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        fs::remove_dir_all(&base).unwrap();
    }
}
