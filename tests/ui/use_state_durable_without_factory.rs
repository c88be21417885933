use pagestate::use_state;

fn page() {
    let count = use_state!("count", type = u32, durable);
    let _ = count.get();
}

fn main() {
    page();
}
