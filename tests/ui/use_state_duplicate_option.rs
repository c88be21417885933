use pagestate::use_state;

fn main() {
    let _ = use_state!("count", factory = || 0_i64, factory = || 1_i64);
}
