//! An application that only caches, built without pagestate's default
//! `runtime` feature (tests/support/cache-only): it links none of the
//! sessions, state and executors, `#[cached]` works in full, and the macros
//! that need the runtime say so with one error each.
//!
//! The fixture is a workspace of its own: in this one, pagestate's tests
//! turn its default features on, and features are unified within a
//! workspace. It is built with this workspace's lock file, offline (every
//! crate it uses is one this workspace's build has fetched), in its own
//! target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/cache-only")
}

fn cargo(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("cache-only");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(args)
        .args(["--offline", "--manifest-path"])
        .arg(fixture().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap()
}

fn check(what: &str, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn an_application_that_only_caches_needs_no_runtime() {
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"),
        fixture().join("Cargo.lock"),
    )
    .unwrap();

    // What it links: the cache runtime, none of pagestate-core and its
    // dependencies.
    let tree = check(
        "cargo tree",
        &cargo(&["tree", "-e", "normal", "--prefix", "none"]),
    );
    assert!(tree.contains("pagestate-cache v"), "{tree}");
    for absent in [
        "pagestate-core",
        "tokio",
        "serde_json",
        "crossbeam-channel",
        "linkme",
    ] {
        assert!(!tree.contains(absent), "{absent} is linked:\n{tree}");
    }

    // `#[cached]` in full: its main asserts, and prints `ok` at the end.
    let run = check("cargo run", &cargo(&["run", "--quiet"]));
    assert_eq!(run.trim(), "cache-only: ok");

    // The macros that need the runtime: one error each (trybuild cases).
    check("cargo test", &cargo(&["test", "--quiet", "--test", "ui"]));
}
