//! One browser tab's session: its pagestate [`Session`], its inbox of rerun
//! requests, its drawing, and the page thread that serves it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use pagestate_core::Session;
use serde_json::Value;
use tokio::sync::watch;

use crate::output::Output;
use crate::runner;
use crate::widgets::WidgetMeta;

/// A page: a plain function, called once per run.
pub(crate) type Page = Arc<dyn Fn() + Send + Sync + 'static>;

/// What a rerun applies before the page runs: new widget values (newest
/// last) and the buttons clicked.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RerunRequest {
    pub(crate) values: Vec<(String, Value)>,
    pub(crate) triggers: Vec<String>,
}

impl RerunRequest {
    /// Folds a newer request into this one: its values win, and clicks of
    /// both are kept (Streamlit's `script_requests.py`).
    pub(crate) fn merge(&mut self, newer: RerunRequest) {
        for (id, value) in newer.values {
            self.values.retain(|(old, _)| *old != id);
            self.values.push((id, value));
        }
        for trigger in newer.triggers {
            if !self.triggers.contains(&trigger) {
                self.triggers.push(trigger);
            }
        }
    }
}

#[derive(Default)]
struct Inbox {
    pending: Option<RerunRequest>,
    /// A page thread is draining the inbox (at most one per session).
    running: bool,
    closed: bool,
}

/// Widgets known from earlier runs, by widget id.
#[derive(Default)]
pub(crate) struct WidgetRegistry {
    pub(crate) metas: HashMap<String, WidgetMeta>,
    /// Clicks of an interrupted run that its page never looked at: they
    /// count for the next run, so no click is lost.
    pub(crate) carried_triggers: HashSet<String>,
}

/// How a session's page thread is started.
#[derive(Clone)]
pub(crate) enum Spawner {
    /// On the tokio runtime's blocking pool (the server).
    Blocking(tokio::runtime::Handle),
    /// Not at all: the owner drains the inbox itself (the test harness).
    Manual,
}

/// The state shared by a tab's socket task, its page thread and any
/// [`RerunHandle`].
pub(crate) struct Tab {
    pub(crate) session: Session,
    pub(crate) page: Page,
    inbox: Mutex<Inbox>,
    /// Set when a request arrives during a run: the page unwinds at its
    /// next widget or element call.
    interrupt: AtomicBool,
    pub(crate) output: Mutex<Output>,
    /// Bumped when a run starts or ends, and when the page draws while
    /// `wake_on_draw` is set; the socket task renders the latest drawing.
    pub(crate) frames: watch::Sender<u64>,
    /// Set by the socket task when it stops polling a running page's
    /// drawing because nothing changed: the next drawing wakes it. Without
    /// it, every element would wake the socket task.
    pub(crate) wake_on_draw: AtomicBool,
    pub(crate) widgets: Mutex<WidgetRegistry>,
    spawner: Spawner,
}

impl fmt::Debug for Tab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tab")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tab {
    pub(crate) fn new(page: Page, spawner: Spawner) -> Arc<Tab> {
        let tab = Arc::new(Tab {
            session: Session::new(),
            page,
            inbox: Mutex::new(Inbox::default()),
            interrupt: AtomicBool::new(false),
            output: Mutex::new(Output::default()),
            frames: watch::Sender::new(0),
            wake_on_draw: AtomicBool::new(false),
            widgets: Mutex::new(WidgetRegistry::default()),
            spawner,
        });
        // Executor jobs that carry the run context find their tab here.
        let handle = RerunHandle {
            tab: Arc::downgrade(&tab),
        };
        let _ = tab.session.state(HOST, RERUN_HANDLE).set(handle);
        tab
    }

    /// Queues a rerun, merged into any pending one, interrupts the running
    /// page, and starts the page thread if none is serving this tab.
    pub(crate) fn request(self: &Arc<Self>, request: RerunRequest) {
        let start = {
            let mut inbox = lock(&self.inbox);
            if inbox.closed {
                return;
            }
            match &mut inbox.pending {
                Some(pending) => pending.merge(request),
                None => inbox.pending = Some(request),
            }
            self.interrupt.store(true, Ordering::Release);
            !std::mem::replace(&mut inbox.running, true)
        };
        if start {
            match &self.spawner {
                Spawner::Blocking(handle) => {
                    let tab = Arc::clone(self);
                    handle.spawn_blocking(move || tab.drain());
                }
                Spawner::Manual => lock(&self.inbox).running = false,
            }
        }
    }

    /// Runs the page for each pending request until none is left.
    pub(crate) fn drain(self: &Arc<Self>) {
        while let Some(request) = self.take_request() {
            runner::run_once(self, request);
        }
    }

    pub(crate) fn take_request(&self) -> Option<RerunRequest> {
        let mut inbox = lock(&self.inbox);
        match inbox.pending.take() {
            Some(request) if !inbox.closed => {
                self.interrupt.store(false, Ordering::Release);
                inbox.running = true;
                Some(request)
            }
            _ => {
                inbox.running = false;
                None
            }
        }
    }

    /// Whether a rerun is waiting.
    pub(crate) fn has_pending(&self) -> bool {
        lock(&self.inbox).pending.is_some()
    }

    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::Acquire)
    }

    /// Ends the session: no more runs, the running page unwinds at its next
    /// call, and its state and session-scoped cache entries are freed.
    pub(crate) fn close(&self) {
        {
            let mut inbox = lock(&self.inbox);
            inbox.closed = true;
            inbox.pending = None;
        }
        self.interrupt.store(true, Ordering::Release);
        lock(&self.widgets).metas.clear();
        self.session.close();
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.inbox).closed
    }

    /// Tells the socket task the drawing changed (a run started or ended).
    pub(crate) fn notify(&self) {
        self.frames.send_modify(|version| *version += 1);
    }

    /// The running page drew (the drawing's version was bumped under the
    /// output lock): wakes the socket task only if it asked for it.
    pub(crate) fn drawn(&self) {
        if self.wake_on_draw.swap(false, Ordering::SeqCst) {
            self.notify();
        }
    }
}

/// The session-state namespace of the host's own entries (not an API).
const HOST: &str = "pagestate::web::host";
const RERUN_HANDLE: &str = "rerun_handle";

/// Asks for a rerun of one tab from anywhere: a background job, another
/// thread, a timer. Taken in page code with [`ui::rerun_handle`](crate::ui::rerun_handle).
///
/// Cheap to clone, `Send + Sync`; it does not keep the session alive: once
/// the tab's session has closed, [`request`](Self::request) does nothing and
/// returns `false`.
#[derive(Clone)]
pub struct RerunHandle {
    pub(crate) tab: Weak<Tab>,
}

impl RerunHandle {
    /// The handle of the tab that `session` serves; one that does nothing
    /// if no tab serves it (any more).
    pub(crate) fn of_session(session: &Session) -> RerunHandle {
        session
            .state::<RerunHandle>(HOST, RERUN_HANDLE)
            .get()
            .unwrap_or(RerunHandle { tab: Weak::new() })
    }

    /// Requests a rerun of the tab (merged with any pending one; a running
    /// page is interrupted at its next widget or element call). Returns
    /// whether the session was still open.
    pub fn request(&self) -> bool {
        match self.tab.upgrade() {
            Some(tab) if !tab.is_closed() => {
                tab.request(RerunRequest::default());
                true
            }
            _ => false,
        }
    }
}

impl fmt::Debug for RerunHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let session = self.tab.upgrade().map(|tab| tab.session.id());
        f.debug_struct("RerunHandle")
            .field("session", &session)
            .finish()
    }
}
