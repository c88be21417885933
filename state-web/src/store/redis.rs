//! [`RedisStore`]: sessions in the Redis of pagestate's cache tier, shared
//! by replicas.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use pagestate_core::durable::{Address, Entry};
use pagestate_core::RedisTier;
use serde_json::Value;

use super::{valid_id, Changes, SessionStore, Snapshot};

/// Fields of a session's hash that are not values.
const FORMAT_FIELD: &str = "~format";
const VOLATILE_FIELD: &str = "~volatile";
const GENERATION_FIELD: &str = "~gen";
const FORMAT: &str = "pagestate-session/1";

/// Sessions stored in Redis: one hash per session,
/// `{prefix}session:{id}`, one field per durable value (only the changed
/// ones are written after a run), expiring after the idle time.
///
/// It uses the Redis tier of `#[cached(persist = "redis")]`: its URL
/// (`PAGESTATE_REDIS_URL`), key prefix (`PAGESTATE_REDIS_PREFIX`),
/// timeouts and connections; configure them with
/// [`RedisTier::configure`](pagestate_core::RedisTier::configure).
///
/// Each session has a lease, `{prefix}session:{id}:lease`, holding its
/// owner's token: one replica runs a session at a time (see
/// [`SessionStore::lease_ttl`]).
#[derive(Debug)]
pub struct RedisStore {
    idle: Duration,
    lease: Duration,
}

/// How long a lease lasts unless renewed, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// Takes the lease (`KEYS[1]`) for `ARGV[1]` for `ARGV[2]` ms, or extends
/// it when `ARGV[1]` holds it.
const ACQUIRE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0";

/// Deletes the lease (`KEYS[1]`) when `ARGV[1]` holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

struct Scripts {
    acquire: redis::Script,
    release: redis::Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        acquire: redis::Script::new(ACQUIRE),
        release: redis::Script::new(RELEASE),
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl RedisStore {
    /// A store whose sessions expire after `idle` without a change, with
    /// leases of [`DEFAULT_LEASE`].
    pub fn new(idle: Duration) -> RedisStore {
        RedisStore {
            idle,
            lease: DEFAULT_LEASE,
        }
    }

    /// Leases last `lease` unless renewed (renewed every third of it while
    /// the tab is connected): how long a replica that died holding a
    /// session keeps others from adopting it.
    pub fn lease(mut self, lease: Duration) -> RedisStore {
        self.lease = lease;
        self
    }

    fn key(id: &str) -> String {
        format!("{}session:{id}", RedisTier::config().prefix)
    }

    fn lease_key(id: &str) -> String {
        format!("{}session:{id}:lease", RedisTier::config().prefix)
    }

    /// Runs a lease script; `None` while Redis is unreachable.
    fn lease_script(&self, script: &redis::Script, id: &str, owner: &str) -> Option<i64> {
        let key = Self::lease_key(id);
        let ttl = millis(self.lease);
        RedisTier::with_connection(|conn| script.key(&key).arg(owner).arg(ttl).invoke(conn))
    }
}

fn field((namespace, key): &Address) -> String {
    serde_json::to_string(&(namespace, key)).unwrap_or_default()
}

/// The session in a hash's fields, or why it is not one.
fn parse(fields: HashMap<String, Vec<u8>>) -> Result<Snapshot, String> {
    if fields.get(FORMAT_FIELD).map(Vec::as_slice) != Some(FORMAT.as_bytes()) {
        return Err("not a pagestate session of this format".into());
    }
    let mut snapshot = Snapshot::default();
    for (name, bytes) in fields {
        if name == FORMAT_FIELD {
            continue;
        }
        if name == GENERATION_FIELD {
            let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
            snapshot.generation = text.parse().map_err(|_| format!("generation {text:?}"))?;
            continue;
        }
        if name == VOLATILE_FIELD {
            snapshot.volatile = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            continue;
        }
        let (namespace, key): Address = serde_json::from_str(&name).map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        snapshot.values.push(Entry {
            namespace,
            key,
            value,
        });
    }
    snapshot
        .values
        .sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
    Ok(snapshot)
}

impl SessionStore for RedisStore {
    fn load(&self, id: &str) -> Option<Snapshot> {
        if !valid_id(id) {
            return None;
        }
        let key = Self::key(id);
        let fields: HashMap<String, Vec<u8>> =
            RedisTier::with_connection(|conn| redis::cmd("HGETALL").arg(&key).query(conn))?;
        if fields.is_empty() {
            return None;
        }
        match parse(fields) {
            Ok(snapshot) => Some(snapshot),
            Err(error) => {
                tracing::warn!(%key, "stored session corrupt or foreign, fresh session: {error}");
                None
            }
        }
    }

    fn save(&self, id: &str, changes: &Changes) {
        if !valid_id(id) {
            return;
        }
        let key = Self::key(id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut set = vec![
            (FORMAT_FIELD.to_owned(), FORMAT.as_bytes().to_vec()),
            (
                VOLATILE_FIELD.to_owned(),
                serde_json::to_vec(&changes.snapshot.volatile).unwrap_or_default(),
            ),
            (
                GENERATION_FIELD.to_owned(),
                changes.snapshot.generation.to_string().into_bytes(),
            ),
        ];
        for entry in &changes.snapshot.values {
            let at = (entry.namespace.clone(), entry.key.clone());
            if changes.changed.contains(&at) {
                set.push((
                    field(&at),
                    serde_json::to_vec(&entry.value).unwrap_or_default(),
                ));
            }
        }
        pipe.cmd("HSET").arg(&key);
        for (name, value) in &set {
            pipe.arg(name).arg(value);
        }
        pipe.ignore();
        if !changes.removed.is_empty() {
            pipe.cmd("HDEL").arg(&key);
            for at in &changes.removed {
                pipe.arg(field(at));
            }
            pipe.ignore();
        }
        let idle_ms = millis(self.idle);
        pipe.cmd("PEXPIRE").arg(&key).arg(idle_ms).ignore();
        if RedisTier::with_connection(|conn| pipe.query::<()>(conn)).is_none() {
            tracing::warn!(session = %id, "session not stored: Redis unreachable");
        }
    }

    fn remove(&self, id: &str) {
        if valid_id(id) {
            let key = Self::key(id);
            let _ =
                RedisTier::with_connection(|conn| redis::cmd("DEL").arg(&key).query::<()>(conn));
        }
    }

    fn lease_ttl(&self) -> Option<Duration> {
        Some(self.lease)
    }

    /// While Redis is unreachable the session runs without a lease (there
    /// is no shared session to protect then), logged.
    fn acquire_lease(&self, id: &str, owner: &str) -> bool {
        if !valid_id(id) {
            return true;
        }
        match self.lease_script(&scripts().acquire, id, owner) {
            Some(taken) => taken == 1,
            None => {
                tracing::warn!(session = %id, "Redis unreachable: session runs without a lease");
                true
            }
        }
    }

    /// Also takes the lease back if it expired (a stalled host) or was
    /// released (a reload's race) while nobody else took it: nobody ran
    /// the session meanwhile.
    fn renew_lease(&self, id: &str, owner: &str) -> bool {
        if !valid_id(id) {
            return true;
        }
        self.lease_script(&scripts().acquire, id, owner)
            .is_none_or(|held| held == 1)
    }

    fn release_lease(&self, id: &str, owner: &str) {
        if valid_id(id) {
            let _ = self.lease_script(&scripts().release, id, owner);
        }
    }
}
