//! Buttons, checkbox and text widgets.

use std::sync::Arc;

use serde_json::Value;

use crate::output::InputView;
use crate::widgets::{common_options, trigger_widget, Common, Parser, ValueWidget};

/// A button: `true` in the one run that follows its click.
pub fn button(label: impl Into<String>) -> bool {
    Button::new(label).show()
}

/// A button with options; see [`button`].
#[derive(Clone)]
pub struct Button {
    label: String,
    common: Common,
}

impl Button {
    /// A button labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Button {
            label: label.into(),
            common: Common::default(),
        }
    }

    /// Draws it; `true` in the one run that follows its click.
    pub fn show(self) -> bool {
        trigger_widget("button", &self.label, self.common)
    }
}

common_options!(
    impl[] Button,
    on_click,
    "Calls `callback` when the button is clicked, before the page reruns."
);

/// The submit button of the enclosing [`form`](crate::ui::form): `true` in
/// the run that its click starts, which also carries the values of every
/// widget of the form.
pub fn form_submit_button(label: impl Into<String>) -> bool {
    FormSubmitButton::new(label).show()
}

/// A form's submit button with options; see [`form_submit_button`].
#[derive(Clone)]
pub struct FormSubmitButton {
    label: String,
    common: Common,
}

impl FormSubmitButton {
    /// A submit button labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        FormSubmitButton {
            label: label.into(),
            common: Common::default(),
        }
    }

    /// Draws it; `true` in the run its click starts.
    pub fn show(self) -> bool {
        trigger_widget("form_submit_button", &self.label, self.common)
    }
}

common_options!(
    impl[] FormSubmitButton,
    on_click,
    "Calls `callback` when the form is submitted, after the form's values are applied and before the page reruns."
);

/// A checkbox, unchecked at first; returns whether it is checked.
pub fn checkbox(label: impl Into<String>) -> bool {
    Checkbox::new(label).show()
}

/// A checkbox with options; see [`checkbox`].
#[derive(Clone)]
pub struct Checkbox {
    label: String,
    default: bool,
    common: Common,
}

impl Checkbox {
    /// A checkbox labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Checkbox {
            label: label.into(),
            default: false,
            common: Common::default(),
        }
    }

    /// Its value before the user touches it.
    pub fn default(mut self, checked: bool) -> Self {
        self.default = checked;
        self
    }

    /// Draws it and returns whether it is checked.
    pub fn show(self) -> bool {
        ValueWidget {
            kind: "checkbox",
            label: &self.label,
            common: self.common,
            options: Vec::new(),
            default: self.default,
            valid: &|_| true,
            parse: Arc::new(|value: &Value| {
                value.as_bool().ok_or_else(|| expected("a boolean", value))
            }),
            view: &|checked: &bool| InputView::Checkbox(*checked),
        }
        .show()
    }
}

common_options!(
    impl[] Checkbox,
    on_change,
    "Calls `callback` when the user changes the value, before the page reruns."
);

pub(crate) fn expected(what: &str, value: &Value) -> String {
    let mut shown = value.to_string();
    if shown.len() > 60 {
        let mut end = 60;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
        shown.push_str("...");
    }
    format!("expected {what}, got {shown}")
}

fn text_parser(max_chars: Option<usize>) -> Parser<String> {
    Arc::new(move |value: &Value| {
        let text = value.as_str().ok_or_else(|| expected("a string", value))?;
        match max_chars {
            Some(max) if text.chars().count() > max => Err(format!("longer than {max} characters")),
            _ => Ok(text.to_owned()),
        }
    })
}

/// A one-line text box, empty at first; returns its text. The browser sends
/// the text when the user presses Enter or leaves the box.
pub fn text_input(label: impl Into<String>) -> String {
    TextInput::new(label).show()
}

/// A one-line text box with options; see [`text_input`].
#[derive(Clone)]
pub struct TextInput {
    label: String,
    default: String,
    placeholder: String,
    max_chars: Option<usize>,
    common: Common,
}

impl TextInput {
    /// A text box labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        TextInput {
            label: label.into(),
            default: String::new(),
            placeholder: String::new(),
            max_chars: None,
            common: Common::default(),
        }
    }

    /// Its text before the user types.
    pub fn default(mut self, text: impl Into<String>) -> Self {
        self.default = text.into();
        self
    }

    /// Greyed text shown while it is empty.
    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = text.into();
        self
    }

    /// The longest text it accepts, in characters.
    pub fn max_chars(mut self, max: usize) -> Self {
        self.max_chars = Some(max);
        self
    }

    /// Draws it and returns its text.
    pub fn show(self) -> String {
        let max_chars = self.max_chars;
        let placeholder = self.placeholder.clone();
        ValueWidget {
            kind: "text_input",
            label: &self.label,
            common: self.common,
            options: max_chars
                .map(|max| vec![max.to_string()])
                .unwrap_or_default(),
            default: self.default,
            valid: &|text: &String| max_chars.is_none_or(|max| text.chars().count() <= max),
            parse: text_parser(max_chars),
            view: &|text: &String| InputView::TextInput {
                value: text.clone(),
                placeholder: placeholder.clone(),
                max_chars,
            },
        }
        .show()
    }
}

common_options!(
    impl[] TextInput,
    on_change,
    "Calls `callback` when the user changes the text, before the page reruns."
);

/// A multi-line text box, empty at first; returns its text. The browser
/// sends the text when the user leaves the box.
pub fn text_area(label: impl Into<String>) -> String {
    TextArea::new(label).show()
}

/// A multi-line text box with options; see [`text_area`].
#[derive(Clone)]
pub struct TextArea {
    label: String,
    default: String,
    placeholder: String,
    common: Common,
}

impl TextArea {
    /// A text area labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        TextArea {
            label: label.into(),
            default: String::new(),
            placeholder: String::new(),
            common: Common::default(),
        }
    }

    /// Its text before the user types.
    pub fn default(mut self, text: impl Into<String>) -> Self {
        self.default = text.into();
        self
    }

    /// Greyed text shown while it is empty.
    pub fn placeholder(mut self, text: impl Into<String>) -> Self {
        self.placeholder = text.into();
        self
    }

    /// Draws it and returns its text.
    pub fn show(self) -> String {
        let placeholder = self.placeholder.clone();
        ValueWidget {
            kind: "text_area",
            label: &self.label,
            common: self.common,
            options: Vec::new(),
            default: self.default,
            valid: &|_| true,
            parse: text_parser(None),
            view: &|text: &String| InputView::TextArea {
                value: text.clone(),
                placeholder: placeholder.clone(),
            },
        }
        .show()
    }
}

common_options!(
    impl[] TextArea,
    on_change,
    "Calls `callback` when the user changes the text, before the page reruns."
);
