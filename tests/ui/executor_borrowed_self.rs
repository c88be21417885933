struct Report;

impl Report {
    #[pagestate::executor(thread)]
    fn total(&self) -> u32 {
        0
    }
}

fn main() {}
