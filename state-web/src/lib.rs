//! The web host of [pagestate](https://docs.rs/pagestate): serve a page
//! function to browser tabs with Streamlit's rerun semantics.
//!
//! Applications use it as `pagestate::web` (cargo feature `web` of the
//! `pagestate` facade). A page is a plain function; it draws with the
//! functions of [`ui`] and keeps state with `use_state!`. [`App`] serves it
//! (one session per tab, a WebSocket per tab, the page rerun on every
//! interaction), and [`testing::AppTest`] runs it in-process for tests.
//!
//! ```no_run
//! use pagestate::web::{ui, App};
//! use pagestate::use_state;
//!
//! fn page() {
//!     ui::title("Counter");
//!     let count = use_state!("count", factory = || 0_u32);
//!     if ui::button("Add one") {
//!         count.reduce(|n, by| n + by, 1).unwrap();
//!     }
//!     ui::text(format!("Count: {}", count.get().unwrap()));
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     App::new(page).run()
//! }
//! ```

#![warn(missing_docs)]

mod app;
mod context;
mod output;
mod protocol;
mod render;
mod runner;
mod server;
mod tab;
pub mod testing;
pub mod ui;
mod widgets;

pub use app::App;
pub use output::{Area, RunStatus};
pub use tab::RerunHandle;
pub use widgets::WIDGETS;
