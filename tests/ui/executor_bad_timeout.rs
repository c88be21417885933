#[pagestate::executor(thread, timeout = 0)]
fn a() {}

#[pagestate::executor(thread, timeout = -1)]
fn b() {}

#[pagestate::executor(thread, timeout = "5 parsecs")]
fn c() {}

#[pagestate::executor(process, timeout)]
fn d() {}

#[pagestate::executor(thread, timeout = true)]
fn e() {}

fn main() {}
