//! What every widget shares: identity, options, its value in session state,
//! and how a value from the browser is checked and applied.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use pagestate_core::{Session, StateError};
use serde_json::Value;

use crate::context::{with_ctx, RunCtx};
use crate::output::{InputView, Node, WidgetView};

/// The session-state namespace that holds widget values.
///
/// A widget with a `key` keeps its value under that key, so page code and
/// callbacks can read and write it:
///
/// ```
/// use pagestate::use_state;
/// use pagestate::web::testing::AppTest;
/// use pagestate::web::{ui, WIDGETS};
///
/// fn page() {
///     if ui::button("Clear") {
///         // Any page code or callback can write a keyed widget's value.
///         use_state!("name", namespace = WIDGETS, type = String).set(String::new()).unwrap();
///     }
///     let name = ui::TextInput::new("Name").key("name").show();
///     ui::text(format!("Hello, {name}"));
/// }
///
/// let mut at = AppTest::new(page);
/// at.run().widget("Name").input("Ada").run();
/// assert_eq!(at.widget_state::<String>("name").as_deref(), Some("Ada"));
/// at.widget("Clear").click().run();
/// assert_eq!(at.texts("text"), ["Hello, "]);
/// ```
///
/// Widgets without a key keep theirs under their generated id (see
/// [`ui`](crate::ui)), which is not part of the API.
pub const WIDGETS: &str = "pagestate::web::widgets";

pub(crate) type Applier = Arc<dyn Fn(&Session, &Value) -> Result<bool, String> + Send + Sync>;
pub(crate) type Callback = Arc<dyn Fn() + Send + Sync>;
/// Turns a value from the browser into a widget's typed value, or says why not.
pub(crate) type Parser<T> = Arc<dyn Fn(&Value) -> Result<T, String> + Send + Sync>;

/// A widget as the host remembers it between runs.
#[derive(Clone)]
pub(crate) struct WidgetMeta {
    pub(crate) kind: &'static str,
    /// Where its value lives in [`WIDGETS`]; `None` for buttons.
    pub(crate) state_key: Option<String>,
    pub(crate) persist: bool,
    /// Drawn disabled: the browser cannot change it, so input for it is
    /// refused.
    pub(crate) disabled: bool,
    /// Checks and stores a value from the browser, returning whether it
    /// changed. `None`: a button, which takes clicks, not values.
    pub(crate) applier: Option<Applier>,
    pub(crate) callback: Option<Callback>,
}

/// Options every widget takes.
#[derive(Clone, Default)]
pub(crate) struct Common {
    pub(crate) key: Option<String>,
    pub(crate) help: Option<String>,
    pub(crate) callback: Option<Callback>,
    pub(crate) persist: bool,
    pub(crate) disabled: bool,
}

/// Adds the options every widget builder shares.
macro_rules! common_options {
    (impl[$($generics:tt)*] $builder:ty, $callback:ident, $callback_doc:literal) => {
        impl<$($generics)*> $builder {
            /// Gives the widget an explicit identity. Its value then lives in
            /// session state under this key in the [`WIDGETS`](crate::WIDGETS)
            /// namespace, readable and writable with `use_state!`.
            pub fn key(mut self, key: impl Into<String>) -> Self {
                self.common.key = Some(key.into());
                self
            }

            /// A tooltip shown beside the label.
            pub fn help(mut self, help: impl Into<String>) -> Self {
                self.common.help = Some(help.into());
                self
            }

            #[doc = $callback_doc]
            ///
            /// Callbacks run before the page, inside the session (so
            /// `use_state!` works); what they draw appears at the top.
            pub fn $callback(mut self, callback: impl Fn() + Send + Sync + 'static) -> Self {
                self.common.callback = Some(::std::sync::Arc::new(callback));
                self
            }

            /// Keeps the widget's value when a run does not draw it
            /// (Streamlit deletes it; its issue #6074).
            pub fn persist(mut self, persist: bool) -> Self {
                self.common.persist = persist;
                self
            }

            /// Draws the widget greyed out; the browser cannot change it.
            pub fn disabled(mut self, disabled: bool) -> Self {
                self.common.disabled = disabled;
                self
            }
        }
    };
}
pub(crate) use common_options;

/// A widget's id: `key:<key>` with a key, else derived from its kind,
/// label, options and form.
pub(crate) fn widget_id(
    kind: &str,
    key: Option<&str>,
    label: &str,
    options: &[String],
    form: Option<&str>,
) -> String {
    match key {
        Some(key) => format!("key:{key}"),
        None => {
            let mut hasher = DefaultHasher::new();
            (kind, label, options, form).hash(&mut hasher);
            format!("auto:{kind}:{:016x}", hasher.finish())
        }
    }
}

fn duplicate(ctx: &mut RunCtx, kind: &str, label: &str, id: &str) {
    ctx.exception(format!(
        "DuplicateWidgetID: there are two {kind} widgets labelled `{label}` with the same \
         identity (`{id}`) in this run; give each one a distinct `key`"
    ));
}

/// Draws a widget that holds a value and returns its current value.
///
/// `valid` rejects a stored value that no longer fits (an option that is
/// gone, a number out of range): the widget falls back to `default`.
/// `parse` turns a value from the browser into `T`, or says why not.
pub(crate) struct ValueWidget<'a, T> {
    pub(crate) kind: &'static str,
    pub(crate) label: &'a str,
    pub(crate) common: Common,
    pub(crate) options: Vec<String>,
    pub(crate) default: T,
    pub(crate) valid: &'a dyn Fn(&T) -> bool,
    pub(crate) parse: Parser<T>,
    pub(crate) view: &'a dyn Fn(&T) -> InputView,
}

impl<T: Clone + PartialEq + Send + Sync + 'static> ValueWidget<'_, T> {
    pub(crate) fn show(self) -> T {
        with_ctx(self.kind, |ctx| {
            let form = ctx.form.clone();
            let id = widget_id(
                self.kind,
                self.common.key.as_deref(),
                self.label,
                &self.options,
                form.as_deref(),
            );
            if ctx.seen.contains_key(&id) {
                duplicate(ctx, self.kind, self.label, &id);
                return self.default;
            }
            let state_key = self.common.key.clone().unwrap_or_else(|| id.clone());
            let state = ctx.tab.session.state::<T>(WIDGETS, &state_key);
            let value = match state.get() {
                Ok(value) if (self.valid)(&value) => value,
                Ok(_) | Err(StateError::Uninitialized { .. }) => {
                    let _ = state.set(self.default.clone());
                    self.default.clone()
                }
                Err(error) => {
                    ctx.exception(format!("{} `{}`: {error}", self.kind, self.label));
                    self.default.clone()
                }
            };
            let parse = self.parse;
            let key = state_key.clone();
            let applier: Applier = Arc::new(move |session: &Session, raw: &Value| {
                let new = parse(raw)?;
                let state = session.state::<T>(WIDGETS, &key);
                let old = state.get().ok();
                state.set(new.clone()).map_err(|error| error.to_string())?;
                Ok(old.as_ref() != Some(&new))
            });
            ctx.seen.insert(
                id.clone(),
                WidgetMeta {
                    kind: self.kind,
                    state_key: Some(state_key),
                    persist: self.common.persist,
                    disabled: self.common.disabled,
                    applier: Some(applier),
                    callback: self.common.callback.clone(),
                },
            );
            let input = (self.view)(&value);
            ctx.push(Node::Widget(WidgetView {
                id,
                key: self.common.key,
                label: self.label.to_owned(),
                help: self.common.help,
                form,
                disabled: self.common.disabled,
                input,
            }));
            value
        })
    }
}

/// Draws a button (or a form's submit button) and returns whether it was
/// clicked for this run.
pub(crate) fn trigger_widget(kind: &'static str, label: &str, common: Common) -> bool {
    with_ctx(kind, |ctx| {
        let form = ctx.form.clone();
        if kind == "form_submit_button" && form.is_none() {
            ctx.exception(format!(
                "form_submit_button `{label}` is outside a form: call it inside `ui::form(..)`"
            ));
            return false;
        }
        let id = widget_id(kind, common.key.as_deref(), label, &[], form.as_deref());
        if ctx.seen.contains_key(&id) {
            duplicate(ctx, kind, label, &id);
            return false;
        }
        let clicked = ctx.triggers.contains(&id);
        if clicked {
            ctx.observed.insert(id.clone());
        }
        ctx.seen.insert(
            id.clone(),
            WidgetMeta {
                kind,
                state_key: None,
                persist: common.persist,
                disabled: common.disabled,
                applier: None,
                callback: common.callback.clone(),
            },
        );
        ctx.push(Node::Widget(WidgetView {
            id,
            key: common.key,
            label: label.to_owned(),
            help: common.help,
            form,
            disabled: common.disabled,
            input: if kind == "button" {
                InputView::Button
            } else {
                InputView::FormSubmit
            },
        }));
        clicked
    })
}
