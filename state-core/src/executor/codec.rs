//! How arguments, results and protocol messages travel between the
//! application and its worker processes: postcard (a compact binary serde
//! format) inside length-prefixed frames.

// Off Unix only the serde half is used: there are no worker processes.
#![cfg_attr(not(unix), allow(dead_code))]

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ExecError;

/// Set in a worker's environment; its value is the protocol version
/// ([`PROTOCOL_VERSION`]), so a worker never talks to a parent built from
/// other code. Both live with the constructor that reads them.
pub(crate) use pagestate_registry::{PROTOCOL_VERSION, WORKER_ENV};
/// The parent's pid, so that a worker whose parent already died exits.
pub(crate) const PARENT_ENV: &str = "PAGESTATE_WORKER_PARENT";

/// The first frame a worker sends: proves the child is a pagestate worker.
pub(crate) const HELLO: &[u8] = b"\0pagestate-worker-hello-1\0";

/// Larger frames are refused: a length that large means the stream is not
/// (or no longer) speaking the protocol.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Request: `[REQUEST][index: u32 LE][id length: u32 LE][id][arguments]`.
///
/// The index (the function's place in the link-time registry, the same in
/// the application and its workers, which run one executable) is what
/// selects the function: ids alone can repeat (two functions of one name
/// made by one `macro_rules!` invocation share module path, line and
/// column). The id must match too, as a check.
pub(crate) const REQUEST: u8 = 1;

/// Reply tags; the rest of the frame is the result or a UTF-8 message.
pub(crate) const REPLY_OK: u8 = 0;
pub(crate) const REPLY_PANICKED: u8 = 1;
pub(crate) const REPLY_CODEC: u8 = 2;
pub(crate) const REPLY_UNKNOWN_FUNCTION: u8 = 3;

/// A type that can travel to a worker process and back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the process boundary: it must implement `serde::Serialize` and `serde::de::DeserializeOwned`",
    label = "this type must be Serialize + DeserializeOwned",
    note = "derive both with `#[derive(serde::Serialize, serde::Deserialize)]`, or use `#[executor(thread)]`"
)]
pub trait ProcessValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> ProcessValue for T {}

/// How one argument or result type crosses the process boundary.
///
/// Only [`codec`] makes one, so that the serde bounds are checked in one
/// place, spanned on the user's type: every other use of a codec has no
/// bound left to fail, and a missing `Serialize` is reported once per type.
pub struct Codec<T> {
    encode: fn(&T, Vec<u8>) -> postcard::Result<Vec<u8>>,
    take: TakeFn<T>,
}

/// Decodes one value off the front of the input, returning the rest.
type TakeFn<T> = for<'a> fn(&'a [u8]) -> postcard::Result<(T, &'a [u8])>;

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

/// The codec of `T`: where the macro checks that `T` can cross.
pub fn codec<T: ProcessValue>() -> Codec<T> {
    Codec {
        encode: |value, buffer| postcard::to_extend(value, buffer),
        take: |bytes| postcard::take_from_bytes(bytes),
    }
}

/// The codec the expansion uses for a type: [`codec`]'s, except for
/// `Vec<u8>`, which serde encodes and decodes element by element (a 1 MiB
/// payload is a million calls each way). Chosen by type, so an alias of
/// `Vec<u8>` gets it too: the inherent method on `PickCodec<Vec<u8>>` takes
/// precedence over [`PickAny`]'s, which every other type gets.
#[doc(hidden)]
pub struct PickCodec<T>(pub Codec<T>);

impl PickCodec<Vec<u8>> {
    /// Byte vectors as one block: postcard writes `serialize_bytes` and a
    /// `Vec<u8>` the same way (the length as a varint, then the bytes), so
    /// only the speed differs.
    pub fn __pagestate_codec(&self) -> Codec<Vec<u8>> {
        Codec {
            encode: |value, buffer| postcard::to_extend(serde_bytes::Bytes::new(value), buffer),
            take: |bytes| {
                postcard::take_from_bytes::<serde_bytes::ByteBuf>(bytes)
                    .map(|(value, rest)| (value.into_vec(), rest))
            },
        }
    }
}

/// Every type but `Vec<u8>`: the codec as [`codec`] made it.
#[doc(hidden)]
pub trait PickAny<T> {
    /// The codec [`codec`] made.
    fn __pagestate_codec(&self) -> Codec<T>;
}

impl<T> PickAny<T> for PickCodec<T> {
    fn __pagestate_codec(&self) -> Codec<T> {
        self.0
    }
}

impl<T> Codec<T> {
    /// Appends `value` to the encoded arguments (postcard encodes a tuple
    /// as its fields one after another), or records why it cannot.
    pub fn encode_into(self, value: &T, arguments: &mut Result<Vec<u8>, ExecError>) {
        if let Ok(buffer) = arguments {
            let taken = std::mem::take(buffer);
            *arguments = (self.encode)(value, taken)
                .map_err(|error| ExecError::Codec(format!("cannot encode an argument: {error}")));
        }
    }

    /// Worker side: decodes one argument off the front of `input`.
    pub fn take(self, input: &[u8]) -> Result<(T, &[u8]), String> {
        (self.take)(input)
            .map_err(|error| format!("the worker cannot decode the arguments: {error}"))
    }

    /// Worker side: encodes the function's result.
    pub fn encode_result(self, value: &T) -> Result<Vec<u8>, String> {
        (self.encode)(value, Vec::new())
            .map_err(|error| format!("the worker cannot encode the result: {error}"))
    }

    /// Application side: decodes the result a worker sent.
    pub(crate) fn decode_result(self, bytes: &[u8]) -> Result<T, ExecError> {
        match (self.take)(bytes) {
            Ok((value, [])) => Ok(value),
            Ok(_) => Err(ExecError::Codec(
                "cannot decode the result: bytes left over".to_owned(),
            )),
            Err(error) => Err(ExecError::Codec(format!(
                "cannot decode the result: {error}"
            ))),
        }
    }
}

/// Writes one frame made of `parts`, then flushes.
pub(crate) fn write_frame(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    let len = u32::try_from(len)
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    // Every write to a pipe may wake its reader: the length and as many
    // parts as fit in `COALESCE` bytes go out in one write, so a small frame
    // costs one wake-up, and a large payload is written from where it lies.
    const COALESCE: usize = 64 * 1024;
    let mut head = Vec::with_capacity(4 + (len as usize).min(COALESCE));
    head.extend_from_slice(&len.to_le_bytes());
    let mut rest = parts;
    while let Some((part, tail)) = rest.split_first() {
        if head.len() + part.len() > COALESCE {
            break;
        }
        head.extend_from_slice(part);
        rest = tail;
    }
    out.write_all(&head)?;
    for part in rest {
        out.write_all(part)?;
    }
    out.flush()
}

/// Reads one frame into `frame`, blocking and reusing its allocation;
/// `false` at a clean end of input. A worker keeps one buffer for all its requests, so a large
/// payload costs no fresh allocation (and page faults) per job.
pub(crate) fn read_frame_into(input: &mut impl Read, frame: &mut Vec<u8>) -> io::Result<bool> {
    let mut header = [0_u8; 4];
    match input.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(error) => return Err(error),
    }
    let len = frame_len(header)?;
    read_body(frame, len, |buffer| input.read_exact(buffer))?;
    Ok(true)
}

/// Reads a frame body of `len` bytes, a length the peer declared, into
/// `frame` through `read_exact`, growing the buffer only as bytes arrive
/// (64 KiB, then doubling): a length the input does not back is never
/// allocated, so four bytes of garbage cannot claim a gigabyte.
pub(crate) fn read_body<E>(
    frame: &mut Vec<u8>,
    len: usize,
    mut read_exact: impl FnMut(&mut [u8]) -> Result<(), E>,
) -> Result<(), E> {
    const FIRST_CHUNK: usize = 64 * 1024;
    frame.clear();
    while frame.len() < len {
        let start = frame.len();
        let end = len.min(start.max(FIRST_CHUNK / 2) * 2);
        frame.resize(end, 0);
        read_exact(&mut frame[start..])?;
    }
    Ok(())
}

pub(crate) fn frame_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes: the stream does not speak the worker protocol"),
        ));
    }
    Ok(len)
}

/// A parsed request frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    /// The function's index in the registry.
    pub(crate) index: u32,
    /// The function's id, checked against the registry's entry.
    pub(crate) id: &'a str,
    /// The encoded arguments.
    pub(crate) arguments: &'a [u8],
}

/// Splits a request frame into the function's index and id and its
/// encoded arguments.
pub(crate) fn parse_request(frame: &[u8]) -> Option<Request<'_>> {
    let (&tag, rest) = frame.split_first()?;
    if tag != REQUEST || rest.len() < 8 {
        return None;
    }
    let (index, rest) = rest.split_at(4);
    let index = u32::from_le_bytes(index.try_into().ok()?);
    let (len, rest) = rest.split_at(4);
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    if rest.len() < len {
        return None;
    }
    let (id, arguments) = rest.split_at(len);
    Some(Request {
        index,
        id: std::str::from_utf8(id).ok()?,
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pagestate_alloc_probe::largest_allocation_in;

    /// What the expansion uses for an argument or result of type `T`.
    macro_rules! picked {
        ($ty:ty) => {{
            #[allow(unused_imports)]
            use super::PickAny as _;
            PickCodec(codec::<$ty>()).__pagestate_codec()
        }};
    }

    #[test]
    fn byte_vectors_cross_as_one_block_in_postcards_own_format() {
        type Payload = Vec<u8>;
        let value: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        let generic = postcard::to_allocvec(&value).unwrap();
        // The same bytes as serde's element-by-element encoding, so either
        // side can read the other's.
        assert_eq!(picked!(Vec<u8>).encode_result(&value).unwrap(), generic);
        assert_eq!(picked!(Payload).encode_result(&value).unwrap(), generic);
        let mut arguments = Ok(Vec::new());
        picked!(Vec<u8>).encode_into(&value, &mut arguments);
        picked!(u64).encode_into(&9, &mut arguments);
        let arguments = arguments.unwrap();
        let (back, rest) = picked!(Vec<u8>).take(&arguments).unwrap();
        assert_eq!(back, value);
        assert_eq!(picked!(u64).take(rest).unwrap(), (9, &[][..]));
        assert_eq!(picked!(Payload).decode_result(&generic).unwrap(), value);
        assert_eq!(codec::<Vec<u8>>().decode_result(&generic).unwrap(), value);
    }

    #[test]
    fn a_byte_vector_is_decoded_into_one_allocation_of_its_size() {
        type Payload = Vec<u8>;
        const LEN: usize = 1_500_000;
        let wire = postcard::to_allocvec(&vec![5_u8; LEN]).unwrap();
        let (value, largest) = largest_allocation_in(|| picked!(Payload).take(&wire).unwrap().0);
        assert_eq!(value, vec![5_u8; LEN]);
        assert_eq!(largest, LEN);
        // serde's `Vec<T>`, which every other type gets, reserves at most
        // 1 MiB up front and pushes the bytes one by one, doubling as it
        // grows (to 2 MiB here): what this test tells the two apart by.
        let (value, largest) = largest_allocation_in(|| codec::<Vec<u8>>().take(&wire).unwrap().0);
        assert_eq!(value.len(), LEN);
        assert!(
            largest > LEN,
            "serde's Vec<u8> allocated at most {largest} bytes"
        );
    }

    #[test]
    fn a_byte_vector_longer_than_its_input_is_refused_before_any_allocation() {
        // Declares 1 GiB and carries ten bytes.
        let mut forged = postcard::to_allocvec(&(1_u64 << 30)).unwrap();
        forged.extend_from_slice(&[1; 10]);
        let (refused, largest) = largest_allocation_in(|| picked!(Vec<u8>).take(&forged).is_err());
        assert!(refused);
        // Only the error message is allocated.
        assert!(largest < 1024, "allocated {largest} bytes");
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[&[REQUEST], b"ab"]).unwrap();
        write_frame(&mut wire, &[]).unwrap();
        let big = vec![7_u8; 100_000];
        write_frame(&mut wire, &[b"x", &big]).unwrap();
        let mut input = wire.as_slice();
        let mut frame = Vec::new();
        assert!(read_frame_into(&mut input, &mut frame).unwrap());
        assert_eq!(frame, [REQUEST, b'a', b'b']);
        assert!(read_frame_into(&mut input, &mut frame).unwrap());
        assert!(frame.is_empty());
        assert!(read_frame_into(&mut input, &mut frame).unwrap());
        assert_eq!(
            (frame[0], frame.len(), frame[1..] == big[..]),
            (b'x', 100_001, true)
        );
        assert!(!read_frame_into(&mut input, &mut frame).unwrap());
    }

    #[test]
    fn text_instead_of_frames_is_refused() {
        let mut input: &[u8] = b"running 12 tests\n";
        assert!(read_frame_into(&mut input, &mut Vec::new()).is_err());
    }

    #[test]
    fn requests_split_into_id_and_arguments() {
        let id = "crate::f";
        let frame = [
            &[REQUEST][..],
            &5_u32.to_le_bytes(),
            &(id.len() as u32).to_le_bytes(),
            id.as_bytes(),
            &[7, 8],
        ]
        .concat();
        assert_eq!(
            parse_request(&frame),
            Some(Request {
                index: 5,
                id,
                arguments: &[7, 8]
            })
        );
        assert_eq!(parse_request(&frame[..10]), None);
        assert_eq!(parse_request(&frame[..6]), None);
        assert_eq!(parse_request(&[9]), None);
    }

    #[test]
    fn arguments_encoded_one_by_one_decode_one_by_one() {
        let mut arguments = Ok(Vec::new());
        codec::<u64>().encode_into(&1, &mut arguments);
        codec::<String>().encode_into(&"two".to_owned(), &mut arguments);
        let arguments = arguments.unwrap();
        assert_eq!(arguments, postcard::to_allocvec(&(1_u64, "two")).unwrap());
        let (one, rest) = codec::<u64>().take(&arguments).unwrap();
        let (two, rest) = codec::<String>().take(rest).unwrap();
        assert_eq!((one, two.as_str(), rest), (1, "two", &[][..]));
    }

    #[test]
    fn bad_result_bytes_are_codec_errors() {
        let result = codec::<String>().encode_result(&"ok".to_owned()).unwrap();
        assert_eq!(
            codec::<String>().decode_result(&result),
            Ok("ok".to_owned())
        );
        assert!(matches!(
            codec::<String>().decode_result(&[0xff]),
            Err(ExecError::Codec(_))
        ));
        assert!(matches!(
            codec::<u8>().decode_result(&[1, 2]),
            Err(ExecError::Codec(_))
        ));
    }
}
