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
//! unpredictable name, so a symlink planted in the directory is
//! never written through; listing and deleting never follow symlinks.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::expiry::Moment;
use super::key::{DynValue, ErasedValue};

// The disk tier of a function apart from the directory functions below:
// a module of its own is an object file of its own in the library, which
// a binary that persists nothing never links,
// although it links the directory functions (`clear_all_caches`).
mod disk;

pub(crate) use disk::Disk;

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

/// Whether `path` is a directory itself, not a symlink to one.
pub(super) fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_dir())
}

/// The directory of the function with `identity` under `base`.
pub(crate) fn function_dir(base: &Path, identity: u128) -> PathBuf {
    base.join(format!("{identity:032x}"))
}

pub(super) fn entry_path(dir: &Path, key_hash: u128) -> PathBuf {
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
pub(super) fn remove_entries(dir: &Path) {
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
