use pagestate::use_state;

fn main() {
    let _ = use_state!(factory = || 0_i64);
}

fn empty() {
    let _: pagestate::StateRef<i64> = use_state!();
}
