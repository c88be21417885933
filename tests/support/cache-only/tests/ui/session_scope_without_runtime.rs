#[pagestate::cached(scope = "session")]
fn greeting(name: String) -> String {
    format!("hello {name}")
}

fn main() {
    let _ = greeting("tab".to_owned());
    greeting::clear();
}
