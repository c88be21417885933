#[pagestate::executor(thread, tmeout = 5)]
fn a(n: u64) -> u64 {
    n
}

#[pagestate::executor(thread, retries = 3)]
fn b(n: u64) -> u64 {
    n
}

fn main() {}
