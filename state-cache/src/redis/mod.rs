//! `persist = "redis"`: a tier shared by every process connected to one
//! Redis server, between a function's memory and its body.
//!
//! A memory miss reads Redis before computing; a computed `Ok` value is
//! written to both. Values are sealed as on disk ([`envelope`](super::envelope)),
//! under keys of a configurable prefix (`pagestate:` by default):
//!
//! ```text
//! {prefix}{identity:032x}:{key hash:032x}         the sealed value (PX = ttl)
//! {prefix}{identity:032x}:{key hash:032x}:lease   the computing process's token (PX = lease)
//! {prefix}{identity:032x}:gen                     the function's generation (INCR by clear/invalidate)
//! {prefix}gen                                     the generation of all functions (clear_all_caches)
//! {prefix}events                                  the pub/sub channel
//! ```
//!
//! **Single-flight across processes.** Inside a process, the flight table
//! already lets one caller per key through. That caller (a leader) reads
//! the value, and if there is none, claims the key's lease (`SET NX PX`) in
//! the same script. The process holding the lease computes, renews the
//! lease from a timer thread while the body runs, then stores the value,
//! deletes the lease and publishes `done` in one script. A process that
//! finds the lease taken waits for that `done` message, or at the latest
//! until the lease would expire, and tries again: a process killed while
//! computing delays the others by at most one lease.
//!
//! **Clears.** `clear`, `invalidate` and `clear_all_caches` bump a
//! generation, delete the values and publish an event; every process drops
//! its memory copies on the event. A lease holder stores its value only if
//! the generations it read when claiming are unchanged, so a computation
//! that raced a clear anywhere never stores a stale value.
//!
//! **Outages** ([`tier`]: connections, the events and timer threads).
//! Connections are synchronous with bounded connect and
//! command timeouts. The first failure marks the tier down (logged once, at
//! `warn`); while down, calls compute locally and cache in memory only,
//! without touching the network. The events thread reconnects by itself;
//! when the tier is back (logged at `info`) every memory copy is dropped,
//! since events may have been missed meanwhile.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener, Listener};
use redis::{Connection, RedisResult, Script, Value};

mod tier;

use self::tier::{is_outage, lock, millis, Job, Tier};
use super::envelope::Envelope;
use super::expiry::Moment;
use super::key::{CacheValue, DynValue, ErasedValue, PersistValue};

/// The environment variable naming the Redis server.
pub const URL_VAR: &str = "PAGESTATE_REDIS_URL";
/// The environment variable that overrides the key prefix.
pub const PREFIX_VAR: &str = "PAGESTATE_REDIS_PREFIX";
const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
const DEFAULT_PREFIX: &str = "pagestate:";

/// Margin added to a lease's remaining time before a waiter looks again.
const LEASE_MARGIN: Duration = Duration::from_millis(5);

/// Settings of the Redis tier, taken when a `persist = "redis"` function is
/// first used: from the environment ([`RedisConfig::from_env`]) unless
/// [`RedisTier::configure`] was called before.
///
/// ```
/// use std::time::Duration;
/// use pagestate_cache::RedisConfig;
///
/// let config = RedisConfig::from_env()
///     .url("redis://cache.internal:6379/2")
///     .prefix("reports-app:")
///     .command_timeout(Duration::from_millis(100));
/// assert_eq!(config.prefix, "reports-app:");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The server, as a `redis://` (or `redis+unix://`) URL; default
    /// `PAGESTATE_REDIS_URL`, else `redis://127.0.0.1:6379`.
    pub url: String,
    /// Prepended to every key and channel name, so that several apps can
    /// share a server; default `PAGESTATE_REDIS_PREFIX`, else `pagestate:`.
    pub prefix: String,
    /// The longest wait for a connection; default 250 ms.
    pub connect_timeout: Duration,
    /// The longest wait for one command's reply; default 250 ms. A command
    /// that takes longer marks the tier down.
    pub command_timeout: Duration,
    /// How long a computing process's claim on a key lasts without being
    /// renewed (it is renewed every third of it while the body runs): the
    /// longest other processes wait when the computing process dies.
    /// Default 10 s.
    pub lease: Duration,
}

impl RedisConfig {
    /// The defaults, with the URL and prefix from the environment.
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| match std::env::var(name) {
            Ok(value) if !value.is_empty() => value,
            _ => default.to_owned(),
        };
        RedisConfig {
            url: var(URL_VAR, DEFAULT_URL),
            prefix: var(PREFIX_VAR, DEFAULT_PREFIX),
            connect_timeout: Duration::from_millis(250),
            command_timeout: Duration::from_millis(250),
            lease: Duration::from_secs(10),
        }
    }

    /// This configuration with another server URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// This configuration with another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// This configuration with another connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// This configuration with another command timeout.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// This configuration with another lease duration.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig::from_env()
    }
}

/// The process's connection to the Redis tier of `#[cached(persist =
/// "redis")]` functions.
///
/// ```no_run
/// use pagestate_cache::{RedisConfig, RedisTier};
///
/// fn main() {
///     RedisTier::configure(RedisConfig::from_env().prefix("my-app:"))
///         .expect("configured before the first cached call");
///     // ... run the app
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct RedisTier;

impl RedisTier {
    /// Sets the tier's configuration. Call it before the first call of a
    /// `persist = "redis"` function; afterwards it returns
    /// [`RedisAlreadyStarted`] and changes nothing.
    ///
    /// # Panics
    ///
    /// If a timeout or the lease is zero.
    pub fn configure(config: RedisConfig) -> Result<(), RedisAlreadyStarted> {
        assert!(
            !config.connect_timeout.is_zero()
                && !config.command_timeout.is_zero()
                && !config.lease.is_zero(),
            "pagestate: the Redis tier's timeouts and lease must be longer than zero"
        );
        let mut configured = lock(&CONFIG);
        if TIER.get().is_some() {
            return Err(RedisAlreadyStarted);
        }
        *configured = Some(config);
        Ok(())
    }

    /// The configuration in effect (or that will be, at first use).
    pub fn config() -> RedisConfig {
        match TIER.get() {
            Some(tier) => tier.config.clone(),
            None => lock(&CONFIG).clone().unwrap_or_default(),
        }
    }

    /// Whether the tier is connected now: `false` before first use and
    /// while Redis is unreachable.
    pub fn is_connected() -> bool {
        TIER.get().is_some_and(|tier| tier.is_up())
    }

    /// Runs `run` on one of the tier's pooled connections (its client,
    /// timeouts and outage handling), for other stores that share this
    /// Redis (the web host's sessions). `None` while Redis is unreachable
    /// or when the command failed (logged once per outage).
    pub fn with_connection<T>(
        run: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        tier().command(run)
    }
}

/// Returned by [`RedisTier::configure`] once the tier has started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisAlreadyStarted;

impl fmt::Display for RedisAlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the Redis tier has already started; configure it before the first call of a \
             persist = \"redis\" function",
        )
    }
}

impl std::error::Error for RedisAlreadyStarted {}

static CONFIG: Mutex<Option<RedisConfig>> = Mutex::new(None);
static TIER: OnceLock<&'static Tier> = OnceLock::new();

/// The tier, started on first use: the first caller waits (at most a
/// connect and a command timeout) for the events subscription, so that its
/// own call already uses Redis.
fn tier() -> &'static Tier {
    TIER.get_or_init(|| {
        let config = lock(&CONFIG).clone().unwrap_or_default();
        let tier: &'static Tier = Box::leak(Box::new(Tier::new(config)));
        tier.start();
        tier
    })
}

/// The Redis side of one `#[cached(persist = "redis")]` function.
pub(crate) struct Remote {
    tier: &'static Tier,
    envelope: Envelope,
    names: Names,
    /// Calls answered from Redis.
    hits: AtomicU64,
}

/// What a leader found in Redis.
pub(crate) enum Attempt {
    /// A value, with its expiry on the cache's clock.
    Hit(ErasedValue, Option<Moment>),
    /// Compute: with the key's lease, or without Redis (`None`: the tier is
    /// down, and the value stays in memory).
    Lead(Option<Lease>),
    /// Another process computes the key.
    Wait(Wait),
}

impl Remote {
    /// The Redis side of the function with `identity`, whose values are `V`.
    pub(crate) fn new<V: CacheValue + PersistValue>(identity: u128) -> Self {
        let tier = tier();
        Remote {
            tier,
            envelope: Envelope::new::<V>(identity),
            names: Names::new(&tier.config.prefix, identity),
            hits: AtomicU64::new(0),
        }
    }

    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The value stored for `key`, else the lease to compute it, else a wait
    /// for the process computing it.
    ///
    /// A hit is one plain GET (a script costs the server more: a hit
    /// measured about 1.8 times slower through the claim script); a miss
    /// then runs the claim script, which looks for the value again.
    pub(crate) fn attempt(&self, key_hash: u128) -> Attempt {
        let value_key = self.names.value(key_hash);
        let found = self.tier.command(|conn| {
            match redis::cmd("GET")
                .arg(&value_key)
                .query::<Option<Vec<u8>>>(conn)
            {
                // A key of another type reads as an unreadable value.
                Err(error) if !is_outage(&error) => Ok(Some(Vec::new())),
                found => found,
            }
        });
        match found {
            None => Attempt::Lead(None),
            Some(None) => self.claim(key_hash, false),
            Some(Some(bytes)) => match self.open(&bytes, key_hash) {
                Some(hit) => hit,
                // Corrupt, foreign or expired: computed again and replaced.
                None => self.claim(key_hash, true),
            },
        }
    }

    fn open(&self, bytes: &[u8], key_hash: u128) -> Option<Attempt> {
        let (value, expires) = self.envelope.open(bytes, key_hash)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(Attempt::Hit(value, expires))
    }

    /// Runs the claim script: the value if there is one (unless `replace`:
    /// the one there is unreadable), else the lease, else how long the lease
    /// has to run.
    fn claim(&self, key_hash: u128, replace: bool) -> Attempt {
        let tier = self.tier;
        // Listening before the script runs: a `done` published right after
        // it cannot slip by.
        let waiting = tier.listen(self.names.identity, key_hash);
        let value_key = self.names.value(key_hash);
        let lease_key = self.names.lease(key_hash);
        let token = tier.token();
        let reply = tier.command(|conn| {
            scripts()
                .claim
                .key(&value_key)
                .key(&lease_key)
                .key(&tier.gen_all)
                .key(&self.names.gen)
                .arg(&token)
                .arg(millis(tier.config.lease))
                .arg(u8::from(replace))
                .invoke::<Value>(conn)
        });
        let Some(Value::Array(reply)) = reply else {
            return Attempt::Lead(None);
        };
        match reply.as_slice() {
            [Value::Int(1), Value::BulkString(bytes)] => self
                .open(bytes, key_hash)
                .unwrap_or_else(|| self.claim(key_hash, true)),
            [Value::Int(2), Value::BulkString(gen_all), Value::BulkString(gen)] => {
                Attempt::Lead(Some(Lease::new(
                    tier,
                    &self.names,
                    key_hash,
                    token,
                    (gen_all.clone(), gen.clone()),
                )))
            }
            [Value::Int(3), Value::Int(left)] => {
                let left = Duration::from_millis(u64::try_from(*left).unwrap_or(0));
                Attempt::Wait(Wait {
                    waiting,
                    deadline: Instant::now() + left.min(tier.config.lease) + LEASE_MARGIN,
                })
            }
            _ => Attempt::Lead(None),
        }
    }

    /// Stores `value` under `lease`'s key, unless a clear came first, and
    /// hands the key over: the lease goes and waiters are told.
    pub(crate) fn store(&self, value: &dyn DynValue, lease: Lease, ttl: Option<Duration>) {
        let mut lease = lease.0;
        let Some(sealed) = self.envelope.seal(lease.key_hash, value, ttl) else {
            return;
        };
        lease.stop_renewing();
        let tier = self.tier;
        let message = tier.message("done", self.names.identity, Some(lease.key_hash));
        tier.command(|conn| {
            scripts()
                .store
                .key(self.names.value(lease.key_hash))
                .key(&lease.lease_key)
                .key(&tier.gen_all)
                .key(&self.names.gen)
                .arg(&lease.token)
                .arg(&lease.generations.0)
                .arg(&lease.generations.1)
                .arg(&sealed)
                .arg(redis_ttl_ms(ttl))
                .arg(&tier.channel)
                .arg(&message)
                .invoke::<i64>(conn)
        });
        // Stored or not (the tier is down: the lease expires by itself).
        lease.released = true;
    }

    /// Drops the entry for `key` here and in every process; `true` if Redis
    /// had one.
    pub(crate) fn remove(&self, key_hash: u128) -> bool {
        remove_hashed(self.tier, &self.names, key_hash)
    }

    /// Drops every entry of this function here and in every process.
    pub(crate) fn clear(&self) {
        clear_names(self.tier, &self.names);
    }
}

/// The `PX` argument for `ttl`: 0 for none, and for a ttl longer than Redis
/// can add to its clock (`Duration::MAX` means never), at least 1 ms.
fn redis_ttl_ms(ttl: Option<Duration>) -> u64 {
    // About 2,200 years: far below the point where Redis refuses an expiry.
    const NEVER_MS: u64 = 1 << 46;
    match ttl.map(millis) {
        Some(ms) if ms < NEVER_MS => ms.max(1),
        _ => 0,
    }
}

/// Drops the entry for `key` of the function with `identity`, for a cache
/// not created in this process.
pub(crate) fn remove_entry(identity: u128, key_hash: u128) -> bool {
    let tier = tier();
    remove_hashed(tier, &Names::new(&tier.config.prefix, identity), key_hash)
}

/// Drops every entry of the function with `identity`, for a cache not
/// created in this process.
pub(crate) fn clear_function(identity: u128) {
    let tier = tier();
    clear_names(tier, &Names::new(&tier.config.prefix, identity));
}

/// Drops every entry under the prefix, in every process, if this process
/// uses the tier (it started, or was configured).
pub(crate) fn clear_all() {
    if TIER.get().is_none() && lock(&CONFIG).is_none() {
        return;
    }
    let tier = tier();
    let prefix = &tier.config.prefix;
    let message = tier.message("all", 0, None);
    tier.command(|conn| {
        redis::cmd("INCR").arg(&tier.gen_all).query::<i64>(conn)?;
        let pattern = format!("{}*", glob_escape(prefix));
        delete_scanned(conn, &pattern, |key| {
            key.strip_prefix(prefix.as_bytes())
                .is_some_and(is_value_name)
        })?;
        redis::cmd("PUBLISH")
            .arg(&tier.channel)
            .arg(&message)
            .query::<i64>(conn)
    });
}

fn remove_hashed(tier: &'static Tier, names: &Names, key_hash: u128) -> bool {
    let message = tier.message("inv", names.identity, Some(key_hash));
    tier.command(|conn| {
        redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&names.gen)
            .ignore()
            .cmd("DEL")
            .arg(names.value(key_hash))
            .cmd("PUBLISH")
            .arg(&tier.channel)
            .arg(&message)
            .ignore()
            .query::<(i64,)>(conn)
    })
    .is_some_and(|(deleted,)| deleted > 0)
}

fn clear_names(tier: &'static Tier, names: &Names) {
    let message = tier.message("clear", names.identity, None);
    tier.command(|conn| {
        // The generation first: a store racing this clear either lands
        // before the deletions or is refused.
        redis::cmd("INCR").arg(&names.gen).query::<i64>(conn)?;
        let pattern = format!("{}*", glob_escape(&names.function));
        delete_scanned(conn, &pattern, |key| {
            key.strip_prefix(names.function.as_bytes())
                .is_some_and(|rest| rest.len() == 32 && rest.iter().all(u8::is_ascii_hexdigit))
        })?;
        redis::cmd("PUBLISH")
            .arg(&tier.channel)
            .arg(&message)
            .query::<i64>(conn)
    });
}

/// Deletes the keys matching `pattern` that `delete` accepts.
fn delete_scanned(
    conn: &mut Connection,
    pattern: &str,
    delete: impl Fn(&[u8]) -> bool,
) -> RedisResult<()> {
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(conn)?;
        let doomed: Vec<Vec<u8>> = keys.into_iter().filter(|key| delete(key)).collect();
        if !doomed.is_empty() {
            redis::cmd("UNLINK").arg(doomed).query::<i64>(conn)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// `{identity:032x}:{key hash:032x}`: the name of a value after the prefix.
fn is_value_name(name: &[u8]) -> bool {
    name.len() == 65
        && name[32] == b':'
        && name[..32].iter().all(u8::is_ascii_hexdigit)
        && name[33..].iter().all(u8::is_ascii_hexdigit)
}

/// `text` with Redis glob characters escaped, for `SCAN MATCH`.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The key names of one function.
struct Names {
    identity: u128,
    /// `{prefix}{identity:032x}:`
    function: String,
    /// `{prefix}{identity:032x}:gen`
    gen: String,
}

impl Names {
    fn new(prefix: &str, identity: u128) -> Self {
        let function = format!("{prefix}{identity:032x}:");
        Names {
            identity,
            gen: format!("{function}gen"),
            function,
        }
    }

    fn value(&self, key_hash: u128) -> String {
        format!("{}{key_hash:032x}", self.function)
    }

    fn lease(&self, key_hash: u128) -> String {
        format!("{}{key_hash:032x}:lease", self.function)
    }
}

/// This process's claim on a key while it computes: renewed by the timer
/// thread, released (and waiters told) when dropped unless the value was
/// stored. Boxed: the flight's leader carries it.
pub(crate) struct Lease(Box<Held>);

struct Held {
    tier: &'static Tier,
    identity: u128,
    key_hash: u128,
    lease_key: String,
    token: String,
    /// The generations (all functions, this function) when it was claimed.
    generations: (Vec<u8>, Vec<u8>),
    renewal: Option<u64>,
    released: bool,
}

impl Lease {
    fn new(
        tier: &'static Tier,
        names: &Names,
        key_hash: u128,
        token: String,
        generations: (Vec<u8>, Vec<u8>),
    ) -> Self {
        let lease_key = names.lease(key_hash);
        let renewal = tier.timer_add(Job::Renew {
            due: Instant::now() + tier.config.lease / 3,
            lease_key: lease_key.clone(),
            token: token.clone(),
        });
        Lease(Box::new(Held {
            tier,
            identity: names.identity,
            key_hash,
            lease_key,
            token,
            generations,
            renewal: Some(renewal),
            released: false,
        }))
    }
}

impl Held {
    fn stop_renewing(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            self.tier.timer_remove(renewal);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stop_renewing();
        if self.released {
            return;
        }
        // No value (an `Err`, a panic, a dropped future, a cleared key):
        // the next process may compute at once.
        let tier = self.tier;
        let message = tier.message("done", self.identity, Some(self.key_hash));
        tier.command(|conn| {
            scripts()
                .release
                .key(&self.lease_key)
                .arg(&self.token)
                .arg(&tier.channel)
                .arg(&message)
                .invoke::<i64>(conn)
        });
    }
}

/// A wait for another process's computation of a key: until its `done`
/// event, the tier going down or up, or the lease's expiry.
pub(crate) struct Wait {
    waiting: Waiting,
    deadline: Instant,
}

impl Wait {
    /// Blocks the calling thread.
    pub(crate) fn block(mut self) {
        if let Some(listener) = self.waiting.listener.take() {
            listener.wait_deadline(self.deadline);
        }
    }

    /// Awaits, without blocking a thread, under any executor: the timer
    /// thread wakes it at the deadline.
    pub(crate) async fn done(self) {
        let Wait { waiting, deadline } = self;
        let tier = waiting.tier;
        let timer = tier.timer_add(Job::Wake {
            due: deadline,
            event: waiting.event.clone(),
        });
        let _unregister = TimerGuard { tier, id: timer };
        let mut waiting = waiting;
        if let Some(listener) = waiting.listener.take() {
            listener.await;
        }
    }
}

struct TimerGuard {
    tier: &'static Tier,
    id: u64,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        self.tier.timer_remove(self.id);
    }
}

/// A listener on a key's event, registered in the tier while it lives.
struct Waiting {
    tier: &'static Tier,
    key: (u128, u128),
    event: Arc<Event>,
    /// Taken by the wait.
    listener: Option<EventListener>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiters = lock(&self.tier.waiters);
        if let Some((_, listeners)) = waiters.get_mut(&self.key) {
            *listeners -= 1;
            if *listeners == 0 {
                waiters.remove(&self.key);
            }
        }
    }
}

/// The memory side of a cache, as events from other processes reach it.
pub(crate) trait MemoryCopy: Send + Sync {
    fn drop_all(&self);
    fn drop_key(&self, key_hash: u128);
}

/// Lets events reach the memory of the function with `identity`.
pub(crate) fn register_copy(identity: u128, cache: &'static dyn MemoryCopy) {
    lock(&tier().copies).push((identity, cache));
}

pub(super) struct Scripts {
    claim: Script,
    store: Script,
    release: Script,
    renew: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        // KEYS: value, lease, all generation, function generation.
        // ARGV: token, lease ms, "1" to replace an unreadable value.
        claim: Script::new(
            r"
            if ARGV[3] ~= '1' then
                local ok, value = pcall(redis.call, 'GET', KEYS[1])
                -- A key of another type reads as an unreadable value.
                if not ok then return {1, ''} end
                if value then return {1, value} end
            end
            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
                return {2, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4]) or '0'}
            end
            return {3, redis.call('PTTL', KEYS[2])}
            ",
        ),
        // KEYS: value, lease, all generation, function generation.
        // ARGV: token, all generation, function generation, value,
        // ttl ms (0: none), channel, message.
        store: Script::new(
            r"
            local stored = 0
            if (redis.call('GET', KEYS[3]) or '0') == ARGV[2]
                and (redis.call('GET', KEYS[4]) or '0') == ARGV[3] then
                if ARGV[5] == '0' then
                    redis.call('SET', KEYS[1], ARGV[4])
                else
                    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
                end
                stored = 1
            end
            if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
            redis.call('PUBLISH', ARGV[6], ARGV[7])
            return stored
            ",
        ),
        // KEYS: lease. ARGV: token, channel, message.
        release: Script::new(
            r"
            if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
            redis.call('PUBLISH', ARGV[2], ARGV[3])
            return 1
            ",
        ),
        // KEYS: lease. ARGV: token, lease ms.
        renew: Script::new(
            r"
            if redis.call('GET', KEYS[1]) == ARGV[1] then
                return redis.call('PEXPIRE', KEYS[1], ARGV[2])
            end
            return 0
            ",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_names_are_told_from_leases_and_generations() {
        let names = Names::new("app:", 0xab);
        let value = names.value(0xcd);
        let rest = value.strip_prefix("app:").unwrap();
        assert!(is_value_name(rest.as_bytes()));
        assert!(!is_value_name(
            &names.lease(0xcd).as_bytes()["app:".len()..]
        ));
        assert!(!is_value_name(&names.gen.as_bytes()["app:".len()..]));
    }

    #[test]
    fn ttls_become_px_arguments_and_an_unrepresentable_one_never_expires() {
        assert_eq!(redis_ttl_ms(None), 0);
        assert_eq!(redis_ttl_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(redis_ttl_ms(Some(Duration::from_secs(2))), 2000);
        assert_eq!(redis_ttl_ms(Some(Duration::MAX)), 0);
    }

    #[test]
    fn glob_characters_in_a_prefix_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
