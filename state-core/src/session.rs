//! User sessions, the run context that ties page code to one of them, and
//! the handles to a session's state.
//!
//! A [`Session`] is one user's view of the app: a browser tab, a UI window, a
//! test. Page code does not receive its session as an argument; it finds it
//! through the thread's current [`ScriptRunContext`], which
//! [`Session::run`] installs for the duration of one page run (Streamlit's
//! `ScriptRunContext`, `get_script_run_ctx` and `add_script_run_ctx`). A
//! [`StateRef`] is a typed handle to one value in one session, which
//! `use_state!` finds through that context.
//!
//! This file owns:
//! - when a session ends: [`Session::close`] empties its state table and
//!   then runs the end hooks, and so does the drop of its last handle (the
//!   hooks themselves, and [`SessionId`]s, are pagestate-cache's, whose
//!   session-scoped caches they serve);
//! - the run context: which context is current on a thread, and how guards
//!   restore it ([`ScriptRunContext::attach`]);
//! - typed access through a [`StateRef`]: a value of another type is never
//!   replaced, a value dropped by an access drops outside the state's lock,
//!   and `init`'s factory runs outside it.
//!
//! `Session`, `ScriptRunContext` and `StateRef` name one another in their
//! public signatures (`Session::run`, `Session::state`, `session()`), so
//! they share this file. What they build on knows nothing about them: the
//! value table with its locks and re-entry checks
//! ([`state`](mod@crate::state)), and the end hooks (pagestate-cache).

use std::any::type_name;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::state::{recent, Address, Closure, Namespace, Slot, StateError, StateMap, Stored};
use pagestate_cache::__private::{run_end_hooks, set_current_session};
pub use pagestate_cache::SessionId;

/// A cheap, clonable handle to one user session.
///
/// Every clone refers to the same session. State created with
/// [`use_state!`](crate::StateRef) and session-scoped cache entries live as long
/// as any handle does (a [`StateRef`] and a captured
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

impl Session {
    /// Starts a new, empty session.
    pub fn new() -> Self {
        // Session-scoped caches find the caller's session through its run
        // context, which needs a session: before this, there is none.
        set_current_session(current_session_id);
        Session {
            inner: Arc::new(SessionInner {
                id: SessionId::next(),
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
    /// The session stays usable and starts over empty: a [`StateRef`]
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

    /// A handle to the state at (`namespace`, `key`) in this session, for
    /// host code that is not running a page of this session.
    pub fn state<'a, T: Send + Sync + 'static>(
        &self,
        namespace: impl Into<Namespace<'a>>,
        key: &str,
    ) -> StateRef<T> {
        StateRef::new(self, namespace.into(), key)
    }

    /// This session's table of states.
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

/// A handle to one value in one session, addressed by (namespace, key).
///
/// Page code gets one from `use_state!` on every rerun; the value behind it
/// survives the reruns. A `StateRef` holds its session, not the thread, so it
/// can be cloned and moved into worker threads; every access is synchronised,
/// and concurrent [`reduce`](Self::reduce) or [`update`](Self::update) calls on
/// one state never lose an update.
///
/// A typed access never replaces or corrupts a value stored under another
/// type: it fails with [`StateError::TypeMismatch`] instead.
///
/// ```
/// use pagestate_core::{Session, StateError};
///
/// let session = Session::new();
/// let todo = session.state::<Vec<String>>("todo-page", "items");
/// assert!(matches!(todo.get(), Err(StateError::Uninitialized { .. })));
/// assert!(todo.init(Vec::new));
/// todo.update(|items| items.push("write docs".to_owned())).unwrap();
/// assert_eq!(todo.with(|items| items.len()), Ok(1));
/// todo.clear();
/// assert!(!todo.is_initialized());
/// ```
pub struct StateRef<T> {
    session: Session,
    slot: Arc<Slot>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> StateRef<T> {
    fn new(session: &Session, namespace: Namespace<'_>, key: &str) -> Self {
        StateRef {
            slot: recent::slot(session.state_map(), namespace.name(), key),
            session: session.clone(),
            _type: PhantomData,
        }
    }

    /// The state's key.
    pub fn key(&self) -> &str {
        self.slot.key()
    }

    /// The state's namespace; `None` is the session-wide one.
    pub fn namespace(&self) -> Option<&str> {
        self.slot.namespace()
    }

    /// The session the state belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// A clone of the current value.
    pub fn get(&self) -> Result<T, StateError>
    where
        T: Clone,
    {
        // `Clone` is not expected to touch the state: no re-entry mark.
        self.read(Closure::Ours, |stored| {
            Ok(self.downcast_ref(stored)?.clone())
        })
    }

    /// Calls `f` with a reference to the current value. The state is locked
    /// for reading meanwhile: `f` may read this same state, but writing to
    /// it would wait forever, so it panics.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, StateError> {
        self.read(Closure::Callers, |stored| Ok(f(self.downcast_ref(stored)?)))
    }

    /// Sets the value, initialising the state if needed.
    ///
    /// Fails with [`StateError::TypeMismatch`], leaving the state as it was,
    /// when it holds a value of another type; [`clear`](Self::clear) it first
    /// to change its type.
    pub fn set(&self, value: T) -> Result<(), StateError> {
        let previous = self.write(Closure::Ours, |stored| match stored {
            // In place: a rerun's `set` allocates nothing.
            Some(current) => match current.value.downcast_mut::<T>() {
                Some(slot) => Ok(Some(std::mem::replace(slot, value))),
                None => Err(self.mismatch(current)),
            },
            None => {
                *stored = Some(Stored::new(value));
                Ok(None)
            }
        })?;
        // Dropped after the lock is released: a value's drop may use state.
        drop(previous);
        Ok(())
    }

    /// Replaces the value with `reducer(value, arg)` and returns the new value.
    ///
    /// The state stays locked from read to write, so concurrent reducers never
    /// lose an update; `reducer` must not touch this same state (it would
    /// wait forever, so it panics). On an
    /// uninitialised state it fails and `reducer` is never called. If
    /// `reducer` panics, the state keeps its previous value.
    ///
    /// ```
    /// # let session = pagestate_core::Session::new();
    /// let total = session.state::<i64>(None, "total");
    /// total.set(2).unwrap();
    /// assert_eq!(total.reduce(|sum, n| sum + n, 3), Ok(5));
    /// ```
    pub fn reduce<A>(&self, reducer: impl FnOnce(T, A) -> T, arg: A) -> Result<T, StateError>
    where
        T: Clone,
    {
        self.update(|value| {
            let next = reducer(value.clone(), arg);
            *value = next.clone();
            next
        })
    }

    /// Calls `f` with a mutable reference to the current value, under the
    /// state's write lock; `f` must not touch this same state (it would wait
    /// forever, so it panics).
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, StateError> {
        self.write(Closure::Callers, |stored| match stored {
            None => Err(self.uninitialized()),
            Some(current) => match current.value.downcast_mut::<T>() {
                Some(value) => Ok(f(value)),
                None => Err(self.mismatch(current)),
            },
        })
    }

    /// Sets the value to `factory()` if the state has none, and returns
    /// whether it did.
    ///
    /// `factory` runs outside the state's lock, so it may itself use state;
    /// if another thread initialises the state first, its value wins and the
    /// factory's result is dropped.
    pub fn init(&self, factory: impl FnOnce() -> T) -> bool {
        if self.slot.has_value() || self.is_initialized() {
            return false;
        }
        let value = factory();
        self.write(Closure::Ours, |stored| {
            if stored.is_some() {
                return false;
            }
            *stored = Some(Stored::new(value));
            true
        })
    }

    /// Whether the state holds a value (of any type).
    pub fn is_initialized(&self) -> bool {
        self.read(Closure::Ours, |stored| stored.is_some())
    }

    /// Removes the value, uninitialising the state. A no-op when it has none.
    pub fn clear(&self) {
        let previous = self.write(Closure::Ours, Option::take);
        drop(previous);
    }

    /// Reads through this handle's slot, or the live one after a close.
    fn read<R>(&self, closure: Closure, f: impl FnOnce(Option<&Stored>) -> R) -> R {
        self.slot.read(self.session.state_map(), closure, f)
    }

    /// Writes through this handle's slot, or the live one after a close.
    fn write<R>(&self, closure: Closure, f: impl FnOnce(&mut Option<Stored>) -> R) -> R {
        self.slot.write(self.session.state_map(), closure, f)
    }

    fn downcast_ref<'s>(&self, stored: Option<&'s Stored>) -> Result<&'s T, StateError> {
        let stored = stored.ok_or_else(|| self.uninitialized())?;
        stored
            .value
            .downcast_ref::<T>()
            .ok_or_else(|| self.mismatch(stored))
    }

    fn uninitialized(&self) -> StateError {
        StateError::Uninitialized {
            namespace: self.namespace().map(Into::into),
            key: self.key().into(),
        }
    }

    fn mismatch(&self, stored: &Stored) -> StateError {
        StateError::TypeMismatch {
            namespace: self.namespace().map(Into::into),
            key: self.key().into(),
            expected: type_name::<T>(),
            found: stored.type_name,
        }
    }
}

impl<T> Clone for StateRef<T> {
    fn clone(&self) -> Self {
        StateRef {
            session: self.session.clone(),
            slot: Arc::clone(&self.slot),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for StateRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateRef")
            .field("session", &self.session.id())
            .field("namespace", &self.slot.namespace())
            .field("key", &self.slot.key())
            .field("type", &type_name::<T>())
            .finish()
    }
}

/// A handle to the state at (`namespace`, `key`) in the current run
/// context's session: the function form of `use_state!`.
///
/// Fails with [`StateError::NoContext`] on a thread without a run context.
///
/// ```
/// use pagestate_core::{state, Session, StateError};
///
/// assert!(matches!(state::<u8>(None, "x"), Err(StateError::NoContext { .. })));
/// Session::new().run(|| {
///     let x = state::<u8>(None, "x").unwrap();
///     x.set(7).unwrap();
///     assert_eq!(x.get(), Ok(7));
/// });
/// ```
pub fn state<'a, T: Send + Sync + 'static>(
    namespace: impl Into<Namespace<'a>>,
    key: &str,
) -> Result<StateRef<T>, StateError> {
    let namespace = namespace.into();
    ScriptRunContext::with_current(|ctx| match ctx {
        Some(ctx) => Ok(StateRef::new(ctx.session(), namespace, key)),
        None => Err(StateError::NoContext {
            namespace: namespace.name().map(Into::into),
            key: key.into(),
        }),
    })
}

/// `use_state!` without a factory.
#[doc(hidden)]
#[track_caller]
pub fn use_state<T: Send + Sync + 'static>(namespace: Namespace<'_>, key: &str) -> StateRef<T> {
    match ScriptRunContext::with_current(|ctx| {
        ctx.map(|ctx| StateRef::new(ctx.session(), namespace, key))
    }) {
        Some(state) => state,
        None => no_context_panic(namespace, key),
    }
}

/// `use_state!` with a factory: initialised on first use.
#[doc(hidden)]
#[track_caller]
pub fn use_state_init<T: Send + Sync + 'static, F: FnOnce() -> T>(
    namespace: Namespace<'_>,
    key: &str,
    factory: F,
) -> StateRef<T> {
    let state = use_state::<T>(namespace, key);
    state.init(factory);
    state
}

#[cold]
#[track_caller]
fn no_context_panic(namespace: Namespace<'_>, key: &str) -> ! {
    panic!(
        "use_state!: {} was used outside a page run: no ScriptRunContext on this thread. \
         Run the page inside `Session::run(|| ...)`, or attach a captured context with \
         `ScriptRunContext::attach` on the thread you spawned",
        Address(namespace.name(), key)
    )
}

/// The session of the calling thread's run context, for session-scoped
/// caches.
fn current_session_id() -> Option<SessionId> {
    ScriptRunContext::with_current(|ctx| ctx.map(|ctx| ctx.session().id()))
}
