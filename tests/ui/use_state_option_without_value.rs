use pagestate::use_state;

fn main() {
    let _ = use_state!("count", namespace);
}
