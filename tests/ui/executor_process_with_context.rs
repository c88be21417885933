#[pagestate::executor(process, with_script_run_context = true)]
fn crunch(n: u64) -> u64 {
    n * 2
}

fn main() {}
