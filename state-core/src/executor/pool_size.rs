//! The size of a pool: set by the application before the pool starts, then
//! fixed.

use std::sync::{Mutex, PoisonError};

use super::error::AlreadyStarted;

/// A pool's size: configured, or a default, and fixed once the pool starts.
pub(super) struct PoolSize {
    setting: Mutex<Setting>,
    default: fn() -> usize,
}

struct Setting {
    configured: Option<usize>,
    started: bool,
}

impl PoolSize {
    pub(super) const fn new(default: fn() -> usize) -> Self {
        PoolSize {
            setting: Mutex::new(Setting {
                configured: None,
                started: false,
            }),
            default,
        }
    }

    /// Sets the size, unless the pool has started.
    pub(super) fn configure(&self, size: usize) -> Result<(), AlreadyStarted> {
        let mut setting = self.setting.lock().unwrap_or_else(PoisonError::into_inner);
        if setting.started {
            return Err(AlreadyStarted);
        }
        setting.configured = Some(size);
        Ok(())
    }

    /// The size the pool has, or will have if it starts now.
    pub(super) fn get(&self) -> usize {
        let setting = self.setting.lock().unwrap_or_else(PoisonError::into_inner);
        setting.configured.unwrap_or_else(self.default)
    }

    /// Marks the pool as started and returns its size. Under the lock that
    /// `configure` takes, so a concurrent `configure` either lands before the
    /// start or is refused.
    pub(super) fn start(&self) -> usize {
        let mut setting = self.setting.lock().unwrap_or_else(PoisonError::into_inner);
        setting.started = true;
        setting.configured.unwrap_or_else(self.default)
    }
}
