//! How a call finds or computes its value: the hit, the wait for an equal
//! call's computation, and the lead of a new one (single-flight:
//! concurrent calls with an equal key run the body once).
//!
//! The first caller that misses becomes the leader and registers a
//! [`Flight`] under the cache's writer mutex; later callers with the same key
//! find it there and wait on its event (blocking a sync caller, awaiting an
//! async one under any executor). The leader holds a [`Leader`] guard whose
//! `Drop` always runs, on success, on `Err`, on a panic and when an async
//! caller drops its future: it stores the value (if there is one and nobody
//! cleared the key meanwhile), removes the flight and wakes the waiters.
//! Waiters take the leader's value; if there is none, or the key was
//! cleared meanwhile, they start over, and one of them leads the next
//! attempt. A clear takes the flight out of the table at once, so a call
//! after the clear never waits for a computation from before it. Nothing
//! is poisoned.
//!
//! A computation that waits for itself (its body calls the function again
//! with the same key) could never finish. While a leader computes on a
//! thread (a sync body, or one poll of an async one), its flight is marked
//! as running there; a caller on that thread that finds the flight panics
//! instead of waiting forever. The marks cost nothing on the hit path.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use event_listener::{EventListener, Listener};

use super::call::body_ran_twice;
use super::expiry::Moment;
use super::flight::{Flight, Running};
use super::key::{
    erase, unerase, CacheKey, CacheOutput, CacheValue, ErasedKey, ErasedValue, KeyBox, Probe,
    GLOBAL,
};
use super::redis::{Attempt, Lease, Wait};
use super::store::{Cache, RawCache};
use crate::session;

/// What a caller found on the miss path.
enum Lookup {
    Hit(ErasedValue),
    Wait(Arc<Flight>, EventListener),
    Lead(Leader),
}

/// The leader's duty to finish its flight, whatever happens to it.
pub(crate) struct Leader {
    cache: &'static RawCache,
    key: ErasedKey,
    flight: Arc<Flight>,
    expires: Option<Moment>,
    /// The key's lease in Redis while this process computes it
    /// (`persist = "redis"`); dropping it hands the key to other processes.
    lease: Option<Lease>,
}

impl Leader {
    /// Hands `value` to the waiters; `Drop` stores it.
    fn complete(mut self, value: ErasedValue, expires: Option<Moment>) {
        self.expires = expires;
        // The leader is the only writer of its flight's value.
        self.flight.set_value(value);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // The waiters wake even if something below panics.
        let _wake = self.flight.wake_on_drop();
        let cache = self.cache;
        let mut writer = cache.lock();
        writer.flights.finish(&self.key, &self.flight);
        if let Some(value) = self.flight.handed_over() {
            cache.insert_locked(&mut writer, self.key.clone(), value.clone(), self.expires);
        }
        drop(writer);
        // `_wake` drops here. Waiters registered their listeners under the
        // writer lock while the flight was in the table, so none can miss it.
    }
}

/// Counts a call in [`CacheStats::waiting`](super::CacheStats::waiting)
/// while it waits for a flight; the count falls back when this drops: on
/// wake-up, during a panic, and when an async caller drops its future.
/// The waiter's listener is registered before the count rises, so a caller
/// that sees the count knows the waiter will be woken by the flight's end.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::Release);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// Where a call stands after a look at the cache.
pub(crate) enum Step {
    Ready(ErasedValue),
    Wait(Arc<Flight>, EventListener),
    /// Leading here while another process computes the key.
    Remote(Leader, Wait),
    /// Leading: the caller computes.
    Run(Leader),
}

/// The call protocol, on boxed keys and values: compiled once, here.
impl RawCache {
    /// The miss path: a value stored meanwhile, a flight to wait for, or the
    /// lead of a new flight.
    fn lookup(&'static self, key: &ErasedKey) -> Lookup {
        let mut writer = self.lock();
        if let Some(value) = self.get(key) {
            return Lookup::Hit(value);
        }
        if let Some(flight) = writer.flights.get(key) {
            return Lookup::Wait(flight.clone(), flight.listen());
        }
        self.drop_expired_locked(&mut writer, key);
        let flight = writer.flights.start(key);
        drop(writer);
        self.count_miss();
        Lookup::Lead(Leader {
            cache: self,
            key: key.clone(),
            flight,
            expires: None,
            lease: None,
        })
    }

    /// A leader first looks on disk; `Err` gives the lead back when the
    /// value has to be computed.
    fn load_from_disk(&self, leader: Leader) -> Result<ErasedValue, Leader> {
        let Some(disk) = &self.disk else {
            return Err(leader);
        };
        match disk.load(leader.key.stable()) {
            Some((value, expires)) => {
                leader.complete(value.clone(), expires);
                Ok(value)
            }
            None => Err(leader),
        }
    }

    /// Stores the value the leader computed (memory, disk and Redis) and
    /// wakes the waiters; `None`, an outcome that is not cached, only wakes
    /// them.
    pub(crate) fn conclude(&self, mut leader: Leader, value: Option<ErasedValue>) {
        let Some(value) = value else {
            return;
        };
        if let (Some(remote), Some(lease)) = (&self.remote, leader.lease.take()) {
            if !leader.flight.is_cancelled() {
                remote.store(&*value, lease, self.settings.ttl);
            }
        }
        let expires = self.expiry_from_now();
        if let Some(disk) = &self.disk {
            if !leader.flight.is_cancelled() {
                let key = leader.key.stable();
                disk.store(key, &*value, self.settings.ttl);
                // A clear or invalidate cancels the flight before it
                // deletes files: if it did so meanwhile, it may have
                // missed this file.
                if leader.flight.is_cancelled() {
                    disk.remove(key);
                }
            }
        }
        leader.complete(value, expires);
    }

    /// The first look of a call, and the look after a wait.
    pub(crate) fn begin(&'static self, key: &ErasedKey) -> Step {
        if let Some(value) = self.get(key) {
            return Step::Ready(value);
        }
        match self.lookup(key) {
            Lookup::Hit(value) => Step::Ready(value),
            Lookup::Wait(flight, listener) => Step::Wait(flight, listener),
            Lookup::Lead(leader) => self.lead(leader),
        }
    }

    /// A leader looks on disk or in Redis before computing; in Redis it may
    /// find another process computing the key, and wait for it.
    pub(crate) fn lead(&self, leader: Leader) -> Step {
        let mut leader = match self.load_from_disk(leader) {
            Ok(value) => return Step::Ready(value),
            Err(leader) => leader,
        };
        let Some(remote) = &self.remote else {
            return Step::Run(leader);
        };
        match remote.attempt(leader.key.stable()) {
            Attempt::Hit(value, expires) => {
                leader.complete(value.clone(), expires);
                Step::Ready(value)
            }
            Attempt::Lead(lease) => {
                leader.lease = lease;
                Step::Run(leader)
            }
            Attempt::Wait(wait) => Step::Remote(leader, wait),
        }
    }

    /// Panics if `flight` is computing on this thread right now: waiting
    /// for it here would wait forever.
    fn refuse_reentry(&self, flight: &Arc<Flight>) {
        if Running::is_running(flight) {
            reentry_panic(self.settings.name);
        }
    }

    /// The value a finished flight handed over, counted as a hit. A flight
    /// cancelled by a clear, an invalidation or its session's end hands
    /// over nothing: its value was computed from before, and the waiter
    /// starts over.
    fn take_from(&self, flight: &Flight) -> Option<ErasedValue> {
        let value = flight.handed_over()?.clone();
        self.count_hit();
        Some(value)
    }

    /// The miss path of a sync call: a value found or handed over, or
    /// `None` when this call ran `compute` (at most once), which returned
    /// the value to store, if its outcome is cached.
    pub(crate) fn call_missed(
        &'static self,
        key: ErasedKey,
        compute: &mut dyn FnMut() -> Option<ErasedValue>,
    ) -> Option<ErasedValue> {
        let mut step = self.begin(&key);
        loop {
            match step {
                Step::Ready(value) => return Some(value),
                Step::Run(leader) => {
                    // Only one `Run` per call.
                    let value = {
                        let _running = Running::enter(&leader.flight);
                        compute()
                    };
                    self.conclude(leader, value);
                    return None;
                }
                Step::Remote(leader, wait) => {
                    let waiting = Waiting::start(&self.waiting);
                    wait.block();
                    drop(waiting);
                    step = self.lead(leader);
                }
                Step::Wait(flight, listener) => {
                    self.refuse_reentry(&flight);
                    let waiting = Waiting::start(&self.waiting);
                    listener.wait();
                    drop(waiting);
                    if let Some(value) = self.take_from(&flight) {
                        return Some(value);
                    }
                    step = self.begin(&key);
                }
            }
        }
    }
}

/// A [`Step`] of an async call, with the computing future once it leads.
enum Began<Fut> {
    Ready(ErasedValue),
    Wait(Arc<Flight>, EventListener),
    Remote(Leader, Wait),
    Run(Leader, Fut),
}

impl<Fut> Began<Fut> {
    /// Makes the future when `step` leads: `make` runs at most once per
    /// call, since a call that runs returns.
    fn new<F: FnOnce() -> Fut>(step: Step, make: &mut Option<F>) -> Self {
        match step {
            Step::Ready(value) => Began::Ready(value),
            Step::Wait(flight, listener) => Began::Wait(flight, listener),
            Step::Remote(leader, wait) => Began::Remote(leader, wait),
            Step::Run(leader) => match make.take() {
                Some(make) => Began::Run(leader, make()),
                None => body_ran_twice(),
            },
        }
    }
}

/// The typed entry points: what is compiled per key and value type is
/// the boxing of keys and values around the calls of [`RawCache`].
impl<K: CacheKey, V: CacheValue> Cache<K, V> {
    /// `key` in the scope of this call (the caller's session for a
    /// session-scoped cache), boxed for the store.
    #[track_caller]
    #[inline]
    pub(crate) fn boxed(&self, key: K) -> ErasedKey {
        let (session, hash) = self.locate(&key);
        ErasedKey::new(session, hash, key)
    }

    /// The scope of a call now, and `key`'s hash in it.
    #[track_caller]
    #[inline(always)]
    fn locate(&self, key: &K) -> (u64, u64) {
        let raw = self.raw();
        let session = scope_of(raw.settings.session_scoped);
        (session, raw.seed.hash(session, key))
    }

    /// The hit path of a sync call: the cached value for `key`, or the key
    /// boxed for [`call_missed`](Self::call_missed). It comes first and
    /// apart, so that a hit builds nothing for the body.
    #[track_caller]
    #[inline(always)]
    pub(crate) fn hit<O>(&'static self, key: K) -> Result<O, ErasedKey>
    where
        O: CacheOutput<Value = V>,
    {
        let raw = self.raw();
        let (session, hash) = self.locate(&key);
        {
            let guard = raw.guard();
            let probe = Probe {
                session,
                hash,
                key: KeyBox::from_ref(&key),
            };
            if let Some(value) = raw.peek(&probe, &guard) {
                return Ok(O::from_cached(unerase::<V>(&**value).clone()));
            }
        }
        Err(ErasedKey::new(session, hash, key))
    }

    /// The miss path of a sync call; `compute` is called at most once. It
    /// is taken behind `dyn`, and the protocol runs on boxed values, so
    /// little of this is compiled per key and outcome type.
    pub(crate) fn call_missed<O>(&'static self, key: ErasedKey, compute: &mut dyn FnMut() -> O) -> O
    where
        O: CacheOutput<Value = V>,
    {
        let mut outcome = None;
        let found = self.raw().call_missed(key, &mut || {
            let computed = compute();
            let value = computed.cached().map(|value| erase(value.clone()));
            outcome = Some(computed);
            value
        });
        match (outcome, found) {
            (Some(outcome), _) => outcome,
            (None, Some(value)) => O::from_cached(unerase::<V>(&*value).clone()),
            (None, None) => body_ran_twice(),
        }
    }

    /// An `async` call: looks up `key` at once (in the caller's scope, now)
    /// and returns a future that yields the cached value, waits for a
    /// running computation of the same key, or runs `make()`'s future.
    /// `make` runs only if this call leads a computation, and at most once.
    fn start<O, F, Fut>(&'static self, key: ErasedKey, make: F) -> impl Future<Output = O>
    where
        O: CacheOutput<Value = V>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = O>,
    {
        let raw: &'static RawCache = self.raw();
        let mut make = Some(make);
        let first = Began::new(raw.begin(&key), &mut make);
        async move {
            let mut step = first;
            loop {
                match step {
                    Began::Ready(value) => return O::from_cached(unerase::<V>(&*value).clone()),
                    Began::Run(leader, future) => {
                        // Dropping this future drops `leader`: the waiters
                        // wake and one of them computes instead.
                        let mut future = pin!(future);
                        let outcome = std::future::poll_fn(|cx| {
                            let _running = Running::enter(&leader.flight);
                            future.as_mut().poll(cx)
                        })
                        .await;
                        let value = outcome.cached().map(|value| erase(value.clone()));
                        raw.conclude(leader, value);
                        return outcome;
                    }
                    Began::Remote(leader, wait) => {
                        // Dropping this future here drops `leader`: local
                        // waiters take over.
                        let waiting = Waiting::start(&raw.waiting);
                        wait.done().await;
                        drop(waiting);
                        step = Began::new(raw.lead(leader), &mut make);
                    }
                    Began::Wait(flight, listener) => {
                        raw.refuse_reentry(&flight);
                        // Dropping this future here drops `waiting` too.
                        let waiting = Waiting::start(&raw.waiting);
                        listener.await;
                        drop(waiting);
                        if let Some(value) = raw.take_from(&flight) {
                            return O::from_cached(unerase::<V>(&*value).clone());
                        }
                        step = Began::new(raw.begin(&key), &mut make);
                    }
                }
            }
        }
    }

    /// The body of a `#[cached] async fn`: call it inside the function's
    /// future, so the lookup happens on its first poll, like the body would.
    #[doc(hidden)]
    #[track_caller]
    pub fn call_async<O, Fut>(&'static self, key: K, body: Fut) -> impl Future<Output = O>
    where
        O: CacheOutput<Value = V>,
        Fut: Future<Output = O>,
    {
        let key = self.boxed(key);
        self.start(key, move || body)
    }

    /// The eager async entry point, for wrappers that must start work at
    /// call time (such as `#[executor]` under `#[cached]`).
    ///
    /// At call time, in the caller's run context, it resolves the scope,
    /// looks `key` up and, on a miss with no computation of `key` running,
    /// takes the lead and calls `make` (so the computing future exists, and
    /// may already be submitted somewhere, when this returns). A call that
    /// finds a running computation does not call `make` unless that
    /// computation ends without a value (`Err`, panic, dropped future) and
    /// this call leads the retry. Only the `Ok` part of a `Result` outcome is
    /// stored and handed to waiters.
    ///
    /// The returned future is `Send + 'static`; dropping it before it
    /// completes gives up the lead (waiters retry), and it never blocks a
    /// thread.
    #[doc(hidden)]
    #[track_caller]
    pub fn call_eager<O, F, Fut>(
        &'static self,
        key: K,
        make: F,
    ) -> impl Future<Output = O> + Send + 'static
    where
        O: CacheOutput<Value = V> + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        let key = self.boxed(key);
        self.start(key, make)
    }

    /// Drops the entry for `key` in the caller's scope (memory and disk).
    #[doc(hidden)]
    #[track_caller]
    pub fn invalidate(&self, key: K) -> bool {
        let key = self.boxed(key);
        self.raw().remove(&key)
    }
}

/// The scope of a call now: the current session's id for a session-scoped
/// cache, which needs a run context.
#[track_caller]
pub(crate) fn scope_of(session_scoped: bool) -> u64 {
    if !session_scoped {
        return GLOBAL;
    }
    match session::current() {
        Some(session) => session.as_u64(),
        None => no_context_panic(),
    }
}

#[cold]
#[track_caller]
fn reentry_panic(name: &str) -> ! {
    panic!(
        "#[cached] fn {name} called itself with the same arguments while computing them \
         (on the same thread): the inner call would wait for the outer one forever. \
         Call an uncached helper for the inner value, or give the inner call other arguments"
    )
}

#[cold]
#[track_caller]
fn no_context_panic() -> ! {
    panic!(
        "#[cached(scope = \"session\")] was called outside a page run: no ScriptRunContext \
         on this thread. Call it inside `Session::run(|| ...)`, or attach a captured \
         context with `ScriptRunContext::attach` on the thread you spawned"
    )
}
