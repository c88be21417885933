//! A session's identity, the session a call runs in, and the end of a
//! session's life, as the stores keyed by session see them.
//!
//! This file owns:
//! - [`SessionId`]s: unique within the process, never reused;
//! - the current session: pagestate-core, which owns sessions and run
//!   contexts, tells this crate how to find the session of the calling
//!   thread ([`set_current_session`]);
//! - the end hooks: what runs when a session ends (`Session::close`, or the
//!   drop of its last handle), so that caches can free its entries; the
//!   hooks run unlocked, and while a thread holds a [`DeferSessionEnds`]
//!   (a cache under its own lock) they wait until the last one drops.
//!
//! It knows nothing about `Session` itself: pagestate-core decides when a
//! session ends and calls [`run_end_hooks`].

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The identity of a session (pagestate's `Session`), unique within the
/// process and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u64);

impl SessionId {
    /// A new id, never handed out before.
    #[doc(hidden)]
    pub fn next() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        SessionId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind this id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session-{}", self.0)
    }
}

/// How to find the session of the calling thread's run context, set by
/// pagestate-core when it creates its first session: before that no
/// thread can be in a session.
static CURRENT: OnceLock<fn() -> Option<SessionId>> = OnceLock::new();

/// Tells the caches how to find the session of the calling thread's run
/// context. The first call wins; pagestate-core makes it when it creates a
/// session, so every thread that can be in a session sees it.
pub fn set_current_session(current: fn() -> Option<SessionId>) {
    let _ = CURRENT.set(current);
}

/// The session of the calling thread's run context, if it has one.
pub(crate) fn current() -> Option<SessionId> {
    CURRENT.get().and_then(|current| current())
}

type EndHook = Arc<dyn Fn(SessionId) + Send + Sync>;

/// The hooks, as a snapshot that a session end takes without copying.
static END_HOOKS: Mutex<Option<Arc<[EndHook]>>> = Mutex::new(None);

/// Registers `hook` to run whenever a session ends (its last handle drops or
/// it is closed), so that stores keyed by [`SessionId`] can free its entries.
pub(crate) fn on_session_end(hook: impl Fn(SessionId) + Send + Sync + 'static) {
    let mut hooks = END_HOOKS.lock().unwrap_or_else(PoisonError::into_inner);
    let mut updated = hooks.as_deref().unwrap_or_default().to_vec();
    updated.push(Arc::new(hook));
    *hooks = Some(updated.into());
}

thread_local! {
    /// How many [`DeferSessionEnds`] guards this thread holds, and the
    /// sessions that ended meanwhile.
    static DEFERRED: RefCell<(usize, Vec<SessionId>)> = const { RefCell::new((0, Vec::new())) };
}

/// While held, sessions that end on this thread run their end hooks only
/// when the last such guard drops.
///
/// A cache holds one while it holds its lock: a value it drops (an evicted,
/// replaced or purged entry) may be the last handle of a session, whose end
/// hooks lock the caches again and would deadlock on that lock.
pub(crate) struct DeferSessionEnds(PhantomData<*const ()>);

impl DeferSessionEnds {
    /// Starts deferring the session ends of this thread.
    pub(crate) fn new() -> Self {
        let _ = DEFERRED.try_with(|deferred| deferred.borrow_mut().0 += 1);
        DeferSessionEnds(PhantomData)
    }
}

impl Drop for DeferSessionEnds {
    fn drop(&mut self) {
        let ended = DEFERRED
            .try_with(|deferred| {
                let mut deferred = deferred.borrow_mut();
                deferred.0 -= 1;
                if deferred.0 == 0 {
                    std::mem::take(&mut deferred.1)
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default();
        for id in ended {
            run_end_hooks(id);
        }
    }
}

/// Runs the end hooks for the session `id`, now or, under a
/// `DeferSessionEnds`, when the thread's last one drops.
pub fn run_end_hooks(id: SessionId) {
    let deferred = DEFERRED
        .try_with(|deferred| {
            let mut deferred = deferred.borrow_mut();
            if deferred.0 > 0 {
                deferred.1.push(id);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if deferred {
        return;
    }
    // Run the hooks unlocked: freeing entries may drop the last handle of
    // another session, which runs these hooks again.
    let hooks = END_HOOKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for hook in hooks.as_deref().unwrap_or_default() {
        hook(id);
    }
}
