use pagestate::use_state;

#[derive(Clone)]
struct Draft {
    text: String,
}

fn page() {
    let draft = use_state!("draft", factory = || Draft { text: String::new() }, durable);
    let _ = draft.get().map(|d| d.text);
}

fn main() {
    page();
}
