// An option error is the only error: the state keeps the type its factory
// gives, so using it reports nothing more.
use pagestate::use_state;

fn page() -> u32 {
    let count = use_state!("count", factory = || 0_u32, colour = "red");
    count.get().unwrap()
}

fn main() {
    let _ = page;
}
