//! The run context of the web host: which tab the page code on this thread
//! draws into, where the next element goes, and which widgets it has drawn.
//!
//! It lives in a thread-local set by the page runner around one run, beside
//! pagestate's own `ScriptRunContext` (so `use_state!` works in page code).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::output::{Cursor, Node};
use crate::tab::{lock, Tab};
use crate::widgets::WidgetMeta;

/// The payload a page unwinds with when newer input interrupts it (or it
/// calls `ui::rerun()`): Streamlit's `RerunException`. Never shown as an error.
pub(crate) struct Interrupt;

pub(crate) struct RunCtx {
    pub(crate) tab: Arc<Tab>,
    pub(crate) cursor: Cursor,
    /// The form the next widget belongs to.
    pub(crate) form: Option<String>,
    /// Widgets drawn in this run, by id.
    pub(crate) seen: HashMap<String, WidgetMeta>,
    /// Buttons clicked for this run.
    pub(crate) triggers: HashSet<String>,
    /// Clicked buttons the page has read.
    pub(crate) observed: HashSet<String>,
    /// Forms opened in this run (their ids are unique per run).
    pub(crate) forms: HashSet<String>,
}

thread_local! {
    static RUN: RefCell<Option<RunCtx>> = const { RefCell::new(None) };
}

impl RunCtx {
    pub(crate) fn new(tab: Arc<Tab>, triggers: HashSet<String>) -> Self {
        RunCtx {
            tab,
            cursor: Cursor::main(),
            form: None,
            seen: HashMap::new(),
            triggers,
            observed: HashSet::new(),
            forms: HashSet::new(),
        }
    }

    pub(crate) fn install(ctx: RunCtx) {
        RUN.with(|run| *run.borrow_mut() = Some(ctx));
    }

    pub(crate) fn take() -> Option<RunCtx> {
        RUN.with(|run| run.borrow_mut().take())
    }

    /// Appends `node` where the page is drawing and returns its position.
    pub(crate) fn push(&mut self, node: Node) -> (Cursor, usize) {
        let index = {
            let mut output = lock(&self.tab.output);
            output.version += 1;
            output.current.push(&self.cursor, node)
        };
        self.tab.drawn();
        (self.cursor.clone(), index)
    }

    /// Replaces a node pushed earlier in this run.
    pub(crate) fn replace(&mut self, at: &(Cursor, usize), node: Node) {
        {
            let mut output = lock(&self.tab.output);
            output.version += 1;
            output.current.replace(&at.0, at.1, node);
        }
        self.tab.drawn();
    }

    /// Reports a mistake in page code as an exception element, without
    /// stopping the run.
    pub(crate) fn exception(&mut self, message: String) {
        tracing::warn!(session = %self.tab.session.id(), "{message}");
        self.push(Node::Exception {
            message,
            location: None,
        });
    }
}

/// Calls `f` with the thread's run context, after a checkpoint: a pending
/// rerun unwinds the page here. Panics outside a page run, naming the fix.
#[track_caller]
pub(crate) fn with_ctx<R>(what: &str, f: impl FnOnce(&mut RunCtx) -> R) -> R {
    checkpoint(what);
    RUN.with(|run| {
        let mut run = run.borrow_mut();
        let ctx = run.as_mut().unwrap_or_else(|| outside_page(what));
        f(ctx)
    })
}

/// Unwinds the page (without running the panic hook) when a rerun is
/// pending. Panics outside a page run.
#[track_caller]
pub(crate) fn checkpoint(what: &str) {
    let interrupted = RUN.with(|run| {
        run.borrow()
            .as_ref()
            .map(|ctx| ctx.tab.interrupted())
            .unwrap_or_else(|| outside_page(what))
    });
    if interrupted {
        std::panic::resume_unwind(Box::new(Interrupt));
    }
}

/// The tab whose page runs on this thread, if any.
pub(crate) fn current_tab() -> Option<Arc<Tab>> {
    RUN.with(|run| run.borrow().as_ref().map(|ctx| Arc::clone(&ctx.tab)))
}

#[cold]
#[track_caller]
fn outside_page(what: &str) -> ! {
    panic!(
        "pagestate::web::ui::{what} was called outside a page run: there is no web run \
         context on this thread. Call it from the page function given to \
         `pagestate::web::App::new(page)` (or `AppTest::new(page)` in tests), not from \
         main, another thread or an executor job"
    )
}
