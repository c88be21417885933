#[pagestate::executor(process)]
fn render(value: impl std::fmt::Display) -> impl std::fmt::Display {
    value
}

fn main() {}
