// An option error is the only error: the function and its cache controls
// keep their shapes, so the calls below report nothing more.
use pagestate::cached;

#[cached(tll = 5)]
fn load(x: u64, _db: &str) -> u64 {
    x
}

fn main() {
    let _: u64 = load(1, "db");
    load::clear();
    let _: u64 = load::stats().hits;
    let _: bool = load::invalidate(1);
}
