//! What page code calls: elements, widgets and containers, Streamlit's `st.*`.
//!
//! Each function draws into the tab whose page is running on this thread
//! (the run context set by the host), so they take no session argument.
//! Called outside a page run, they panic with a message naming the fix.
//!
//! Every call is also a checkpoint: when the user interacts with the tab
//! during a run, the run stops at its next call here and the page reruns
//! with the new input (the unwinding is the host's, never shown as an error;
//! like Streamlit's `RerunException`). A page that wraps `ui` calls in
//! `std::panic::catch_unwind` must let payloads it does not know go on with
//! `std::panic::resume_unwind`. A long computation without `ui` calls cannot
//! be interrupted: call `ui` (a progress bar) now and then.
//!
//! Widgets return their current value, typed. Common calls are one-liners
//! (`ui::button("Go")`, `ui::slider("Size", 1, 10)`); options go through
//! a builder of the same name, ended by `.show()`:
//!
//! ```no_run
//! # use pagestate::web::ui;
//! let name = ui::TextInput::new("Name")
//!     .key("name")
//!     .placeholder("Ada")
//!     .on_change(|| println!("name changed"))
//!     .show();
//! ```
//!
//! A widget's identity is its `key`, or else its kind, label and options:
//! two widgets with the same identity in one run show an exception element
//! (give one a `key`). Widget values live in session state, in the
//! [`WIDGETS`](crate::WIDGETS) namespace.

mod chart;
mod choice;
mod elements;
mod inputs;
mod layout;
pub(crate) mod markdown;
mod numbers;

pub use chart::line_chart;
pub use choice::{multiselect, selectbox, Choice, Multiselect, Selectbox};
pub use elements::{
    code, divider, error, header, info, json, markdown, success, table, text, title, warning,
};
pub use inputs::{
    button, checkbox, form_submit_button, text_area, text_input, Button, Checkbox,
    FormSubmitButton, TextArea, TextInput,
};
pub use layout::{columns, expander, form, progress, sidebar, spinner, Column, Expander, Progress};
pub use numbers::{number_input, slider, Number, NumberInput, Slider};

use std::sync::Arc;

use crate::context::{checkpoint, current_tab, with_ctx, Interrupt};
use crate::tab::{RerunHandle, RerunRequest};

/// Stops this run and runs the page again from the top (Streamlit's
/// `st.rerun()`). Widget values and session state are kept.
pub fn rerun() -> ! {
    let tab = with_ctx("rerun", |ctx| Arc::clone(&ctx.tab));
    tab.request(RerunRequest::default());
    checkpoint("rerun");
    // The request above interrupts this run, so the checkpoint unwinds;
    // if the session closed meanwhile, stop all the same.
    std::panic::resume_unwind(Box::new(Interrupt))
}

/// A handle that asks for a rerun of this tab from anywhere (a background
/// job that finished, a timer), beyond Streamlit (its issues #8490, #6687).
///
/// Page code takes it here; so can an `#[executor(thread,
/// with_script_run_context = true)]` job, which runs in the tab's session.
///
/// ```no_run
/// # use pagestate::web::ui;
/// let rerun = ui::rerun_handle();
/// std::thread::spawn(move || {
///     // ... work ...
///     rerun.request();
/// });
/// ```
///
/// # Panics
///
/// Outside a page run and without a run context on the thread. In a
/// session that no web tab serves (a plain `Session::run`), it returns a
/// handle whose requests do nothing.
#[track_caller]
pub fn rerun_handle() -> RerunHandle {
    if let Some(tab) = current_tab() {
        return RerunHandle {
            tab: Arc::downgrade(&tab),
        };
    }
    match pagestate_core::ScriptRunContext::current() {
        Some(ctx) => RerunHandle::of_session(ctx.session()),
        None => with_ctx("rerun_handle", |_| {
            unreachable!("no page run on this thread")
        }),
    }
}
