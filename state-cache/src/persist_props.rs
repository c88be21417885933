//! Property tests of the disk entry decoder: whatever bytes sit in an entry
//! file, reading it is a miss or a value, never a panic, a hang, or an
//! allocation of a length the file only declares. Files with a valid
//! header and checksum reach the payload decoder with arbitrary payloads.
//! Bounded so that `cargo test` runs them in a few seconds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::envelope::identity;
use super::key::{stable_hash, unerase, Scoped, GLOBAL};
use super::persist::{function_dir, Disk, Tier};
use pagestate_alloc_probe::largest_allocation_in;

const IDENTITY_FINGERPRINT: u128 = 0x5eed;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!(
        "pagestate-persist-props-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Dir(dir)
}

fn the_identity() -> u128 {
    identity("props", "decode", IDENTITY_FINGERPRINT)
}

fn key() -> Scoped<u64> {
    Scoped {
        session: GLOBAL,
        key: 7,
    }
}

/// Where the file for `key()` lives (the naming documented in persist.rs).
fn entry_file(base: &Path) -> PathBuf {
    let dir = function_dir(base, the_identity());
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{:032x}.entry", stable_hash(&key())))
}

/// An entry whose header names this function and key, with `declared` as
/// the payload length and a checksum that matches, so the payload reaches
/// the payload decoder.
fn well_formed(expiry: u64, declared: u64, payload: &[u8]) -> Vec<u8> {
    let mut file = b"PGSTCACH".to_vec();
    file.extend(1_u32.to_le_bytes());
    file.extend(the_identity().to_le_bytes());
    file.extend(stable_hash(&key()).to_le_bytes());
    file.extend(expiry.to_le_bytes());
    file.extend(declared.to_le_bytes());
    let checksum = stable_hash(&(file.as_slice(), payload)) as u64;
    file.extend(checksum.to_le_bytes());
    file.extend(payload);
    file
}

/// Loads `bytes` as the entry of a `Disk<V>`; returns the largest single
/// allocation the load made.
fn load_as<V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static>(
    base: &Path,
    bytes: &[u8],
) -> usize {
    let disk = Disk::<V>::new(base, the_identity());
    std::fs::write(entry_file(base), bytes).unwrap();
    let (_, largest) = largest_allocation_in(|| disk.load(stable_hash(&key())).is_some());
    largest
}

/// serde preallocates at most about 1 MiB of elements for a declared
/// sequence length (its `cautious` size hint; hash tables add their
/// overhead); the rest grows with what the payload really holds.
const ALLOWANCE: usize = 4 << 20;

fn entries() -> impl Strategy<Value = Vec<u8>> {
    let payload = proptest::collection::vec(any::<u8>(), 0..256);
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (any::<u64>(), payload.clone()).prop_map(|(expiry, payload)| well_formed(
            expiry,
            payload.len() as u64,
            &payload
        )),
        (any::<u64>(), any::<u64>(), payload.clone())
            .prop_map(|(expiry, declared, payload)| well_formed(expiry, declared, &payload)),
        (payload, 0_usize..80).prop_map(|(payload, cut)| {
            let file = well_formed(u64::MAX, payload.len() as u64, &payload);
            file[..file.len().saturating_sub(cut)].to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        // `PROPTEST_CASES=100000` for a longer run than `cargo test`'s.
        cases: cases_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_entry_file_is_a_value_or_a_miss(bytes in entries()) {
        let dir = temp_dir("any");
        for largest in [
            load_as::<u64>(&dir.0, &bytes),
            load_as::<Vec<String>>(&dir.0, &bytes),
            load_as::<HashMap<String, Vec<u64>>>(&dir.0, &bytes),
            load_as::<(Option<String>, Vec<(u8, i64)>)>(&dir.0, &bytes),
        ] {
            prop_assert!(largest <= ALLOWANCE + bytes.len(), "{largest}");
        }
    }
}

#[test]
fn a_well_formed_entry_is_read_back() {
    let dir = temp_dir("well-formed");
    let payload = postcard::to_stdvec(&vec!["a".to_owned(), "b".to_owned()]).unwrap();
    let disk = Disk::<Vec<String>>::new(&dir.0, the_identity());
    std::fs::write(
        entry_file(&dir.0),
        well_formed(u64::MAX, payload.len() as u64, &payload),
    )
    .unwrap();
    let (value, expires) = disk
        .load(stable_hash(&key()))
        .expect("the entry the tests forge is valid");
    assert_eq!(
        (unerase::<Vec<String>>(&*value).clone(), expires),
        (vec!["a".to_owned(), "b".to_owned()], None)
    );
}

#[test]
fn a_payload_declaring_a_huge_sequence_allocates_boundedly() {
    let dir = temp_dir("huge-sequence");
    // postcard varint for u64::MAX elements, then almost nothing.
    let payload = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
    ];
    let bytes = well_formed(u64::MAX, payload.len() as u64, &payload);
    let largest = load_as::<Vec<u64>>(&dir.0, &bytes);
    assert!(largest <= ALLOWANCE, "{largest}");
}

/// `PROPTEST_CASES` if set, else `default`: the bounded run of `cargo test`.
fn cases_or(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
