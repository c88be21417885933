#[pagestate::executor(thread, timeout = 5, timeout = 10)]
fn a(n: u64) -> u64 {
    n
}

fn main() {}
