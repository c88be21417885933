//! An in-process harness for pages, like Streamlit's `st.testing.v1.AppTest`:
//! run a page, read what it drew, set widget values, click buttons, submit
//! forms, read session state. No browser, no network: the page runs through
//! the same session, rerun and widget machinery as in the server, on the
//! calling thread.
//!
//! ```
//! use pagestate::web::testing::AppTest;
//! use pagestate::web::ui;
//!
//! fn page() {
//!     let name = ui::TextInput::new("Name").key("name").show();
//!     if ui::button("Greet") {
//!         ui::success(format!("Hello, {name}!"));
//!     }
//! }
//!
//! let mut at = AppTest::new(page);
//! at.run();
//! assert!(at.get("success").is_empty());
//! at.widget("Name").input("Ada");
//! at.widget("Greet").click();
//! at.run();
//! assert_eq!(at.get("success")[0].text, "Hello, Ada!");
//! assert_eq!(at.widget_state::<String>("name"), Some("Ada".to_owned()));
//! at.run(); // a button is true in one run only
//! assert!(at.get("success").is_empty());
//! ```

use std::sync::Arc;

use pagestate_core::Session;
use serde::Serialize;
use serde_json::Value;

use crate::output::{Area, InputView, Node, RunStatus};
use crate::render;
use crate::runner;
use crate::tab::{lock, RerunHandle, RerunRequest, Spawner, Tab};
use crate::widgets::WIDGETS;

/// How many reruns one [`AppTest::run`] follows (a page that calls
/// `ui::rerun()` on every run would loop forever).
const MAX_RERUNS: usize = 100;

/// One drawn element, as the harness reports it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Element {
    /// The element's kind: `title`, `text`, `markdown`, `button`,
    /// `text_input`, `exception`, ... (the `data-testid` in the browser).
    pub kind: &'static str,
    /// The area it is drawn in.
    pub area: Area,
    /// Its text: the text of a text element, the source of markdown, the
    /// code of code, the JSON of json, the caption of a progress bar, the
    /// message of an exception, the label of a widget or an expander, the
    /// key of a form, the series names of a chart (comma-separated), the
    /// cells of a table (tab-separated rows, header first).
    pub text: String,
    /// A widget's id (what the browser sends).
    pub widget_id: Option<String>,
    /// A widget's key.
    pub key: Option<String>,
    /// The form a widget belongs to.
    pub form: Option<String>,
    /// A widget's current value as the browser shows it (a checkbox's
    /// bool, a text, a number, a selectbox's option, a multiselect's list of
    /// options), or a progress bar's value.
    pub value: Option<Value>,
    /// The options of a selectbox or multiselect.
    pub options: Vec<String>,
    /// Where a page panic happened (`file:line:column`).
    pub location: Option<String>,
    /// Left over from an earlier run, shown greyed until a run completes.
    pub stale: bool,
}

fn flatten(node: &Node, area: Area, stale: bool, form: Option<&str>, out: &mut Vec<Element>) {
    let mut element = Element {
        kind: node.kind(),
        area,
        text: String::new(),
        widget_id: None,
        key: None,
        form: None,
        value: None,
        options: Vec::new(),
        location: None,
        stale,
    };
    let mut children: Vec<&Node> = Vec::new();
    let mut child_form = form;
    match node {
        Node::Empty => return,
        Node::Title(text) | Node::Header(text) | Node::Text(text) | Node::Json(text) => {
            element.text = text.clone()
        }
        Node::Markdown { source, .. } => element.text = source.clone(),
        Node::Code { code, .. } => element.text = code.clone(),
        Node::Table { columns, rows } => {
            let lines =
                std::iter::once(columns.join("\t")).chain(rows.iter().map(|row| row.join("\t")));
            element.text = lines.collect::<Vec<_>>().join("\n");
        }
        Node::Alert(_, text) | Node::Spinner(text) => element.text = text.clone(),
        Node::Divider => {}
        Node::Progress { value, text } => {
            element.text = text.clone();
            element.value = Some(Value::from(*value));
        }
        Node::Chart { series, .. } => element.text = series.join(", "),
        Node::Exception { message, location } => {
            element.text = message.clone();
            element.location = location.clone();
        }
        Node::Columns(columns) => children.extend(columns.iter().flatten()),
        Node::Expander {
            label,
            children: nodes,
            ..
        } => {
            element.text = label.clone();
            children.extend(nodes);
        }
        Node::Form {
            id,
            children: nodes,
        } => {
            element.text = id.clone();
            child_form = Some(id);
            children.extend(nodes);
        }
        Node::Widget(widget) => {
            element.text = widget.label.clone();
            element.widget_id = Some(widget.id.clone());
            element.key = widget.key.clone();
            element.form = widget.form.clone();
            element.value = match &widget.input {
                InputView::Button | InputView::FormSubmit => None,
                InputView::Checkbox(checked) => Some(Value::from(*checked)),
                InputView::TextInput { value, .. } | InputView::TextArea { value, .. } => {
                    Some(Value::from(value.clone()))
                }
                InputView::Number { value, .. } | InputView::Slider { value, .. } => {
                    serde_json::from_str(value).ok()
                }
                InputView::Selectbox { options, selected } => {
                    element.options = options.clone();
                    options.get(*selected).cloned().map(Value::from)
                }
                InputView::Multiselect { options, selected } => {
                    element.options = options.clone();
                    Some(Value::from(
                        selected
                            .iter()
                            .filter_map(|&i| options.get(i).cloned())
                            .collect::<Vec<_>>(),
                    ))
                }
            };
        }
    }
    out.push(element);
    for child in children {
        flatten(child, area, stale, child_form, out);
    }
}

/// Runs a page in-process; see the [module docs](self).
pub struct AppTest {
    tab: Arc<Tab>,
    /// Values and clicks for the next run.
    next: RerunRequest,
    /// Edits of form widgets, held back until their form is submitted
    /// (as the browser does): (form, widget id, value).
    form_edits: Vec<(String, String, Value)>,
}

impl std::fmt::Debug for AppTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppTest")
            .field("session", &self.tab.session)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl AppTest {
    /// A harness for `page`, with a fresh session. Nothing runs until
    /// [`run`](Self::run).
    pub fn new(page: impl Fn() + Send + Sync + 'static) -> Self {
        AppTest {
            tab: Tab::new(Arc::new(page), Spawner::Manual),
            next: RerunRequest::default(),
            form_edits: Vec::new(),
        }
    }

    /// Runs the page with the values and clicks queued since the last run,
    /// then any rerun the page asked for (`ui::rerun()`, a
    /// [`RerunHandle`]), until none is pending.
    ///
    /// # Panics
    ///
    /// When the page keeps asking for reruns (more than 100 in a row).
    pub fn run(&mut self) -> &mut Self {
        self.tab.request(std::mem::take(&mut self.next));
        let mut runs = 0;
        while let Some(request) = self.tab.take_request() {
            runs += 1;
            assert!(
                runs <= MAX_RERUNS,
                "the page asked for a rerun in each of {MAX_RERUNS} runs in a row"
            );
            runner::run_once(&self.tab, request);
        }
        self
    }

    /// Every element the tab shows now, depth first (containers before
    /// their content), main area first, then the sidebar.
    pub fn elements(&self) -> Vec<Element> {
        let output = lock(&self.tab.output);
        let mut elements = Vec::new();
        for area in [Area::Main, Area::Sidebar] {
            for shown in output.shown(area) {
                flatten(shown.node, area, shown.stale, None, &mut elements);
            }
        }
        elements
    }

    /// The elements of one kind (`"text"`, `"button"`, `"exception"`, ...).
    pub fn get(&self, kind: &str) -> Vec<Element> {
        self.elements()
            .into_iter()
            .filter(|element| element.kind == kind)
            .collect()
    }

    /// The texts of the elements of one kind.
    pub fn texts(&self, kind: &str) -> Vec<String> {
        self.get(kind)
            .into_iter()
            .map(|element| element.text)
            .collect()
    }

    /// Whether any element's text contains `needle`.
    pub fn contains_text(&self, needle: &str) -> bool {
        self.elements()
            .iter()
            .any(|element| element.text.contains(needle))
    }

    /// The exception elements: page panics, duplicate widgets, misuse.
    pub fn exceptions(&self) -> Vec<Element> {
        self.get("exception")
    }

    /// The widget labelled (or keyed) `label_or_key`, to set its value or
    /// click it for the next run.
    ///
    /// # Panics
    ///
    /// When no widget has that label or key, listing those it has.
    #[track_caller]
    pub fn widget(&mut self, label_or_key: &str) -> WidgetRef<'_> {
        let elements = self.elements();
        let found = elements.iter().find(|element| {
            element.widget_id.is_some()
                && (element.text == label_or_key || element.key.as_deref() == Some(label_or_key))
        });
        match found {
            Some(element) => WidgetRef {
                element: element.clone(),
                at: self,
            },
            None => {
                let known: Vec<_> = elements
                    .iter()
                    .filter(|element| element.widget_id.is_some())
                    .map(|element| format!("{} `{}`", element.kind, element.text))
                    .collect();
                panic!("no widget labelled or keyed `{label_or_key}`; the page shows: {known:?}")
            }
        }
    }

    /// Queues a raw value for widget `widget_id`, as the browser would send
    /// it (for tests of bad input: any JSON, any id).
    pub fn send_value(&mut self, widget_id: &str, value: Value) -> &mut Self {
        self.next.merge(RerunRequest {
            values: vec![(widget_id.to_owned(), value)],
            triggers: Vec::new(),
        });
        self
    }

    /// Queues a click of widget `widget_id`, as the browser would send it.
    pub fn send_click(&mut self, widget_id: &str) -> &mut Self {
        self.next.merge(RerunRequest {
            values: Vec::new(),
            triggers: vec![widget_id.to_owned()],
        });
        self
    }

    /// Sends input to the tab as if it arrived from the browser *now*,
    /// also from inside a running page: it merges into the pending rerun
    /// and interrupts the running page at its next ui call.
    pub fn input_sender(&self) -> InputSender {
        InputSender {
            tab: Arc::clone(&self.tab),
        }
    }

    /// The session behind the tab.
    pub fn session(&self) -> &Session {
        &self.tab.session
    }

    /// The value of the widget keyed `key`, from session state.
    pub fn widget_state<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        self.tab.session.state::<T>(WIDGETS, key).get().ok()
    }

    /// A handle to request reruns, as page code gets from
    /// [`ui::rerun_handle`](crate::ui::rerun_handle).
    pub fn rerun_handle(&self) -> RerunHandle {
        RerunHandle {
            tab: Arc::downgrade(&self.tab),
        }
    }

    /// Whether a rerun is waiting for the next [`run`](Self::run).
    pub fn has_pending_rerun(&self) -> bool {
        self.tab.has_pending()
    }

    /// How the latest run went.
    pub fn status(&self) -> RunStatus {
        lock(&self.tab.output).status
    }

    /// How many runs started.
    pub fn runs(&self) -> u64 {
        lock(&self.tab.output).run
    }

    /// How many runs completed.
    pub fn runs_completed(&self) -> u64 {
        lock(&self.tab.output).completed
    }

    /// The HTML of an area as the browser would receive it.
    pub fn html(&self, area: Area) -> String {
        render::area(&lock(&self.tab.output), area)
    }

    /// Ends the session, as the server does when a tab is gone for good:
    /// its state and session-scoped cache entries are freed.
    pub fn close(&self) {
        self.tab.close();
    }
}

/// Input for a tab from another thread or from inside its running page;
/// see [`AppTest::input_sender`].
#[derive(Clone)]
pub struct InputSender {
    tab: Arc<Tab>,
}

impl InputSender {
    /// A new value for widget `widget_id`.
    pub fn send_value(&self, widget_id: &str, value: Value) {
        self.tab.request(RerunRequest {
            values: vec![(widget_id.to_owned(), value)],
            triggers: Vec::new(),
        });
    }

    /// A click of widget `widget_id`.
    pub fn send_click(&self, widget_id: &str) {
        self.tab.request(RerunRequest {
            values: Vec::new(),
            triggers: vec![widget_id.to_owned()],
        });
    }
}

impl std::fmt::Debug for InputSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSender")
            .field("session", &self.tab.session.id())
            .finish()
    }
}

/// A widget found by [`AppTest::widget`]; its methods queue input for the
/// next run, as a browser would send it. Edits of widgets inside a form are
/// held back until the form's submit button is clicked.
#[derive(Debug)]
pub struct WidgetRef<'a> {
    at: &'a mut AppTest,
    element: Element,
}

impl<'a> WidgetRef<'a> {
    /// The widget as drawn.
    pub fn element(&self) -> &Element {
        &self.element
    }

    fn id(&self) -> String {
        self.element.widget_id.clone().expect("a widget has an id")
    }

    /// Clicks a button, or submits a form with its submit button (sending
    /// the form's held-back edits with it).
    #[track_caller]
    pub fn click(self) -> &'a mut AppTest {
        assert!(
            matches!(self.element.kind, "button" | "form_submit_button"),
            "{} `{}` is not a button",
            self.element.kind,
            self.element.text
        );
        let id = self.id();
        if let Some(form) = &self.element.form {
            let (sent, kept) = std::mem::take(&mut self.at.form_edits)
                .into_iter()
                .partition(|(edit_form, _, _)| edit_form == form);
            self.at.form_edits = kept;
            let sent: Vec<(String, String, Value)> = sent;
            for (_, widget, value) in sent {
                self.at.send_value(&widget, value);
            }
        }
        self.at.send_click(&id)
    }

    /// Sets the widget's value as the browser sends it: a bool for a
    /// checkbox, a string for text, a number for a number input or slider,
    /// an option index for a selectbox, a list of indexes for a multiselect.
    pub fn set_value(self, value: impl Serialize) -> &'a mut AppTest {
        let value = serde_json::to_value(value).expect("a test value serialises");
        let id = self.id();
        match &self.element.form {
            Some(form) => {
                self.at.form_edits.retain(|(_, widget, _)| *widget != id);
                self.at.form_edits.push((form.clone(), id, value));
                self.at
            }
            None => self.at.send_value(&id, value),
        }
    }

    /// Types `text` into a text input or text area.
    pub fn input(self, text: &str) -> &'a mut AppTest {
        self.set_value(text)
    }

    /// Checks or unchecks a checkbox.
    pub fn check(self, checked: bool) -> &'a mut AppTest {
        self.set_value(checked)
    }

    /// Picks the option shown as `option` in a selectbox.
    #[track_caller]
    pub fn select(self, option: &str) -> &'a mut AppTest {
        let index = self.option_index(option);
        self.set_value(index)
    }

    /// Picks the options shown as `options` in a multiselect.
    #[track_caller]
    pub fn select_many(self, options: &[&str]) -> &'a mut AppTest {
        let indexes: Vec<usize> = options.iter().map(|o| self.option_index(o)).collect();
        self.set_value(indexes)
    }

    #[track_caller]
    fn option_index(&self, option: &str) -> usize {
        self.element
            .options
            .iter()
            .position(|o| o == option)
            .unwrap_or_else(|| {
                panic!(
                    "{} `{}` has no option `{option}`; its options: {:?}",
                    self.element.kind, self.element.text, self.element.options
                )
            })
    }
}
