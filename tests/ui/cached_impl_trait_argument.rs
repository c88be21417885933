use pagestate::cached;

#[cached]
fn describe(value: impl std::fmt::Debug) -> String {
    format!("{value:?}")
}

fn main() {}
