#[pagestate::executor(thread)]
fn shout(text: &str, words: Vec<&str>) -> String {
    format!("{text}{}", words.len())
}

fn main() {}
