use pagestate::cached;

#[cached(show_spinner = "Loading...")]
fn load(x: u64) -> u64 {
    x
}

fn main() {}
