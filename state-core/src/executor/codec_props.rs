//! Property tests of the process protocol's decoders: any bytes a worker
//! or a parent might receive are decoded without a panic, without a hang,
//! and without allocating a length the input only declares. Bounded so
//! that `cargo test` runs them in a few seconds.

use proptest::prelude::*;

use super::codec::{self, read_frame_into, MAX_FRAME, REQUEST};
use pagestate_alloc_probe::largest_allocation_in;

/// What a decoder may allocate for `input_len` bytes of input: its first
/// 64 KiB chunk, or twice what arrived.
fn allowance(input_len: usize) -> usize {
    (64 * 1024).max(2 * input_len) + 4096
}

/// Byte streams that look like frames: a declared length (often far
/// larger than what follows, up to the protocol's limit and beyond), then
/// arbitrary bytes.
fn frames() -> impl Strategy<Value = Vec<u8>> {
    let declared = prop_oneof![
        0_u32..64,
        Just(MAX_FRAME as u32),
        Just(MAX_FRAME as u32 + 1),
        any::<u32>(),
    ];
    (
        declared,
        proptest::collection::vec(any::<u8>(), 0..512),
        any::<bool>(),
    )
        .prop_map(|(len, body, with_request_tag)| {
            let mut stream = len.to_le_bytes().to_vec();
            if with_request_tag {
                stream.push(REQUEST);
            }
            stream.extend(body);
            stream
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // `PROPTEST_CASES=100000` for a longer run than `cargo test`'s.
        cases: cases_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frame_streams_decode_without_panic_or_declared_allocation(
        stream in prop_oneof![frames(), proptest::collection::vec(any::<u8>(), 0..1024)]
    ) {
        let (frames, largest) = largest_allocation_in(|| {
            let mut input = stream.as_slice();
            let mut frame = Vec::new();
            let mut frames = 0;
            // Each frame consumes at least its 4-byte header: this ends.
            while let Ok(true) = read_frame_into(&mut input, &mut frame) {
                let _ = codec::parse_request(&frame);
                frames += 1;
            }
            frames
        });
        prop_assert!(frames <= stream.len() / 4);
        prop_assert!(
            largest <= allowance(stream.len()),
            "{} bytes of input made a {largest}-byte allocation",
            stream.len()
        );
    }

    #[test]
    fn request_frames_split_or_are_refused(frame in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Some(request) = codec::parse_request(&frame) {
            prop_assert_eq!(frame[0], REQUEST);
            prop_assert_eq!(9 + request.id.len() + request.arguments.len(), frame.len());
        }
    }

    #[test]
    fn results_and_arguments_decode_or_fail_as_codec_errors(
        bytes in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let (_, largest) = largest_allocation_in(|| {
            let _ = codec::codec::<Vec<String>>().decode_result(&bytes);
            let _ = codec::codec::<(u64, Option<String>, Vec<u8>)>().decode_result(&bytes);
            let _ = codec::codec::<std::collections::HashMap<String, Vec<u64>>>()
                .decode_result(&bytes);
            if let Ok((_, rest)) = codec::codec::<String>().take(&bytes) {
                let _ = codec::codec::<Vec<u32>>().take(rest);
            }
        });
        // serde preallocates at most about 1 MiB of elements for a declared
        // length (its `cautious` size hint); hash tables add their overhead.
        prop_assert!(largest <= 4 << 20, "{largest}");
    }

    #[test]
    fn byte_vectors_decode_or_fail_allocating_only_what_arrived(
        bytes in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let bytes_codec = codec::PickCodec(codec::codec::<Vec<u8>>()).__pagestate_codec();
        let (taken, largest) = largest_allocation_in(|| {
            let _ = bytes_codec.decode_result(&bytes);
            bytes_codec.take(&bytes).map(|(value, rest)| (value.len(), rest.len()))
        });
        if let Ok((len, rest)) = taken {
            // The declared length came out whole, from the input's own bytes.
            prop_assert!(len + rest < bytes.len());
        }
        // The vector is the input's bytes, or nothing; an error allocates
        // its message.
        prop_assert!(largest <= bytes.len().max(256), "{largest}");
    }
}

#[test]
fn a_header_declaring_a_gigabyte_allocates_only_what_arrives() {
    let mut stream = (MAX_FRAME as u32).to_le_bytes().to_vec();
    stream.extend([7_u8; 100]);
    let (result, largest) = largest_allocation_in(|| {
        read_frame_into(&mut stream.as_slice(), &mut Vec::new()).map(|_| ())
    });
    assert!(result.is_err(), "the frame is truncated");
    assert!(largest <= allowance(stream.len()), "{largest}");
}

/// `PROPTEST_CASES` if set, else `default`: the bounded run of `cargo test`.
fn cases_or(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
