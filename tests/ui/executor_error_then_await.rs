// An option error is the only error: the function still returns a future
// of `Result<T, ExecError>`, so awaiting it reports nothing more.
use pagestate::{executor, ExecError};

#[executor(thred)]
fn fetch(url: String) -> usize {
    url.len()
}

#[executor(process, timeout = "soon")]
fn compute(n: u64) -> u64 {
    n * 2
}

async fn page() -> Result<usize, ExecError> {
    let length: usize = fetch("x".to_owned()).await?;
    let doubled: u64 = compute(2).await?;
    Ok(length + doubled as usize)
}

fn main() {
    let _ = page();
}
