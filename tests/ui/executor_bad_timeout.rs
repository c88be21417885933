#[pagestate::executor(thread, timeout = 0)]
fn a() {}

#[pagestate::executor(thread, timeout = -1)]
fn b() {}

#[pagestate::executor(thread, timeout = "5s")]
fn c() {}

#[pagestate::executor(process, timeout)]
fn d() {}

fn main() {}
