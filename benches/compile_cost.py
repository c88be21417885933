#!/usr/bin/env python3
"""Compile-time cost of #[cached]: the edit-run loop of a page app.

Generates, side by side in one scratch workspace (target/compile-cost/):

  ours-N    N functions `#[pagestate::cached(ttl = 60, max_entries = 100)]`
  lean-N    the same, with pagestate's default features off (no `runtime`:
            an application that only caches links no sessions, state or
            executors)
  theirs-N  the same N functions with the `cached` crate,
            `#[cached(ttl_secs = 60, max_size = 100)]` (cached 4.x's names)
  *-types   8 functions, each with a key and value type of its own, to
            compare with *-8 (8 functions of one type): the cost of each
            further key and value type, which the generic cache code is
            compiled for

for N = 100, 8, 1 and 0, builds each once, then times incremental debug
rebuilds after editing one line of `main` (median of --runs, the variants
alternating so that machine load hits all alike). Prints wall time and CPU
time (user + sys of cargo and rustc) per variant, the ratios ours/theirs and
lean/theirs at N = 100, and their two parts: the first function (N = 1 against N = 0: the
runtime gets linked) and each further one (N = 100 against N = 1).
pagestate's crates are built the way cargo builds a crates.io dependency,
like the `cached` crate on the other side: once, without incremental
compilation (a profile override; cargo compiles path dependencies, which
they are here, incrementally, into many small object files that the linker
then reads). --path-deps keeps cargo's default for path dependencies: the
figure for a workspace that holds pagestate's sources.
--deps-debug line-tables-only builds the dependencies of both sides with
less debug information, a common setting for fast edit-run loops.

Usage: python3 benches/compile_cost.py [--runs 8] [--functions 100]
Needs the `cached` crate in the local cargo cache (the peer benches use it);
runs cargo with --offline.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "target" / "compile-cost"


# The crates of pagestate that an application builds.
PAGESTATE_PACKAGES = [
    "pagestate",
    "pagestate-cache",
    "pagestate-core",
    "pagestate-macros",
    "pagestate-registry",
]

# Key and value types of the `types` variants: each function its own pair.
PAIRS = [
    ("u64", "u64"),
    ("String", "u32"),
    ("u32", "String"),
    ("(u64, u64)", "Vec<u8>"),
    ("i64", "i32"),
    ("String", "String"),
    ("u16", "bool"),
    ("char", "u64"),
]


def function_source(kind, i, types):
    if kind in ("ours", "lean"):
        attribute = "#[pagestate::cached(ttl = 60, max_entries = 100)]"
    else:
        attribute = "#[cached::proc_macro::cached(ttl_secs = 60, max_size = 100)]"
    if types:
        key, value = PAIRS[i]
        return (
            f"{attribute}\n"
            f"pub fn load_{i}(x: {key}) -> {value} {{\n"
            f"    let _ = &x;\n"
            f"    <{value}>::default()\n"
            f"}}\n"
        )
    return (
        f"{attribute}\n"
        f"pub fn load_{i}(x: u64) -> u64 {{\n"
        f"    x.wrapping_mul({i + 1}).rotate_left({i % 63})\n"
        f"}}\n"
    )


def main_source(n, edit, types):
    if types:
        calls = "".join(f"    let _ = load_{i}(<{PAIRS[i][0]}>::default());\n" for i in range(n))
    else:
        calls = "".join(f"    total = total.wrapping_add(load_{i}(seed));\n" for i in range(n))
    return (
        "fn main() {\n"
        "    let seed = std::env::args().count() as u64;\n"
        "    #[allow(unused_mut)]\n"
        "    let mut total = 0_u64;\n"
        "    let _ = seed;\n"
        f"{calls}"
        f"    println!(\"{{total}} edit {edit}\");\n"
        "}\n"
    )


def write_crate(name, kind, n, types):
    crate = SCRATCH / name
    (crate / "src").mkdir(parents=True, exist_ok=True)
    if kind == "ours":
        dependency = f'pagestate = {{ path = "{ROOT}" }}'
    elif kind == "lean":
        dependency = f'pagestate = {{ path = "{ROOT}", default-features = false }}'
    else:
        dependency = 'cached = "4.1"'
    (crate / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
        f"[dependencies]\n{dependency}\n"
    )
    functions = "".join(function_source(kind, i, types) for i in range(n))
    (crate / "src" / "functions.rs").write_text(functions)
    set_edit(name, n, types, 0)


def set_edit(name, n, types, edit):
    main = "mod functions;\n#[allow(unused_imports)]\nuse functions::*;\n\n" + main_source(n, edit, types)
    (SCRATCH / name / "src" / "main.rs").write_text(main)


def cargo_build(name):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        ["cargo", "build", "--offline", "--quiet", "-p", name],
        cwd=SCRATCH,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--functions", type=int, default=100)
    parser.add_argument(
        "--path-deps",
        action="store_true",
        help="build pagestate's crates as the path dependencies they are here "
        "(incremental), not as a crates.io dependency would be",
    )
    parser.add_argument(
        "--deps-debug",
        help="build dependencies with this `debug` setting (for example "
        "line-tables-only), for both variants alike; default: cargo's dev profile",
    )
    args = parser.parse_args()
    n = args.functions

    kinds = ("ours", "lean", "theirs")
    variants = [(f"{kind}-{count}", kind, count, False) for count in (n, 1, 0) for kind in kinds]
    # Eight functions with eight key and value types, against eight of one.
    if n != 8:
        variants += [(f"{kind}-8", kind, 8, False) for kind in kinds]
    variants += [(f"{kind}-types", kind, 8, True) for kind in kinds]
    SCRATCH.mkdir(parents=True, exist_ok=True)
    members = ", ".join(f'"{name}"' for name, _, _, _ in variants)
    profile = ""
    if args.deps_debug:
        profile = f'\n[profile.dev.package."*"]\ndebug = "{args.deps_debug}"\n'
    if not args.path_deps:
        # What a crates.io dependency gets: no incremental compilation.
        for package in PAGESTATE_PACKAGES:
            profile += f"\n[profile.dev.package.{package}]\nincremental = false\n"
    (SCRATCH / "Cargo.toml").write_text(
        f"[workspace]\nmembers = [{members}]\nresolver = \"2\"\n{profile}"
    )
    # The repository's lock file pins the versions already in the local
    # cache, so that --offline resolves.
    shutil.copy(ROOT / "Cargo.lock", SCRATCH / "Cargo.lock")
    for name, kind, count, types in variants:
        write_crate(name, kind, count, types)

    print("warming up (first builds)...", file=sys.stderr)
    for name, _, _, _ in variants:
        cargo_build(name)

    times = {name: [] for name, _, _, _ in variants}
    for run in range(1, args.runs + 1):
        order = variants if run % 2 else list(reversed(variants))
        for name, _, count, types in order:
            set_edit(name, count, types, run)
            times[name].append(cargo_build(name))
        print(f"run {run}/{args.runs} done", file=sys.stderr)

    def median(name, index):
        return statistics.median(sample[index] for sample in times[name])

    built = "path dependencies (incremental)" if args.path_deps else "as from crates.io"
    print(
        f"Incremental debug rebuild after editing one line of main, median of {args.runs}; "
        f"pagestate built {built}:"
    )
    print(f"| crate | wall | CPU |")
    print(f"|---|---:|---:|")
    for name, _, _, _ in variants:
        print(f"| {name} | {median(name, 0):.3f} s | {median(name, 1):.3f} s |")
    for mine, label in [("ours", "with default features"), ("lean", "without `runtime`")]:
        print(f"pagestate {label}:")
        for index, what in [(0, "wall"), (1, "CPU")]:
            ratio = median(f"{mine}-{n}", index) / median(f"theirs-{n}", index)
            verdict = "met" if ratio <= 1.0 else "missed"
            print(
                f"  {what}: {n} pagestate #[cached] vs {n} cached #[cached] = {ratio:.2f} "
                f"(target <= 1.00: {verdict})"
            )
            # The first function links the runtime (a fixed cost); the
            # others add their own code only.
            first = [median(f"{kind}-1", index) - median(f"{kind}-0", index) for kind in (mine, "theirs")]
            each = [
                (median(f"{kind}-{n}", index) - median(f"{kind}-1", index)) / max(n - 1, 1) * 1000
                for kind in (mine, "theirs")
            ]
            print(
                f"    the first function {first[0] * 1000:.0f} ms vs {first[1] * 1000:.0f} ms "
                f"(linking the runtime); each further one {each[0]:.2f} ms vs {each[1]:.2f} ms "
                f"= {each[0] / each[1]:.2f}"
            )
            # Seven more key and value types, beyond seven more functions.
            per_type = [
                (median(f"{kind}-types", index) - median(f"{kind}-8", index)) / 7 * 1000
                for kind in (mine, "theirs")
            ]
            print(
                f"    each further key and value type: {per_type[0]:.2f} ms vs "
                f"{per_type[1]:.2f} ms (8 functions of 8 types against 8 of one)"
            )
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.2f}")


if __name__ == "__main__":
    main()
