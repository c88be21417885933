#[pagestate::executor(process)]
fn sum<T: Into<u64>>(values: Vec<T>) -> u64 {
    values.into_iter().map(Into::into).sum()
}

fn main() {}
