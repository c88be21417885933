//! `persist = "disk"`: where a cached value is written, how a file is laid
//! out, and why a file is ignored.
//!
//! Each function has a directory named after its identity (a hash of its
//! module path, name, and the tokens of its options, signature and body),
//! so editing the function starts a fresh directory. Each key has one file,
//! named after a stable 128-bit hash of the key, holding the value sealed
//! as [`envelope`](super::envelope) describes (the Redis tier stores the
//! same bytes). A file is written to a temporary name in the same
//! directory and renamed into place, so a reader sees either the old file or
//! the whole new one; the checksum covers what the rename cannot (a crash
//! that loses data the OS had not written yet). Any file that is unreadable,
//! corrupt, of another format version, of another function or key, or
//! expired is a miss and is deleted, never a panic. Disk errors on write are
//! ignored: the value is still cached in memory.
//!
//! Cached values are often API responses or tokens, so on Unix the
//! directories this module creates are private to the user (0700) and so
//! are the entry files (0600); a directory that already exists is used with
//! the permissions it has. Temporary files are created exclusively under an
//! unpredictable name (`tempfile`), so a symlink planted in the directory is
//! never written through; listing and deleting never follow symlinks.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::envelope::Envelope;
use super::expiry::Moment;
use super::key::{CacheValue, DynValue, ErasedValue, PersistValue};

const EXTENSION: &str = "entry";

/// The environment variable that overrides the cache directory.
pub(crate) const DIR_VAR: &str = "PAGESTATE_CACHE_DIR";

/// `PAGESTATE_CACHE_DIR`, or `.pagestate/cache` under the working directory.
pub(crate) fn cache_dir() -> PathBuf {
    match std::env::var_os(DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            cwd.join(".pagestate").join("cache")
        }
    }
}

/// The persisted side of one cache, as its store sees it. It sits behind
/// `dyn`, made only by `persist = "disk"` functions, so that a store without
/// one names none of the disk code (files, envelopes, the codec): the
/// binary of an application that persists nothing does not link it.
/// Keys are named by their stable hash (`ErasedKey::stable`).
pub(crate) trait Tier: Send + Sync {
    /// The live value stored for `key`, with its expiry on the cache's clock.
    fn load(&self, key: u128) -> Option<(ErasedValue, Option<Moment>)>;

    /// Writes `value` for `key`, atomically; failures leave no file behind.
    fn store(&self, key: u128, value: &dyn DynValue, ttl: Option<Duration>);

    /// Deletes the file for `key`; `true` if there was one.
    fn remove(&self, key: u128) -> bool;

    /// Deletes every entry file of this function.
    fn clear(&self);
}

/// The persisted side of one function's cache.
pub(crate) struct Disk {
    dir: PathBuf,
    envelope: Envelope,
}

impl Disk {
    /// The disk side of the function with `identity`, whose values are `V`.
    pub(crate) fn new<V: CacheValue + PersistValue>(base: &Path, identity: u128) -> Self {
        Disk {
            dir: function_dir(base, identity),
            envelope: Envelope::new::<V>(identity),
        }
    }

    fn path(&self, key_hash: u128) -> PathBuf {
        entry_path(&self.dir, key_hash)
    }

    fn write_atomically(&self, key_hash: u128, contents: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
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
}

impl Tier for Disk {
    fn load(&self, key_hash: u128) -> Option<(ErasedValue, Option<Moment>)> {
        let path = self.path(key_hash);
        let bytes = match read_no_follow(&path) {
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

/// Whether `path` is a directory itself, not a symlink to one.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_dir())
}

/// The directory of the function with `identity` under `base`.
pub(crate) fn function_dir(base: &Path, identity: u128) -> PathBuf {
    base.join(format!("{identity:032x}"))
}

fn entry_path(dir: &Path, key_hash: u128) -> PathBuf {
    dir.join(format!("{key_hash:032x}.{EXTENSION}"))
}

/// Deletes the file for the key hashed `key_hash` of the function with
/// `identity`, for a cache not created in this process; `true` if there was
/// one.
pub(crate) fn remove_entry(base: &Path, identity: u128, key_hash: u128) -> bool {
    fs::remove_file(entry_path(&function_dir(base, identity), key_hash)).is_ok()
}

/// Deletes the entry files of one function.
pub(crate) fn clear_function(base: &Path, identity: u128) {
    remove_entries(&function_dir(base, identity));
}

/// Deletes the entry files of every function under `base`, including those
/// of functions not called in this process. Only names this module writes
/// are touched.
pub(crate) fn clear_all(base: &Path) {
    let Ok(dirs) = fs::read_dir(base) else {
        return;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name();
        let name = name.to_string_lossy();
        // The entry's own type: a symlink named like a function directory
        // is not a directory here, and is left alone.
        let is_dir = dir.file_type().is_ok_and(|kind| kind.is_dir());
        if is_dir && name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            remove_entries(&dir.path());
        }
    }
}

/// Deletes the entry and temporary files in the function directory `dir`,
/// unless `dir` is a symlink. Deleting a symlink that is named like an
/// entry deletes the link, never its target.
fn remove_entries(dir: &Path) {
    if !is_real_dir(dir) {
        return;
    }
    let Ok(files) = fs::read_dir(dir) else {
        return;
    };
    for file in files.flatten() {
        let path = file.path();
        let ours = path
            .extension()
            .is_some_and(|ext| ext == EXTENSION || ext == "tmp");
        if ours && !file.file_type().is_ok_and(|kind| kind.is_dir()) {
            let _ = fs::remove_file(&path);
        }
    }
    // Succeeds only if nothing else is left in it.
    let _ = fs::remove_dir(dir);
}
