//! An application that only caches, built without pagestate's default
//! `runtime` feature (tests/support/cache-only): it links none of the
//! sessions, state and executors, `#[cached]` works in full, and the macros
//! that need the runtime say so with one error each. The same application
//! with `runtime` alone builds no JSON library, and a durable state there
//! names the `durable` feature.
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

/// The fixture builds with this workspace's lock file (copied once: the
/// tests run side by side).
fn copy_lock_file() {
    static COPIED: std::sync::Once = std::sync::Once::new();
    COPIED.call_once(|| {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock"),
            fixture().join("Cargo.lock"),
        )
        .unwrap();
    });
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
    copy_lock_file();

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

#[test]
fn the_runtime_alone_builds_no_json_and_a_durable_state_names_its_feature() {
    copy_lock_file();

    // `runtime` without `durable` (nor `tokio`): sessions, state and
    // executors, and no JSON library.
    let tree = check(
        "cargo tree --features runtime",
        &cargo(&[
            "tree",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--features",
            "runtime",
        ]),
    );
    assert!(tree.contains("pagestate-core v"), "{tree}");
    for absent in ["serde_json", "tokio"] {
        assert!(!tree.contains(absent), "{absent} is linked:\n{tree}");
    }

    // `use_state!(.., durable)` there: one error, naming the feature.
    check(
        "cargo test --features runtime",
        &cargo(&[
            "test",
            "--quiet",
            "--features",
            "runtime",
            "--test",
            "ui_runtime",
        ]),
    );
}
