//! The smallest web app: `cargo run --example hello_web`, then open the URL
//! it prints.

use pagestate::use_state;
use pagestate::web::{ui, App};

fn page() {
    ui::sidebar(|| {
        ui::header("Settings");
        ui::selectbox("Colour", &["red", "green", "blue"]);
        ui::slider("Size", 1, 10);
    });
    ui::title("Hello, web");
    ui::markdown("A **pagestate** page: <img src=x onerror=alert(1)> stays text.");
    let name = ui::TextInput::new("Your name").key("name").show();
    let clicks = use_state!("clicks", factory = || 0_u32);
    if ui::button("Greet") {
        clicks.reduce(|n, by| n + by, 1).unwrap();
        ui::success(format!("Hello, {name}!"));
    }
    ui::text(format!("Greeted {} times", clicks.get().unwrap()));
    let columns = ui::columns(2);
    columns[0].show(|| ui::info("Left column"));
    columns[1].show(|| ui::checkbox("Show details"));
    ui::expander("Details", || ui::json(&[("name", name.as_str())]));
    ui::line_chart(&[
        ("sales", vec![3.0, 4.5, 4.0, 6.0]),
        ("costs", vec![2.0, 2.5, 3.5, 3.0]),
    ]);
    let bar = ui::progress(0.0, "Working");
    bar.set(0.6, "60% done");
    ui::form("signup", || {
        ui::text_input("Email");
        ui::number_input("Age", 30);
        ui::form_submit_button("Sign up");
    });
}

fn main() -> std::io::Result<()> {
    let address = std::env::var("PAGESTATE_ADDRESS")
        .ok()
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8501)));
    App::new(page).title("Hello, web").address(address).run()
}
