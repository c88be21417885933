//! One rerun of a page: apply the browser's values, run the callbacks of the
//! changed widgets, run the page, then settle the run (Streamlit's
//! `script_runner.py` and `session_state.py`, `on_script_will_rerun`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};

use crate::context::{Interrupt, RunCtx};
use crate::output::Node;
use crate::tab::{lock, RerunRequest, Tab};
use crate::widgets::{Callback, WIDGETS};

thread_local! {
    /// This thread is running page code: the panic hook records where a
    /// panic happened instead of printing it.
    static IN_PAGE: Cell<bool> = const { Cell::new(false) };
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_PAGE.try_with(Cell::get).unwrap_or(false) {
                let location = info
                    .location()
                    .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()));
                let _ = PANIC_LOCATION.try_with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// The panic's message, as `std` prints it.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Runs the page once for `request`, on the calling thread.
pub(crate) fn run_once(tab: &Arc<Tab>, request: RerunRequest) {
    install_panic_hook();
    let (triggers, callbacks) = apply(tab, request);
    lock(&tab.output).begin_run();
    tab.notify();

    RunCtx::install(RunCtx::new(Arc::clone(tab), triggers));
    IN_PAGE.with(|flag| flag.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        tab.session.run(|| {
            for callback in &callbacks {
                callback();
            }
            (tab.page)();
        })
    }));
    IN_PAGE.with(|flag| flag.set(false));
    let mut ctx = RunCtx::take().expect("the run context outlives the run");

    match result {
        Ok(()) => complete(tab, ctx),
        Err(payload) if payload.is::<Interrupt>() => {
            let mut widgets = lock(&tab.widgets);
            widgets
                .carried_triggers
                .extend(ctx.triggers.difference(&ctx.observed).cloned());
            widgets.metas.extend(ctx.seen);
            drop(widgets);
            lock(&tab.output).interrupt();
            tab.notify();
            tracing::debug!(session = %tab.session.id(), "run interrupted by newer input");
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            let location = PANIC_LOCATION.with(|slot| slot.borrow_mut().take());
            tracing::error!(
                session = %tab.session.id(),
                location = location.as_deref().unwrap_or("unknown"),
                "page panicked: {message}"
            );
            ctx.push(Node::Exception { message, location });
            // Widgets keep their state: a run cut short by a bug is not a
            // page that stopped drawing them.
            lock(&tab.widgets).metas.extend(ctx.seen);
            lock(&tab.output).complete();
            tab.notify();
        }
    }
}

/// Applies the request's values and clicks to the session; returns the
/// clicks for the run and the callbacks to run before the page.
fn apply(tab: &Tab, request: RerunRequest) -> (HashSet<String>, Vec<Callback>) {
    let mut widgets = lock(&tab.widgets);
    let mut triggers = std::mem::take(&mut widgets.carried_triggers);
    let mut callbacks = Vec::new();
    let session = tab.session.id();
    for (id, value) in &request.values {
        let Some(meta) = widgets.metas.get(id) else {
            tracing::warn!(%session, widget = %id, "value for an unknown widget ignored");
            continue;
        };
        if meta.disabled {
            tracing::warn!(%session, widget = %id, "value for a disabled {} ignored", meta.kind);
            continue;
        }
        let Some(applier) = &meta.applier else {
            tracing::warn!(%session, widget = %id, "a {} takes clicks, not values: ignored", meta.kind);
            continue;
        };
        match applier(&tab.session, value) {
            Ok(true) => callbacks.extend(meta.callback.clone()),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%session, widget = %id, "{} value ignored: {error}", meta.kind)
            }
        }
    }
    for id in request.triggers {
        match widgets.metas.get(&id) {
            Some(meta) if meta.disabled => {
                tracing::warn!(%session, widget = %id, "click on a disabled {} ignored", meta.kind)
            }
            Some(meta) if meta.applier.is_none() => {
                callbacks.extend(meta.callback.clone());
                triggers.insert(id);
            }
            Some(meta) => {
                tracing::warn!(%session, widget = %id, "a {} cannot be clicked: ignored", meta.kind)
            }
            None => tracing::warn!(%session, widget = %id, "click on an unknown widget ignored"),
        }
    }
    (triggers, callbacks)
}

/// A completed run: widgets it did not draw lose their state (unless they
/// persist), and its drawing becomes the page.
fn complete(tab: &Tab, ctx: RunCtx) {
    let mut widgets = lock(&tab.widgets);
    let previous = std::mem::take(&mut widgets.metas);
    let mut metas: HashMap<_, _> = ctx.seen;
    for (id, meta) in previous {
        if metas.contains_key(&id) {
            continue;
        }
        if meta.persist {
            metas.insert(id, meta);
        } else if let Some(key) = &meta.state_key {
            tab.session.state::<()>(WIDGETS, key).clear();
        }
    }
    widgets.metas = metas;
    drop(widgets);
    lock(&tab.output).complete();
    tab.notify();
}
