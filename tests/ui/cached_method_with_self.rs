use pagestate::cached;

struct Cart {
    items: Vec<u64>,
}

impl Cart {
    #[cached]
    fn total(&self) -> u64 {
        self.items.iter().sum()
    }
}

fn main() {}
