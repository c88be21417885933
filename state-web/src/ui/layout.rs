//! Containers (columns, expander, sidebar, form) and live elements
//! (progress, spinner).

use std::sync::Arc;

use crate::context::with_ctx;
use crate::output::{Area, Cursor, Node};
use crate::tab::{lock, Tab};

/// Runs `f` with new elements going to `cursor` (and `form`), then puts the
/// previous position back.
fn inside<R>(what: &str, cursor: Cursor, form: Option<Option<String>>, f: impl FnOnce() -> R) -> R {
    let (saved_cursor, saved_form) = with_ctx(what, |ctx| {
        let saved_form = match form {
            Some(form) => Some(std::mem::replace(&mut ctx.form, form)),
            None => None,
        };
        (std::mem::replace(&mut ctx.cursor, cursor), saved_form)
    });
    let result = f();
    with_ctx(what, |ctx| {
        ctx.cursor = saved_cursor;
        if let Some(form) = saved_form {
            ctx.form = form;
        }
    });
    result
}

fn child(at: &(Cursor, usize), slot: usize) -> Cursor {
    let mut cursor = at.0.clone();
    cursor.containers.push((at.1, slot));
    cursor
}

/// Draws into the sidebar: elements and widgets created by `f` appear there.
pub fn sidebar<R>(f: impl FnOnce() -> R) -> R {
    let cursor = Cursor {
        area: Area::Sidebar,
        containers: Vec::new(),
    };
    inside("sidebar", cursor, None, f)
}

/// One column of [`columns`].
#[derive(Clone, Debug)]
pub struct Column {
    at: (Cursor, usize),
    slot: usize,
    run: u64,
}

impl Column {
    /// Draws into this column.
    pub fn show<R>(&self, f: impl FnOnce() -> R) -> R {
        let current_run = with_ctx("Column::show", |ctx| lock(&ctx.tab.output).run);
        assert!(
            current_run == self.run,
            "a ui::columns column was used in a later run than the one that drew it: \
             call ui::columns again in each run"
        );
        inside("Column::show", child(&self.at, self.slot), None, f)
    }
}

/// Lays out `count` columns side by side (at least one); draw into each with
/// [`Column::show`].
///
/// ```no_run
/// # use pagestate::web::ui;
/// let columns = ui::columns(2);
/// columns[0].show(|| ui::text("left"));
/// columns[1].show(|| ui::text("right"));
/// ```
pub fn columns(count: usize) -> Vec<Column> {
    let count = count.max(1);
    with_ctx("columns", |ctx| {
        let run = lock(&ctx.tab.output).run;
        let at = ctx.push(Node::Columns(vec![Vec::new(); count]));
        (0..count)
            .map(|slot| Column {
                at: at.clone(),
                slot,
                run,
            })
            .collect()
    })
}

/// A collapsible section, closed at first; `f` draws its content.
pub fn expander<R>(label: impl Into<String>, f: impl FnOnce() -> R) -> R {
    Expander::new(label).show(f)
}

/// A collapsible section with options; see [`expander`].
#[derive(Clone, Debug)]
pub struct Expander {
    label: String,
    expanded: bool,
}

impl Expander {
    /// A section titled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Expander {
            label: label.into(),
            expanded: false,
        }
    }

    /// Whether it starts open.
    pub fn expanded(mut self, expanded: bool) -> Self {
        self.expanded = expanded;
        self
    }

    /// Draws the section, with `f` drawing its content.
    pub fn show<R>(self, f: impl FnOnce() -> R) -> R {
        let at = with_ctx("expander", |ctx| {
            ctx.push(Node::Expander {
                label: self.label,
                expanded: self.expanded,
                children: Vec::new(),
            })
        });
        inside("expander", child(&at, 0), None, f)
    }
}

/// A form: the widgets `f` draws send nothing while the user edits them;
/// the form's [`form_submit_button`](crate::ui::form_submit_button) sends all
/// their values in one rerun. `key` names the form and must be unique in a
/// run.
///
/// ```no_run
/// # use pagestate::web::ui;
/// let (name, sent) = ui::form("signup", || {
///     let name = ui::text_input("Name");
///     (name, ui::form_submit_button("Sign up"))
/// });
/// if sent {
///     ui::success(format!("Welcome, {name}"));
/// }
/// ```
pub fn form<R>(key: impl Into<String>, f: impl FnOnce() -> R) -> R {
    let key = key.into();
    let at = with_ctx("form", |ctx| {
        if ctx.form.is_some() {
            ctx.exception(format!(
                "form `{key}` is inside another form: forms cannot nest"
            ));
        }
        if !ctx.forms.insert(key.clone()) {
            ctx.exception(format!(
                "DuplicateFormKey: two forms use the key `{key}` in this run; give each a distinct key"
            ));
        }
        ctx.push(Node::Form {
            id: key.clone(),
            children: Vec::new(),
        })
    });
    inside("form", child(&at, 0), Some(Some(key)), f)
}

/// A progress bar, updated in place with [`Progress::set`].
#[derive(Debug)]
pub struct Progress {
    at: (Cursor, usize),
    run: u64,
}

fn clamp(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    }
}

/// Draws a progress bar at `value` (0.0 to 1.0) with a caption.
///
/// ```no_run
/// # use pagestate::web::ui;
/// let bar = ui::progress(0.0, "Loading");
/// for step in 1..=10 {
///     std::thread::sleep(std::time::Duration::from_millis(100));
///     bar.set(step as f64 / 10.0, format!("Loaded {step}/10"));
/// }
/// ```
pub fn progress(value: f64, text: impl Into<String>) -> Progress {
    with_ctx("progress", |ctx| {
        let run = lock(&ctx.tab.output).run;
        let at = ctx.push(Node::Progress {
            value: clamp(value),
            text: text.into(),
        });
        Progress { at, run }
    })
}

impl Progress {
    /// Moves the bar to `value` (0.0 to 1.0) with a new caption. Like every
    /// ui call it is a point where newer input interrupts the run.
    pub fn set(&self, value: f64, text: impl Into<String>) {
        with_ctx("Progress::set", |ctx| {
            if lock(&ctx.tab.output).run == self.run {
                ctx.replace(
                    &self.at,
                    Node::Progress {
                        value: clamp(value),
                        text: text.into(),
                    },
                );
            }
        })
    }
}

/// Removes the spinner when its scope ends, also when the run unwinds.
struct SpinnerGuard {
    tab: Arc<Tab>,
    at: (Cursor, usize),
    run: u64,
}

impl Drop for SpinnerGuard {
    fn drop(&mut self) {
        let mut output = lock(&self.tab.output);
        if output.run == self.run {
            output.version += 1;
            output.current.replace(&self.at.0, self.at.1, Node::Empty);
            drop(output);
            self.tab.drawn();
        }
    }
}

/// Shows a spinner with `text` while `f` runs, and returns what `f` returns.
///
/// ```no_run
/// # use pagestate::web::ui;
/// let rows = ui::spinner("Loading data...", || {
///     std::thread::sleep(std::time::Duration::from_secs(1));
///     vec![1, 2, 3]
/// });
/// ```
pub fn spinner<R>(text: impl Into<String>, f: impl FnOnce() -> R) -> R {
    let _guard = with_ctx("spinner", |ctx| {
        let run = lock(&ctx.tab.output).run;
        SpinnerGuard {
            tab: Arc::clone(&ctx.tab),
            run,
            at: ctx.push(Node::Spinner(text.into())),
        }
    });
    f()
}
