#[pagestate::executor(thread)]
struct Job;

fn main() {}
