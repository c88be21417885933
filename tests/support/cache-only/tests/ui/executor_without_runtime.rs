#[pagestate::executor(thread)]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

async fn caller() -> u32 {
    add(1, 2).await.unwrap()
}

fn main() {
    let _ = caller();
}
