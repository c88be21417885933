//! User sessions and the run context that ties page code to one of them.
//!
//! A [`Session`] is one user's view of the app: a browser tab, a UI window, a
//! test. Page code does not receive its session as an argument; it finds it
//! through the thread's current [`ScriptRunContext`], which
//! [`Session::run`] installs for the duration of one page run (Streamlit's
//! `ScriptRunContext`, `get_script_run_ctx` and `add_script_run_ctx`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::state::StateMap;

/// A cheap, clonable handle to one user session.
///
/// Every clone refers to the same session. State created with
/// [`use_state!`](crate::StateRef) and session-scoped cache entries live as long
/// as any handle does (a [`StateRef`](crate::StateRef) and a captured
/// [`ScriptRunContext`] count as handles); dropping the last handle, or calling
/// [`Session::close`], frees them.
///
/// ```
/// use pagestate_core::Session;
///
/// let session = Session::new();
/// let count = session.state::<i64>(None, "count");
/// count.set(41).unwrap();
/// count.reduce(|n, by| n + by, 1).unwrap();
/// assert_eq!(session.state::<i64>(None, "count").get(), Ok(42));
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    id: SessionId,
    state: StateMap,
}

/// The identity of a [`Session`], unique within the process and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u64);

impl SessionId {
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

impl Session {
    /// Starts a new, empty session.
    pub fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Session {
            inner: Arc::new(SessionInner {
                id: SessionId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
                state: StateMap::new(),
            }),
        }
    }

    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.inner.id
    }

    /// Runs `page` with this session's run context current on the calling
    /// thread, then restores whatever context the thread had before, also
    /// when `page` panics.
    ///
    /// This is one rerun of the page: `use_state!` and session-scoped caches
    /// inside `page` use this session.
    ///
    /// ```
    /// use pagestate_core::{ScriptRunContext, Session};
    ///
    /// let session = Session::new();
    /// let seen = session.run(|| ScriptRunContext::current().unwrap().session().id());
    /// assert_eq!(seen, session.id());
    /// assert!(ScriptRunContext::current().is_none());
    /// ```
    pub fn run<R>(&self, page: impl FnOnce() -> R) -> R {
        let _guard = ScriptRunContext::new(self.clone()).attach();
        page()
    }

    /// Frees all of this session's state and session-scoped cache entries now,
    /// without waiting for the last handle to drop.
    ///
    /// The session stays usable and starts over empty: a [`StateRef`](crate::StateRef)
    /// taken before `close` reads as uninitialised, and a value set through it
    /// afterwards is visible to every other handle.
    ///
    /// # Panics
    ///
    /// If called inside an `update`, `reduce` or `with` closure of one of
    /// this session's states: that closure holds the state's lock, which
    /// `close` would wait for forever. Close after the closure returns.
    #[track_caller]
    pub fn close(&self) {
        self.inner.state.clear();
        run_end_hooks(self.inner.id);
    }

    pub(crate) fn state_map(&self) -> &StateMap {
        &self.inner.state
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Session {}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        run_end_hooks(self.id);
    }
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

fn run_end_hooks(id: SessionId) {
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

thread_local! {
    /// The context current on this thread: the last of `ATTACHED`, kept
    /// apart so that the lookup on every state access stays one borrow.
    static CURRENT: RefCell<Option<ScriptRunContext>> = const { RefCell::new(None) };
    /// The contexts attached on this thread whose guards are still alive,
    /// oldest first, each with its guard's number.
    static ATTACHED: RefCell<Vec<(u64, ScriptRunContext)>> = const { RefCell::new(Vec::new()) };
    /// Numbers the guards of this thread.
    static NEXT_GUARD: Cell<u64> = const { Cell::new(0) };
}

/// The context of one page run: which session the code on this thread serves.
///
/// [`Session::run`] makes a context current for the duration of a page run.
/// To use `use_state!` or a session-scoped cache from a thread you spawn
/// yourself, capture the context on the page thread and [`attach`](Self::attach)
/// it on the other one:
///
/// ```
/// use pagestate_core::{ScriptRunContext, Session};
///
/// let session = Session::new();
/// session.run(|| {
///     let ctx = ScriptRunContext::current().expect("inside a page run");
///     std::thread::spawn(move || {
///         let _guard = ctx.attach();
///         assert!(ScriptRunContext::current().is_some());
///     })
///     .join()
///     .unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct ScriptRunContext {
    session: Session,
}

impl ScriptRunContext {
    /// A context for a page run of `session`.
    pub fn new(session: Session) -> Self {
        ScriptRunContext { session }
    }

    /// The context current on this thread, if any.
    pub fn current() -> Option<ScriptRunContext> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Calls `f` with the current context without cloning it.
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&ScriptRunContext>) -> R) -> R {
        CURRENT.with(|current| f(current.borrow().as_ref()))
    }

    /// The session this context serves.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Makes this context current on the calling thread until the returned
    /// guard drops, which detaches it again, also during a panic.
    ///
    /// Guards restore by identity: the current context is always the one of
    /// the most recently attached guard still alive. Dropped in reverse
    /// order, as scopes do, each drop restores the context before it; a
    /// guard dropped out of order detaches only its own context, and the
    /// context attached after it stays current.
    ///
    /// ```
    /// use pagestate_core::{ScriptRunContext, Session};
    ///
    /// let (a, b) = (Session::new(), Session::new());
    /// let guard_a = ScriptRunContext::new(a.clone()).attach();
    /// let guard_b = ScriptRunContext::new(b.clone()).attach();
    /// drop(guard_a); // out of order: `b`'s guard is still alive
    /// assert_eq!(ScriptRunContext::current().unwrap().session(), &b);
    /// drop(guard_b);
    /// assert!(ScriptRunContext::current().is_none());
    /// ```
    #[must_use = "the context is detached again as soon as the guard drops"]
    pub fn attach(&self) -> ContextGuard {
        let id = NEXT_GUARD.with(|next| {
            let id = next.get();
            next.set(id + 1);
            id
        });
        ATTACHED.with(|attached| attached.borrow_mut().push((id, self.clone())));
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        // The previous context is still in `ATTACHED`: this handle is spare,
        // and may drop here, outside the borrow.
        drop(previous);
        ContextGuard {
            id,
            _not_send: PhantomData,
        }
    }
}

/// Keeps a [`ScriptRunContext`] attached to the current thread; see
/// [`ScriptRunContext::attach`].
///
/// The guard belongs to the thread it was created on, so it is not `Send`.
#[must_use = "the context is detached again as soon as the guard drops"]
pub struct ContextGuard {
    /// This guard's number in the thread's `ATTACHED` list.
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        // `try_with`: during thread teardown the lists may already be gone,
        // and then there is nothing left to restore. The detached contexts
        // are dropped after the borrows end: one may be its session's last
        // handle, whose end hooks may touch these lists again.
        let Ok(Some(detached)) = ATTACHED.try_with(|attached| {
            let mut attached = attached.borrow_mut();
            let at = attached.iter().rposition(|(id, _)| *id == self.id)?;
            let (_, detached) = attached.remove(at);
            let now = attached.last().map(|(_, ctx)| ctx.clone());
            Some((detached, now))
        }) else {
            return;
        };
        let (detached, now) = detached;
        let replaced = CURRENT.try_with(|current| current.replace(now));
        drop(replaced);
        drop(detached);
    }
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attached = ATTACHED
            .try_with(|attached| {
                attached
                    .borrow()
                    .iter()
                    .find(|(id, _)| *id == self.id)
                    .map(|(_, ctx)| ctx.session().id())
            })
            .ok()
            .flatten();
        f.debug_struct("ContextGuard")
            .field("session", &attached)
            .finish()
    }
}
