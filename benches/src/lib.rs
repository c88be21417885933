//! The measurement toolkit behind `cargo bench --bench peers`: pagestate
//! against the crates a Rust user would pick instead, measured side by side
//! in the same run.
//!
//! - [`measure`]: interleaved sampling ([`interleave`](measure::interleave)
//!   alternates batches of all contenders of a figure), medians, and helpers
//!   for multi-threaded and CPU-bound bodies.
//! - [`figure`]: a figure's contenders and the rows that compare them.
//! - [`report`]: the per-figure lines, the final markdown table and the
//!   machine line.
//!
//! The figures themselves live in the bench target, `benches/peers.rs`.

#![warn(missing_docs)]

pub mod figure;
pub mod measure;
pub mod report;
