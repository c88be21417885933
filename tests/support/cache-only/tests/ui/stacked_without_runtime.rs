#[pagestate::cached(ttl = 60)]
#[pagestate::executor(thread)]
fn slow_square(x: u64) -> u64 {
    x * x
}

async fn caller() -> u64 {
    slow_square(3).await.unwrap()
}

fn main() {
    let _ = caller();
    slow_square::clear();
}
