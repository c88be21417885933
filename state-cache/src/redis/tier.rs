//! The process-wide side of the Redis tier: pooled connections with
//! timeouts, whether the tier is up, the events thread (subscription,
//! reconnection, events from other processes) and the timer thread (lease
//! renewals, async waiters' deadlines).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use event_listener::Event;
use redis::{Client, Connection, ConnectionLike, ErrorKind, RedisError, RedisResult};

use super::{scripts, MemoryCopy, RedisConfig, Waiting};

/// How often the events thread looks up from an idle subscription: to see
/// whether a tier marked down by a failed command is back.
const TICK: Duration = Duration::from_millis(250);
/// The pause between two attempts to reconnect the subscription.
const RETRY: Duration = Duration::from_millis(250);

/// The process-wide side of the tier: connections, its state, the events
/// subscription and the timer.
pub(super) struct Tier {
    pub(super) config: RedisConfig,
    client: Result<Client, String>,
    idle: Mutex<Vec<Connection>>,
    up: AtomicBool,
    /// Set when an outage was logged, cleared when the tier is back.
    outage_logged: AtomicBool,
    /// Tells this process's events from others'.
    origin: String,
    pub(super) channel: String,
    pub(super) gen_all: String,
    next_token: AtomicU64,
    pub(super) waiters: Mutex<Waiters>,
    pub(super) copies: Mutex<Vec<(u128, &'static dyn MemoryCopy)>>,
    timer: Mutex<Timer>,
    timer_changed: Condvar,
    timer_started: Once,
}

/// The events that processes waiting on a key listen to, by (function
/// identity, key hash), with their listener counts.
pub(super) type Waiters = HashMap<(u128, u128), (Arc<Event>, usize)>;

/// Jobs of the timer thread.
#[derive(Default)]
struct Timer {
    next_id: u64,
    jobs: HashMap<u64, Job>,
}

pub(super) enum Job {
    Renew {
        due: Instant,
        lease_key: String,
        token: String,
    },
    Wake {
        due: Instant,
        event: Arc<Event>,
    },
}

impl Job {
    fn due(&self) -> Instant {
        match self {
            Job::Renew { due, .. } | Job::Wake { due, .. } => *due,
        }
    }
}

impl Tier {
    pub(super) fn new(config: RedisConfig) -> Self {
        let client = Client::open(config.url.as_str())
            .map_err(|error| format!("invalid Redis URL {:?}: {error}", config.url));
        let origin = format!(
            "{:016x}",
            std::hash::RandomState::new().hash_one((std::process::id(), Instant::now()))
        );
        Tier {
            channel: format!("{}events", config.prefix),
            gen_all: format!("{}gen", config.prefix),
            config,
            client,
            idle: Mutex::new(Vec::new()),
            up: AtomicBool::new(false),
            outage_logged: AtomicBool::new(false),
            origin,
            next_token: AtomicU64::new(0),
            waiters: Mutex::new(HashMap::new()),
            copies: Mutex::new(Vec::new()),
            timer: Mutex::new(Timer::default()),
            timer_changed: Condvar::new(),
            timer_started: Once::new(),
        }
    }

    /// Starts the events thread and waits, boundedly, for its subscription.
    pub(super) fn start(&'static self) {
        let (first, subscribed) = sync_channel(1);
        let started = thread::Builder::new()
            .name("pagestate-redis-events".into())
            .spawn(move || self.run_events(first));
        if let Err(error) = started {
            self.went_down(&format!("cannot start the events thread: {error}"));
            return;
        }
        let bound = self.config.connect_timeout + self.config.command_timeout * 2;
        if subscribed.recv_timeout(bound) != Ok(true) {
            self.went_down("no subscription within the connect and command timeouts");
        }
    }

    pub(super) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn connect(&self) -> RedisResult<Connection> {
        let client = self
            .client
            .as_ref()
            .map_err(|_| RedisError::from((ErrorKind::InvalidClientConfig, "invalid Redis URL")))?;
        let conn = client.get_connection_with_timeout(self.config.connect_timeout)?;
        conn.set_read_timeout(Some(self.config.command_timeout))?;
        conn.set_write_timeout(Some(self.config.command_timeout))?;
        Ok(conn)
    }

    /// Runs `run` on a pooled connection; `None` when the tier is down or
    /// the command failed (an outage marks the tier down). A pooled
    /// connection that fails as in an outage may only be stale (its server
    /// restarted since): the command is tried once more on a fresh one.
    /// Every command of the tier can run twice harmlessly.
    pub(super) fn command<T>(&self, run: impl Fn(&mut Connection) -> RedisResult<T>) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        // Popped first: the pool's lock must not live through the command.
        let pooled = lock(&self.idle).pop();
        if let Some(mut pooled) = pooled {
            match run(&mut pooled) {
                Ok(value) => {
                    lock(&self.idle).push(pooled);
                    return Some(value);
                }
                Err(error) if is_outage(&error) => {}
                Err(error) => return self.refused(pooled, &error),
            }
        }
        let mut conn = match self.connect() {
            Ok(conn) => conn,
            Err(error) => {
                self.went_down(&error.to_string());
                return None;
            }
        };
        match run(&mut conn) {
            Ok(value) => {
                lock(&self.idle).push(conn);
                Some(value)
            }
            Err(error) if is_outage(&error) => {
                self.went_down(&error.to_string());
                None
            }
            Err(error) => self.refused(conn, &error),
        }
    }

    /// A command the server refused (a script error, say): the connection
    /// is still good.
    fn refused<T>(&self, conn: Connection, error: &RedisError) -> Option<T> {
        log::debug!(target: "pagestate::redis", "Redis command failed: {error}");
        if conn.is_open() {
            lock(&self.idle).push(conn);
        }
        None
    }

    /// Marks the tier down: calls compute locally until it is back.
    fn went_down(&self, why: &str) {
        self.up.store(false, Ordering::Release);
        lock(&self.idle).clear();
        if !self.outage_logged.swap(true, Ordering::AcqRel) {
            log::warn!(
                target: "pagestate::redis",
                "Redis tier unavailable at {}: {why}; #[cached(persist = \"redis\")] \
                 functions compute locally and cache in memory until it is back",
                self.config.url
            );
        }
        self.wake_all();
    }

    /// Marks the tier up again. Events may have been missed while it was
    /// down: memory copies go, so none outlives a clear made meanwhile.
    fn came_up(&self) {
        if self.is_up() {
            return;
        }
        // Connections from before the outage may lead to a dead server.
        lock(&self.idle).clear();
        if self.up.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.outage_logged.swap(false, Ordering::AcqRel) {
            log::info!(target: "pagestate::redis", "Redis tier at {} is back", self.config.url);
            let copies = lock(&self.copies).clone();
            for (_, copy) in copies {
                copy.drop_all();
            }
        }
        self.wake_all();
    }

    /// The events thread: keeps a subscription, applies events, reconnects.
    fn run_events(&'static self, first: std::sync::mpsc::SyncSender<bool>) {
        let mut first = Some(first);
        loop {
            let error = self.subscribe_and_serve(&mut first);
            self.went_down(&error.to_string());
            if let Some(first) = first.take() {
                let _ = first.send(false);
            }
            thread::sleep(RETRY);
        }
    }

    fn subscribe_and_serve(
        &'static self,
        first: &mut Option<std::sync::mpsc::SyncSender<bool>>,
    ) -> RedisError {
        let mut conn = match self.connect() {
            Ok(conn) => conn,
            Err(error) => return error,
        };
        let mut pubsub = conn.as_pubsub();
        if let Err(error) = pubsub
            .subscribe(&self.channel)
            .and_then(|()| pubsub.set_read_timeout(Some(TICK)))
        {
            return error;
        }
        self.came_up();
        if let Some(first) = first.take() {
            let _ = first.send(true);
        }
        loop {
            match pubsub.get_message() {
                Ok(message) => self.apply(message.get_payload_bytes()),
                Err(error) if error.is_timeout() => {
                    if !self.is_up() && self.probe() {
                        self.came_up();
                    }
                }
                Err(error) => return error,
            }
        }
    }

    /// Whether a fresh connection answers a PING now.
    fn probe(&self) -> bool {
        match self.connect() {
            Ok(mut conn) => redis::cmd("PING").query::<String>(&mut conn).is_ok(),
            Err(_) => false,
        }
    }

    /// `{origin} {kind} {identity} [{key hash}]`
    pub(super) fn message(&self, kind: &str, identity: u128, key_hash: Option<u128>) -> String {
        match key_hash {
            Some(hash) => format!("{} {kind} {identity:032x} {hash:032x}", self.origin),
            None => format!("{} {kind} {identity:032x}", self.origin),
        }
    }

    fn apply(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        let mut parts = text.split(' ');
        let (Some(origin), Some(kind), Some(identity)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let Ok(identity) = u128::from_str_radix(identity, 16) else {
            return;
        };
        let key_hash = parts
            .next()
            .and_then(|hash| u128::from_str_radix(hash, 16).ok());
        let foreign = origin != self.origin;
        match (kind, key_hash) {
            ("done", Some(hash)) => self.wake(identity, hash),
            ("inv", Some(hash)) if foreign => {
                self.each_copy(Some(identity), |copy| copy.drop_key(hash))
            }
            ("clear", None) if foreign => self.each_copy(Some(identity), |copy| copy.drop_all()),
            ("all", None) if foreign => self.each_copy(None, |copy| copy.drop_all()),
            _ => {}
        }
    }

    fn each_copy(&self, identity: Option<u128>, apply: impl Fn(&dyn MemoryCopy)) {
        let copies = lock(&self.copies).clone();
        for (id, copy) in copies {
            if identity.is_none_or(|identity| identity == id) {
                apply(copy);
            }
        }
    }

    pub(super) fn token(&self) -> String {
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.origin)
    }

    pub(super) fn listen(&'static self, identity: u128, key_hash: u128) -> Waiting {
        let key = (identity, key_hash);
        let mut waiters = lock(&self.waiters);
        let (event, listeners) = waiters
            .entry(key)
            .or_insert_with(|| (Arc::new(Event::new()), 0));
        *listeners += 1;
        let event = event.clone();
        let listener = event.listen();
        Waiting {
            tier: self,
            key,
            event,
            listener: Some(listener),
        }
    }

    fn wake(&self, identity: u128, key_hash: u128) {
        if let Some((event, _)) = lock(&self.waiters).get(&(identity, key_hash)) {
            event.notify(usize::MAX);
        }
    }

    pub(super) fn wake_all(&self) {
        for (event, _) in lock(&self.waiters).values() {
            event.notify(usize::MAX);
        }
    }

    pub(super) fn timer_add(&'static self, job: Job) -> u64 {
        self.timer_started.call_once(|| {
            let spawned = thread::Builder::new()
                .name("pagestate-redis-timer".into())
                .spawn(move || self.run_timer());
            if let Err(error) = spawned {
                log::error!(target: "pagestate::redis", "cannot start the Redis timer thread: {error}");
            }
        });
        let mut timer = lock(&self.timer);
        timer.next_id += 1;
        let id = timer.next_id;
        timer.jobs.insert(id, job);
        self.timer_changed.notify_one();
        id
    }

    pub(super) fn timer_remove(&self, id: u64) {
        lock(&self.timer).jobs.remove(&id);
    }

    /// Renews leases and wakes async waiters at their deadlines.
    fn run_timer(&'static self) {
        let renew_every = self.config.lease / 3;
        let mut timer = lock(&self.timer);
        loop {
            let now = Instant::now();
            let mut renewals = Vec::new();
            timer.jobs.retain(|_, job| match job {
                Job::Renew {
                    due,
                    lease_key,
                    token,
                } if *due <= now => {
                    renewals.push((lease_key.clone(), token.clone()));
                    *due = now + renew_every;
                    true
                }
                Job::Wake { due, event } if *due <= now => {
                    event.notify(usize::MAX);
                    false
                }
                _ => true,
            });
            if !renewals.is_empty() {
                drop(timer);
                for (lease_key, token) in renewals {
                    self.command(|conn| {
                        scripts()
                            .renew
                            .key(&lease_key)
                            .arg(&token)
                            .arg(millis(self.config.lease))
                            .invoke::<i64>(conn)
                    });
                }
                timer = lock(&self.timer);
                continue;
            }
            let next = timer.jobs.values().map(Job::due).min();
            timer = match next {
                Some(due) => {
                    let wait = due.saturating_duration_since(now);
                    self.timer_changed
                        .wait_timeout(timer, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .timer_changed
                    .wait(timer)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// A failure of the connection or the server as a whole, rather than of one
/// command.
pub(super) fn is_outage(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.kind() == ErrorKind::InvalidClientConfig
}

pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
