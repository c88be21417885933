use pagestate::cached;

#[cached]
fn describe<T: std::fmt::Debug + Clone + std::hash::Hash + Eq + Send + Sync + 'static>(
    value: T,
) -> String {
    format!("{value:?}")
}

fn main() {}
