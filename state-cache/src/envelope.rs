//! How a persisted value is sealed, whichever tier keeps it (a file with
//! `persist = "disk"`, a Redis string with `persist = "redis"`): the
//! function's identity, a header and a checksum around a postcard payload.
//!
//! ```text
//! magic "PGSTCACH" | format version u32 | function identity u128 | key hash u128
//! | expiry (unix ms, u64::MAX = never) u64 | payload length u64
//! | checksum u64 | payload (postcard)
//! ```
//!
//! (little-endian). Opening checks every field: bytes that are truncated,
//! corrupt, of another format version, of another function or key, or
//! expired open as nothing, never as a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::expiry::Moment;
use super::key::{erase, stable_hash, unerase, CacheValue, DynValue, ErasedValue, PersistValue};

const MAGIC: &[u8; 8] = b"PGSTCACH";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 16 + 16 + 8 + 8 + 8;
const NEVER: u64 = u64::MAX;

/// A function's identity in every persisted tier: its module path, name and
/// the fingerprint of its tokens.
pub(crate) fn identity(module_path: &str, name: &str, fingerprint: u128) -> u128 {
    stable_hash(&(module_path, name, fingerprint))
}

/// Seals and opens the values of one function. Only its codec is
/// compiled per value type: two functions, made when a persisted cache is
/// created.
pub(crate) struct Envelope {
    identity: u128,
    encode: fn(&dyn DynValue) -> Option<Vec<u8>>,
    decode: fn(&[u8]) -> Option<ErasedValue>,
}

impl Envelope {
    /// The envelope of values of type `V` of the function with `identity`.
    pub(crate) fn new<V: CacheValue + PersistValue>(identity: u128) -> Self {
        Envelope {
            identity,
            encode: |value| postcard::to_stdvec(unerase::<V>(value)).ok(),
            decode: |bytes| postcard::from_bytes::<V>(bytes).ok().map(erase),
        }
    }

    /// `value` for the key hashed `key_hash`, expiring `ttl` from now;
    /// `None` if it cannot be encoded.
    pub(crate) fn seal(
        &self,
        key_hash: u128,
        value: &dyn DynValue,
        ttl: Option<Duration>,
    ) -> Option<Vec<u8>> {
        let payload = (self.encode)(value)?;
        let expiry = match ttl {
            None => NEVER,
            // A ttl too long to represent (`Duration::MAX`) never expires.
            Some(ttl) => unix_now()
                .checked_add(ttl)
                .and_then(|expiry| u64::try_from(expiry.as_millis()).ok())
                .unwrap_or(NEVER),
        };
        let mut sealed = Vec::with_capacity(HEADER_LEN + payload.len());
        sealed.extend_from_slice(MAGIC);
        sealed.extend_from_slice(&VERSION.to_le_bytes());
        sealed.extend_from_slice(&self.identity.to_le_bytes());
        sealed.extend_from_slice(&key_hash.to_le_bytes());
        sealed.extend_from_slice(&expiry.to_le_bytes());
        sealed.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let checksum = payload_checksum(&sealed, &payload);
        sealed.extend_from_slice(&checksum.to_le_bytes());
        sealed.extend_from_slice(&payload);
        Some(sealed)
    }

    /// The live value sealed in `bytes` for the key hashed `key_hash`, with
    /// its expiry on the cache's clock; `None` for anything else.
    pub(crate) fn open(
        &self,
        bytes: &[u8],
        key_hash: u128,
    ) -> Option<(ErasedValue, Option<Moment>)> {
        let mut reader = Reader(bytes);
        if reader.take(8)? != MAGIC
            || reader.u32()? != VERSION
            || reader.u128()? != self.identity
            || reader.u128()? != key_hash
        {
            return None;
        }
        let expiry = reader.u64()?;
        let length = usize::try_from(reader.u64()?).ok()?;
        let checksum = reader.u64()?;
        let payload = reader.take(length)?;
        if !reader.0.is_empty() || checksum != payload_checksum(&bytes[..HEADER_LEN - 8], payload) {
            return None;
        }
        let expires = if expiry == NEVER {
            None
        } else {
            let left = Duration::from_millis(expiry).checked_sub(unix_now())?;
            if left.is_zero() {
                return None;
            }
            Some(Moment::after(left))
        };
        Some(((self.decode)(payload)?, expires))
    }
}

fn payload_checksum(header: &[u8], payload: &[u8]) -> u64 {
    stable_hash(&(header, payload)) as u64
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Reads little-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_function_and_key() {
        let envelope = Envelope::new::<String>(7);
        let sealed = envelope.seal(3, &*erase("value".to_owned()), None).unwrap();
        assert_eq!(
            envelope
                .open(&sealed, 3)
                .map(|(v, e)| (unerase::<String>(&*v).clone(), e.is_none())),
            Some(("value".to_owned(), true))
        );
        assert!(envelope.open(&sealed, 4).is_none(), "another key");
        assert!(
            Envelope::new::<String>(8).open(&sealed, 3).is_none(),
            "another function"
        );
        let mut corrupt = sealed.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert!(envelope.open(&corrupt, 3).is_none(), "checksum");
        assert!(
            envelope.open(&sealed[..sealed.len() - 1], 3).is_none(),
            "truncated"
        );
        assert!(envelope.open(b"garbage", 3).is_none());
    }
}
