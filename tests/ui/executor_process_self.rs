struct Model;

impl Model {
    #[pagestate::executor(process)]
    fn fit(self, n: u64) -> u64 {
        n
    }
}

fn main() {}
