//! Durable session state: the values of a session that can be stored and
//! taken up again by another process (after a restart, or on another
//! replica).
//!
//! A state is durable when page code opts in with `use_state!(.., durable)`;
//! its type must then be `Serialize + DeserializeOwned`, checked at compile
//! time. A host (the web host) stores a session's durable values with
//! [`changes`] after each run and gives them to a fresh session with
//! [`adopt`]: each durable state takes its stored value back the first time
//! page code asks for it, before its factory would run.
//!
//! Host code can also keep raw JSON values durable ([`record_raw`],
//! [`take_restored`]): the web host does so for widget values.
//!
//! ```
//! use pagestate_core::__private::{use_state_durable, DurableProbe, DurableViaSerde};
//! use pagestate_core::{durable, Namespace, Session, StateRef};
//!
//! // What `use_state!("count", factory = || 0_u32, durable)` expands to.
//! fn durable_count() -> StateRef<u32> {
//!     let factory = || 0_u32;
//!     let codec = (&DurableProbe::of(&factory)).durable_codec();
//!     use_state_durable(Namespace::SESSION, "count", factory, codec)
//! }
//!
//! let first = Session::new();
//! first.run(|| {
//!     let count = durable_count();
//!     count.set(3).unwrap();
//! });
//! let stored = durable::snapshot(&first);
//!
//! let second = Session::new();
//! durable::adopt(&second, stored);
//! second.run(|| {
//!     let count = durable_count();
//!     assert_eq!(count.get(), Ok(3));
//! });
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::session::{use_state, Session, StateRef};
use crate::state::Namespace;

/// The session-state namespace of the durability registry (not an API).
const REGISTRY_NS: &str = "pagestate::durable";
const REGISTRY_KEY: &str = "registry";

/// Namespaces of host internals: neither stored nor reported as lost.
/// (Widgets keep what the browser sent: the web host records it.)
const INTERNAL: &[&str] = &[
    REGISTRY_NS,
    "pagestate::web::host",
    "pagestate::web::widgets",
];

/// A state's address: (namespace, key); `None` is the session-wide namespace.
pub type Address = (Option<String>, String);

/// The stored form of a session: its durable values, and the addresses of
/// the values it held that are not durable (lost when the session moves).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Durable values, JSON-encoded, by address.
    pub values: Vec<Entry>,
    /// States that held a value but are not durable.
    pub volatile: Vec<Address>,
    /// Counts the session's stored versions: each [`changes`] makes the
    /// next one, and [`adopt`] continues from the adopted one, so a host
    /// holding an older copy can tell that another host moved on.
    #[serde(default)]
    pub generation: u64,
}

/// One durable value of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The state's namespace; `None` is the session-wide one.
    pub namespace: Option<String>,
    /// The state's key.
    pub key: String,
    /// The value, as JSON.
    pub value: Value,
}

impl Snapshot {
    /// The value stored for (`namespace`, `key`), if any.
    pub fn get(&self, namespace: Option<&str>, key: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|entry| entry.namespace.as_deref() == namespace && entry.key == key)
            .map(|entry| &entry.value)
    }
}

/// What changed in a session since its last [`changes`] (or [`adopt`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// The whole session as it is now.
    pub snapshot: Snapshot,
    /// The addresses whose value is new or different.
    pub changed: Vec<Address>,
    /// The addresses that had a stored value and have none now.
    pub removed: Vec<Address>,
}

/// How `use_state!(.., durable)` stores a value of type `T`: implemented
/// for the codec of `Serialize + DeserializeOwned` types only, so that any
/// other type is one compile error naming it.
#[diagnostic::on_unimplemented(
    message = "`{T}` cannot be a durable state: `use_state!(.., durable)` needs a type that is Serialize + DeserializeOwned",
    label = "this state is marked `durable`",
    note = "derive `serde::Serialize` and `serde::Deserialize` for `{T}`, or drop `durable`"
)]
pub trait DurableCodec<T> {
    #[doc(hidden)]
    fn encode(value: &T) -> Option<Value>;
    #[doc(hidden)]
    fn decode(value: Value) -> Result<T, String>;
}

/// The codec of a `Serialize + DeserializeOwned` type.
#[doc(hidden)]
pub struct SerdeCodec<T>(PhantomData<fn() -> T>);

/// What the probe finds for any other type: no codec.
#[doc(hidden)]
pub struct NoCodec<T>(PhantomData<fn() -> T>);

impl<T: Serialize + DeserializeOwned> DurableCodec<T> for SerdeCodec<T> {
    fn encode(value: &T) -> Option<Value> {
        serde_json::to_value(value).ok()
    }

    fn decode(value: Value) -> Result<T, String> {
        serde_json::from_value(value).map_err(|error| error.to_string())
    }
}

// Finds a state's codec from its factory's type (autoref dispatch): the
// serde codec when `T` has both bounds, else [`NoCodec`], which
// `use_state_durable` rejects with one error.
#[doc(hidden)]
pub use crate::durable_probe::DurableProbe;

#[doc(hidden)]
pub trait DurableViaSerde<T> {
    fn durable_codec(&self) -> SerdeCodec<T>;
}

impl<T: Serialize + DeserializeOwned> DurableViaSerde<T> for DurableProbe<T> {
    fn durable_codec(&self) -> SerdeCodec<T> {
        SerdeCodec(PhantomData)
    }
}

#[doc(hidden)]
pub trait DurableFallback<T> {
    fn durable_codec(&self) -> NoCodec<T>;
}

impl<T> DurableFallback<T> for &DurableProbe<T> {
    fn durable_codec(&self) -> NoCodec<T> {
        NoCodec(PhantomData)
    }
}

type Encoder = Arc<dyn Fn(&Session) -> Option<Value> + Send + Sync>;

#[derive(Default)]
struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Typed durable states, with how to read their value as JSON.
    typed: BTreeMap<Address, Encoder>,
    /// Raw values kept by the host (widgets), with the state that must hold
    /// a value for them to count.
    raw: BTreeMap<Address, Value>,
    /// Adopted values not yet taken up by their state.
    restored: BTreeMap<Address, Value>,
    /// What the store holds, as of the last `changes` or `adopt`.
    written: BTreeMap<Address, Value>,
    /// The generation of that stored version.
    generation: u64,
}

fn registry(session: &Session) -> Arc<Registry> {
    let state = session.state::<Arc<Registry>>(REGISTRY_NS, REGISTRY_KEY);
    state.init(Arc::default);
    state.get().unwrap_or_default()
}

fn lock(registry: &Registry) -> std::sync::MutexGuard<'_, Inner> {
    registry
        .inner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn address(namespace: Option<&str>, key: &str) -> Address {
    (namespace.map(Into::into), key.to_owned())
}

/// `use_state!(.., durable)`: a state whose value is stored with its
/// session, initialised from the adopted value if there is one, else from
/// `factory`.
#[doc(hidden)]
#[track_caller]
pub fn use_state_durable<T, F, C>(
    namespace: Namespace<'_>,
    key: &str,
    factory: F,
    _codec: C,
) -> StateRef<T>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> T,
    C: DurableCodec<T>,
{
    let state = use_state::<T>(namespace, key);
    let registry = registry(state.session());
    let at = address(namespace.name(), key);
    let restored = {
        let mut inner = lock(&registry);
        if !inner.typed.contains_key(&at) {
            let (ns, k) = at.clone();
            let encoder: Encoder = Arc::new(move |session: &Session| {
                session
                    .state::<T>(ns.as_deref(), &k)
                    .with(C::encode)
                    .ok()
                    .flatten()
            });
            inner.typed.insert(at.clone(), encoder);
        }
        inner.restored.remove(&at)
    };
    if let Some(value) = restored {
        if !state.is_initialized() {
            match C::decode(value) {
                Ok(value) => {
                    state.init(|| value);
                }
                Err(error) => log::warn!(
                    "durable state ({:?}, {key:?}) of {:?}: stored value unreadable ({error}); \
                     using its factory",
                    namespace.name(),
                    state.session().id()
                ),
            }
        }
    }
    state.init(factory);
    state
}

/// Keeps `value` (JSON) as the durable form of the state at
/// (`namespace`, `key`), as long as that state holds a value.
pub fn record_raw(session: &Session, namespace: Option<&str>, key: &str, value: Value) {
    let registry = registry(session);
    lock(&registry).raw.insert(address(namespace, key), value);
}

/// Takes the adopted value of (`namespace`, `key`), if one is waiting.
pub fn take_restored(session: &Session, namespace: Option<&str>, key: &str) -> Option<Value> {
    let registry = registry(session);
    let value = lock(&registry).restored.remove(&address(namespace, key))?;
    record_raw(session, namespace, key, value.clone());
    Some(value)
}

/// The session's durable values now, and the addresses of its values that
/// are not durable.
pub fn snapshot(session: &Session) -> Snapshot {
    let registry = registry(session);
    let (typed, raw, restored) = {
        let inner = lock(&registry);
        (
            inner.typed.clone(),
            inner.raw.clone(),
            inner.restored.clone(),
        )
    };
    let held: BTreeSet<Address> = session.state_map().initialized().into_iter().collect();
    let mut values: BTreeMap<Address, Value> = restored;
    for (at, encode) in &typed {
        // Encoded outside the registry's lock: reading a state may wait
        // for a page that holds it.
        if let Some(value) = encode(session) {
            values.insert(at.clone(), value);
        }
    }
    for (at, value) in raw {
        if held.contains(&at) {
            values.insert(at, value);
        }
    }
    let volatile = held
        .into_iter()
        .filter(|at| !values.contains_key(at) && !typed.contains_key(at))
        .filter(|(ns, _)| !ns.as_deref().is_some_and(|ns| INTERNAL.contains(&ns)))
        .collect();
    Snapshot {
        values: values
            .into_iter()
            .map(|((namespace, key), value)| Entry {
                namespace,
                key,
                value,
            })
            .collect(),
        volatile,
        generation: 0,
    }
}

/// The generation of the session's stored version this process last wrote
/// or adopted (0: none).
pub fn generation(session: &Session) -> u64 {
    lock(&registry(session)).generation
}

/// What changed since the last call (or [`adopt`]); `None` when nothing
/// did. The result counts as written: the next call compares with it.
pub fn changes(session: &Session) -> Option<Changes> {
    let mut snapshot = snapshot(session);
    let now: BTreeMap<Address, &Value> = snapshot
        .values
        .iter()
        .map(|entry| ((entry.namespace.clone(), entry.key.clone()), &entry.value))
        .collect();
    let registry = registry(session);
    let mut inner = lock(&registry);
    let changed: Vec<Address> = now
        .iter()
        .filter(|(at, value)| inner.written.get(*at) != Some(**value))
        .map(|(at, _)| at.clone())
        .collect();
    let removed: Vec<Address> = inner
        .written
        .keys()
        .filter(|at| !now.contains_key(*at))
        .cloned()
        .collect();
    if changed.is_empty() && removed.is_empty() {
        return None;
    }
    inner.written = now
        .into_iter()
        .map(|(at, value)| (at, value.clone()))
        .collect();
    inner.generation += 1;
    snapshot.generation = inner.generation;
    drop(inner);
    Some(Changes {
        snapshot,
        changed,
        removed,
    })
}

/// Gives `session` (fresh, not yet run) the values of a stored one: each
/// durable state takes its value back on first use. The values that were
/// not durable are gone; that is logged once here.
pub fn adopt(session: &Session, stored: Snapshot) {
    if !stored.volatile.is_empty() {
        let lost: Vec<String> = stored
            .volatile
            .iter()
            .map(|(ns, key)| match ns {
                Some(ns) => format!("{ns}/{key}"),
                None => key.clone(),
            })
            .collect();
        log::warn!(
            "{:?} adopted a stored session: {} value(s) were not durable and are lost \
             (mark them `use_state!(.., durable)` with a Serialize + DeserializeOwned type): {}",
            session.id(),
            lost.len(),
            lost.join(", ")
        );
    }
    let registry = registry(session);
    let mut inner = lock(&registry);
    inner.generation = stored.generation;
    for entry in stored.values {
        let at = (entry.namespace, entry.key);
        inner.written.insert(at.clone(), entry.value.clone());
        inner.restored.insert(at, entry.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(session: &Session) -> StateRef<u32> {
        session.run(|| {
            let codec = SerdeCodec::<u32>(PhantomData);
            use_state_durable(Namespace::SESSION, "count", || 0, codec)
        })
    }

    #[test]
    fn only_changes_are_reported() {
        let session = Session::new();
        let count = count(&session);
        let first = changes(&session).expect("the first value is a change");
        assert_eq!(first.changed, [(None, "count".to_owned())]);
        assert!(changes(&session).is_none());
        count.set(2).unwrap();
        let second = changes(&session).unwrap();
        assert_eq!(second.snapshot.get(None, "count"), Some(&Value::from(2)));
        count.clear();
        assert_eq!(
            changes(&session).unwrap().removed,
            [(None, "count".to_owned())]
        );
    }

    #[test]
    fn adopted_values_win_over_the_factory_and_volatile_ones_are_listed() {
        let first = Session::new();
        count(&first).set(3).unwrap();
        first
            .state::<String>(None, "plain")
            .set("x".into())
            .unwrap();
        let stored = snapshot(&first);
        assert_eq!(stored.volatile, [(None, "plain".to_owned())]);

        let second = Session::new();
        adopt(&second, stored.clone());
        // Adopted values are already written: nothing to store again.
        assert!(changes(&second).is_none());
        assert_eq!(count(&second).get(), Ok(3));
        // Not yet taken up, a value is still part of the session.
        let third = Session::new();
        adopt(&third, stored);
        assert_eq!(
            snapshot(&third).get(None, "count"),
            Some(&Value::from(3_u32))
        );
    }

    #[test]
    fn an_unreadable_stored_value_falls_back_to_the_factory() {
        let session = Session::new();
        adopt(
            &session,
            Snapshot {
                values: vec![Entry {
                    namespace: None,
                    key: "count".into(),
                    value: Value::from("not a number"),
                }],
                volatile: Vec::new(),
                generation: 1,
            },
        );
        assert_eq!(count(&session).get(), Ok(0));
    }

    #[test]
    fn raw_values_count_while_their_state_holds_a_value() {
        let session = Session::new();
        let name = session.state::<String>("w", "name");
        name.set("Ada".into()).unwrap();
        record_raw(&session, Some("w"), "name", Value::from("Ada"));
        assert_eq!(
            snapshot(&session).get(Some("w"), "name"),
            Some(&Value::from("Ada"))
        );
        name.clear();
        assert!(snapshot(&session).get(Some("w"), "name").is_none());
    }
}
