//! A small real app on pagestate's web host: a market dashboard whose page
//! reruns on every interaction, the way a Streamlit script does.
//!
//! ```sh
//! cargo run --example app     # serves on http://127.0.0.1:8501
//! ```
//!
//! What it shows: parallel "API calls" on the thread executor behind a
//! spinner, a CPU job in a worker process, data cached with a ttl, keyed
//! widgets with callbacks, a form, a progress bar, a line chart and a
//! sidebar. The browser tests open this page too (and take the README's
//! screenshot of it), so it is kept quick to render.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;
use pagestate::web::{ui, App};
use pagestate::{cached, executor, use_state};
use serde::Serialize;

/// The markets the dashboard follows.
pub const SYMBOLS: &[&str] = &["ACME", "GLOBX", "INITECH", "UMBRL"];

/// Stands for a slow HTTP call to a quotes API: blocking I/O, so it runs on
/// the thread pool, several at once.
#[executor(thread)]
fn fetch_quote(symbol: String) -> Quote {
    std::thread::sleep(Duration::from_millis(150));
    let seed = symbol.bytes().map(u64::from).sum::<u64>();
    Quote {
        price: 40.0 + (seed % 97) as f64 + (seed % 7) as f64 / 10.0,
        change: ((seed % 11) as f64 - 5.0) / 2.0,
        symbol,
    }
}

/// One row of the quotes table.
#[derive(Clone, Debug, Serialize)]
pub struct Quote {
    symbol: String,
    price: f64,
    change: f64,
}

/// The price history of a symbol, "downloaded" once and then served from
/// the cache for a minute (Streamlit's `st.cache_data(ttl=60)`).
#[cached(ttl = 60)]
fn price_history(symbol: String, days: u32) -> Vec<f64> {
    std::thread::sleep(Duration::from_millis(100));
    let seed = symbol.bytes().map(f64::from).sum::<f64>();
    (0..days)
        .map(|day| {
            let t = f64::from(day);
            50.0 + seed % 20.0 + (t / 3.0 + seed).sin() * 6.0 + t * 0.15
        })
        .collect()
}

/// CPU-bound work (a Monte Carlo estimate of the risk of a portfolio) runs
/// in a worker process: this executable started again.
#[executor(process)]
fn simulate_risk(paths: u64, seed: u64) -> f64 {
    let mut state = seed | 1;
    let mut losses = 0_u64;
    for _ in 0..paths {
        let mut value = 0.0_f64;
        for _ in 0..32 {
            // xorshift64*: a tiny deterministic generator, enough for a demo.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let draw =
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            value += draw - 0.495;
        }
        if value < -1.0 {
            losses += 1;
        }
    }
    losses as f64 / paths as f64
}

/// The page: runs top to bottom on every interaction, in its tab's session.
pub fn page() {
    let (symbol, days, raw) = ui::sidebar(|| {
        ui::header("Settings");
        let symbol = ui::Selectbox::new("Symbol", SYMBOLS).key("symbol").show();
        let days = ui::Slider::new("Days of history", 10_u32, 120)
            .default(60)
            .key("days")
            .show();
        let raw = ui::Checkbox::new("Show raw numbers").key("raw").show();
        ui::markdown("Built with **pagestate**: state, caching and executors for page-model apps.");
        (symbol, days, raw)
    });

    ui::title("Market dashboard");
    ui::text("Every interaction reruns this page; what it must keep lives in session state.");

    // Parallel "API calls": all four are submitted at once, then awaited
    // behind a spinner.
    let started = Instant::now();
    let quotes: Vec<Quote> = ui::spinner("Fetching quotes...", || {
        let calls: Vec<_> = SYMBOLS.iter().map(|s| fetch_quote(s.to_string())).collect();
        block_on(join_all(calls))
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    });
    ui::success(format!(
        "{} quotes fetched in parallel in {} ms",
        quotes.len(),
        started.elapsed().as_millis()
    ));
    ui::table(&quotes);
    if raw {
        ui::json(&quotes);
    }

    ui::header(format!("{symbol}: last {days} days"));
    let history = price_history(symbol.to_string(), days);
    let average: Vec<f64> = history
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let window = &history[i.saturating_sub(9)..=i];
            window.iter().sum::<f64>() / window.len() as f64
        })
        .collect();
    ui::line_chart(&[("price", history), ("10-day average", average)]);

    // Keyed widgets with callbacks: the callbacks run before the page, so
    // the count below already includes this click.
    let watch = use_state!("watchlist", factory = Vec::<String>::new);
    let columns = ui::columns(2);
    columns[0].show(|| {
        ui::Button::new(format!("Watch {symbol}"))
            .key("watch")
            .on_click({
                let watch = watch.clone();
                let symbol = symbol.to_string();
                move || {
                    watch
                        .update(|list| {
                            if !list.contains(&symbol) {
                                list.push(symbol.clone());
                            }
                        })
                        .unwrap();
                }
            })
            .show();
    });
    columns[1].show(|| {
        ui::Button::new("Clear watchlist")
            .key("clear")
            .on_click({
                let watch = watch.clone();
                move || watch.set(Vec::new()).unwrap()
            })
            .show();
    });
    let list = watch.get().unwrap_or_default();
    if list.is_empty() {
        ui::info("Your watchlist is empty.");
    } else {
        ui::info(format!("Watching: {}", list.join(", ")));
    }

    // A form: nothing reruns until "Place order".
    ui::header("Order");
    let (quantity, note, placed) = ui::form("order", || {
        let quantity = ui::NumberInput::new("Quantity", 10_i64)
            .min(1)
            .max(1_000)
            .key("quantity")
            .show();
        let note = ui::text_input("Note");
        let placed = ui::form_submit_button("Place order");
        (quantity, note, placed)
    });
    if placed {
        ui::success(format!("Order placed: {quantity} x {symbol} ({note})"));
    }

    // A CPU job in a worker process, with a progress bar.
    ui::header("Risk");
    if ui::Button::new("Run risk simulation").key("risk").show() {
        let bar = ui::progress(0.0, "Simulating...");
        let mut total = 0.0;
        for batch in 0..4_u64 {
            total += block_on(simulate_risk(20_000, batch + 1)).unwrap_or(f64::NAN);
            bar.set(
                (batch + 1) as f64 / 4.0,
                format!("Batch {} of 4", batch + 1),
            );
        }
        ui::warning(format!(
            "Estimated chance of a loss: {:.1} %",
            total / 4.0 * 100.0
        ));
    } else {
        ui::progress(0.0, "Not run yet");
    }
}

fn main() -> std::io::Result<()> {
    App::new(page).title("Market dashboard").run()
}
