use pagestate::use_state;

fn page() -> u32 {
    let count = use_state!("count", factory = || 0_u32, durable);
    count.set(1).unwrap();
    count.get().unwrap()
}

fn main() {
    page();
}
