//! Records the versions of the peers that Cargo.lock pins, so that the
//! report names exactly what pagestate was measured against.

use std::env;
use std::fs;
use std::path::PathBuf;

const PEERS: &[&str] = &["cached", "moka", "tokio", "blocking", "procspawn", "redis"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let lock = manifest_dir.join("..").join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_default();
    let versions: Vec<String> = PEERS
        .iter()
        .map(|peer| match locked_version(&text, peer) {
            Some(version) => format!("{peer} {version}"),
            None => format!("{peer} (version unknown)"),
        })
        .collect();
    println!(
        "cargo:rustc-env=PAGESTATE_BENCH_PEERS={}",
        versions.join(", ")
    );
}

/// The version of `name` in a Cargo.lock: the `version` line that follows
/// its `name` line.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let name_line = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    lines.find(|line| *line == name_line)?;
    let version = lines.next()?.strip_prefix("version = \"")?;
    Some(version.trim_end_matches('"').to_owned())
}
