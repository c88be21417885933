//! A per-thread memory of the slots `use_state!` reached last, so that a
//! rerun finds its states without the session map's lock or hashing.
//!
//! A page reaches the same few states on every rerun, from the same page
//! thread. Each entry remembers which map (one per session) and which
//! generation of it (bumped when the session is closed) a slot was found
//! in; any other map, or a cleared one, misses and asks the map. Entries
//! hold the slot weakly: a dropped session's values are never kept alive
//! from here.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use super::{Slot, StateMap};

const ENTRIES: usize = 8;

struct Entry {
    map: u64,
    generation: u64,
    namespace: Option<Box<str>>,
    key: Box<str>,
    slot: Weak<Slot>,
}

struct Recent {
    entries: [Option<Entry>; ENTRIES],
    /// The entry the next miss replaces (round robin).
    next: usize,
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent {
            entries: [const { None }; ENTRIES],
            next: 0,
        })
    };
}

/// The slot at (`namespace`, `key`) in `map`: from this thread's memory,
/// or from the map itself (and then remembered).
pub(crate) fn slot(map: &StateMap, namespace: Option<&str>, key: &str) -> Arc<Slot> {
    let generation = map.generation();
    let id = map.id();
    let remembered = RECENT
        .try_with(|recent| {
            let recent = recent.try_borrow().ok()?;
            recent.entries.iter().flatten().find_map(|entry| {
                (entry.map == id
                    && entry.generation == generation
                    && &*entry.key == key
                    && entry.namespace.as_deref() == namespace)
                    .then(|| entry.slot.upgrade())
                    .flatten()
            })
        })
        .ok()
        .flatten();
    if let Some(slot) = remembered {
        return slot;
    }
    let slot = map.slot(namespace, key);
    let _ = RECENT.try_with(|recent| {
        if let Ok(mut recent) = recent.try_borrow_mut() {
            let at = recent.next;
            recent.next = (at + 1) % ENTRIES;
            // The entry replaced drops here, after the borrow: dropping a
            // `Weak` runs no user code.
            recent.entries[at] = Some(Entry {
                map: id,
                generation,
                namespace: namespace.map(Into::into),
                key: key.into(),
                slot: Arc::downgrade(&slot),
            });
        }
    });
    slot
}
