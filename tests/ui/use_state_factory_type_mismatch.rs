use pagestate::use_state;

fn main() {
    let _ = use_state!("name", type = String, factory = || 0_i64);
}
