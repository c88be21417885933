//! How arguments, results and protocol messages travel between the
//! application and its worker processes: postcard (a compact binary serde
//! format) inside length-prefixed frames.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ExecError;

/// Set in a worker's environment; its value is the protocol version, so a
/// worker never talks to a parent built from other code.
pub(crate) const WORKER_ENV: &str = "PAGESTATE_WORKER";
/// The parent's pid, so that a worker whose parent already died exits.
pub(crate) const PARENT_ENV: &str = "PAGESTATE_WORKER_PARENT";
pub(crate) const PROTOCOL_VERSION: &str = "pagestate-worker-1";

/// The first frame a worker sends: proves the child is a pagestate worker.
pub(crate) const HELLO: &[u8] = b"\0pagestate-worker-hello-1\0";

/// Larger frames are refused: a length that large means the stream is not
/// (or no longer) speaking the protocol.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Request: `[REQUEST][id length: u32 LE][id][arguments]`.
pub(crate) const REQUEST: u8 = 1;

/// Reply tags; the rest of the frame is the result or a UTF-8 message.
pub(crate) const REPLY_OK: u8 = 0;
pub(crate) const REPLY_PANICKED: u8 = 1;
pub(crate) const REPLY_CODEC: u8 = 2;
pub(crate) const REPLY_UNKNOWN_FUNCTION: u8 = 3;

/// Encodes a value for the trip to a worker (or back).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ExecError> {
    postcard::to_allocvec(value)
        .map_err(|error| ExecError::Codec(format!("cannot encode: {error}")))
}

/// Decodes a value that came from a worker (or from the application).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ExecError> {
    postcard::from_bytes(bytes).map_err(|error| ExecError::Codec(format!("cannot decode: {error}")))
}

/// Writes one frame made of `parts`, then flushes.
pub(crate) fn write_frame(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    let len = u32::try_from(len)
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    out.write_all(&len.to_le_bytes())?;
    for part in parts {
        out.write_all(part)?;
    }
    out.flush()
}

/// Reads one frame, blocking; `None` at a clean end of the stream.
pub(crate) fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0_u8; 4];
    match input.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let len = frame_len(header)?;
    let mut frame = vec![0; len];
    input.read_exact(&mut frame)?;
    Ok(Some(frame))
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

/// Splits a request frame into the function id and its encoded arguments.
pub(crate) fn parse_request(frame: &[u8]) -> Option<(&str, &[u8])> {
    let (&tag, rest) = frame.split_first()?;
    if tag != REQUEST || rest.len() < 4 {
        return None;
    }
    let (len, rest) = rest.split_at(4);
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    if rest.len() < len {
        return None;
    }
    let (id, arguments) = rest.split_at(len);
    Some((std::str::from_utf8(id).ok()?, arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[&[REQUEST], b"ab"]).unwrap();
        write_frame(&mut wire, &[]).unwrap();
        let mut input = wire.as_slice();
        assert_eq!(
            read_frame(&mut input).unwrap(),
            Some(vec![REQUEST, b'a', b'b'])
        );
        assert_eq!(read_frame(&mut input).unwrap(), Some(vec![]));
        assert_eq!(read_frame(&mut input).unwrap(), None);
    }

    #[test]
    fn text_instead_of_frames_is_refused() {
        let mut input: &[u8] = b"running 12 tests\n";
        assert!(read_frame(&mut input).is_err());
    }

    #[test]
    fn requests_split_into_id_and_arguments() {
        let id = "crate::f";
        let frame = [
            &[REQUEST][..],
            &(id.len() as u32).to_le_bytes(),
            id.as_bytes(),
            &[7, 8],
        ]
        .concat();
        assert_eq!(parse_request(&frame), Some((id, &[7_u8, 8][..])));
        assert_eq!(parse_request(&frame[..6]), None);
        assert_eq!(parse_request(&[9]), None);
    }

    #[test]
    fn values_round_trip_and_bad_bytes_are_codec_errors() {
        let bytes = encode(&(&1_u64, &"two")).unwrap();
        assert_eq!(decode::<(u64, String)>(&bytes), Ok((1, "two".to_owned())));
        assert!(matches!(
            decode::<(u64, String)>(&[0xff]),
            Err(ExecError::Codec(_))
        ));
    }
}
