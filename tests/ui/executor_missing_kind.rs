#[pagestate::executor(timeout = 5)]
fn a(n: u64) -> u64 {
    n
}

#[pagestate::executor]
fn b(n: u64) -> u64 {
    n
}

fn main() {}
