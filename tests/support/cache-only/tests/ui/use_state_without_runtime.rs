fn page() -> u32 {
    let count = pagestate::use_state!("count", factory = || 0_u32);
    count.get().unwrap()
}

fn main() {
    page();
}
