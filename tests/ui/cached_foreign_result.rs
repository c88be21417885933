use pagestate::cached;

#[derive(Clone)]
enum Result<T> {
    Done(T),
    Pending,
}

#[cached]
fn poll(x: u64) -> Result<u64> {
    if x > 0 {
        Result::Done(x)
    } else {
        Result::Pending
    }
}

fn main() {}
