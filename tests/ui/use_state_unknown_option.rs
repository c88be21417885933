use pagestate::use_state;

fn main() {
    let _ = use_state!("count", factroy = || 0_i64);
    let _ = use_state!("count", default = 0_i64);
}
