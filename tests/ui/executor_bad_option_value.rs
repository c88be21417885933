#[pagestate::executor(thread, with_script_run_context = "yes")]
fn a() {}

#[pagestate::executor(thread = true)]
fn b() {}

fn main() {}
