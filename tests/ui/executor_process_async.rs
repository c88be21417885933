#[pagestate::executor(process)]
async fn crunch(n: u64) -> u64 {
    n * 2
}

fn main() {}
