//! When a cached value expires, read off a clock cheap enough for the hit
//! path.
//!
//! `Instant::now()` costs about 22 ns here (a full `clock_gettime`), more
//! than the rest of a hit. On Linux the coarse monotonic clock costs about
//! 3 ns, at the price of a resolution of one scheduler tick (1 to 4 ms): an
//! entry may live that much shorter or longer than its ttl, which a cache
//! can afford. Other platforms use `Instant`.

use std::time::Duration;

/// A point in time on the cache's clock, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Moment(u64);

impl Moment {
    #[inline]
    pub(crate) fn now() -> Self {
        Moment(clock::now_nanos())
    }

    /// `ttl` from now.
    pub(crate) fn after(ttl: Duration) -> Self {
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        Moment(Moment::now().0.saturating_add(ttl))
    }

    /// Whether this moment has come.
    #[inline]
    pub(crate) fn passed(self) -> bool {
        Moment::now() >= self
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod clock {
    #[inline]
    pub(super) fn now_nanos() -> u64 {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable timespec; the coarse monotonic
        // clock exists on every Linux since 2.6.32 and cannot fail with it.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
        (now.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(now.tv_nsec as u64)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod clock {
    use std::sync::OnceLock;
    use std::time::Instant;

    #[inline]
    pub(super) fn now_nanos() -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_move_forward_and_expire() {
        let soon = Moment::after(Duration::from_millis(30));
        let later = Moment::after(Duration::from_secs(3600));
        assert!(soon < later);
        assert!(!later.passed());
        std::thread::sleep(Duration::from_millis(100));
        assert!(soon.passed());
    }
}
