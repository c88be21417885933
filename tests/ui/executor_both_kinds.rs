#[pagestate::executor(thread, process)]
fn a(n: u64) -> u64 {
    n
}

fn main() {}
