//! Choosing among options: selectbox and multiselect.

use std::fmt::Display;
use std::sync::Arc;

use serde_json::Value;

use super::inputs::expected;
use crate::output::InputView;
use crate::widgets::{common_options, Common, ValueWidget};

/// What an option must be: shown with `Display`, compared to find the
/// current choice, and stored in session state.
pub trait Choice: Clone + PartialEq + Display + Send + Sync + 'static {}

impl<T: Clone + PartialEq + Display + Send + Sync + 'static> Choice for T {}

fn index(value: &Value, len: usize) -> Result<usize, String> {
    value
        .as_u64()
        .and_then(|i| usize::try_from(i).ok())
        .filter(|&i| i < len)
        .ok_or_else(|| expected(&format!("an option index below {len}"), value))
}

/// A drop-down list; returns the chosen option (the first at first).
///
/// # Panics
///
/// When `options` is empty (shown in the tab as an exception).
pub fn selectbox<T: Choice>(label: impl Into<String>, options: &[T]) -> T {
    Selectbox::new(label, options).show()
}

/// A drop-down list with options; see [`selectbox`].
#[derive(Clone)]
pub struct Selectbox<T: Choice> {
    label: String,
    options: Vec<T>,
    index: usize,
    common: Common,
}

impl<T: Choice> Selectbox<T> {
    /// A drop-down list labelled `label`.
    pub fn new(label: impl Into<String>, options: &[T]) -> Self {
        Selectbox {
            label: label.into(),
            options: options.to_vec(),
            index: 0,
            common: Common::default(),
        }
    }

    /// The option chosen before the user picks one.
    pub fn index(mut self, index: usize) -> Self {
        self.index = index;
        self
    }

    /// Draws it and returns the chosen option.
    #[track_caller]
    pub fn show(self) -> T {
        assert!(
            !self.options.is_empty(),
            "selectbox `{}` has no options: give it at least one",
            self.label
        );
        let options = Arc::new(self.options);
        let default = options[self.index.min(options.len() - 1)].clone();
        let parse_options = Arc::clone(&options);
        ValueWidget {
            kind: "selectbox",
            label: &self.label,
            common: self.common,
            options: options.iter().map(ToString::to_string).collect(),
            default,
            valid: &|value: &T| options.contains(value),
            parse: Arc::new(move |value: &Value| {
                Ok(parse_options[index(value, parse_options.len())?].clone())
            }),
            view: &|value: &T| InputView::Selectbox {
                options: options.iter().map(ToString::to_string).collect(),
                selected: options.iter().position(|o| o == value).unwrap_or(0),
            },
        }
        .show()
    }
}

common_options!(
    impl[T: Choice] Selectbox<T>,
    on_change,
    "Calls `callback` when the user picks another option, before the page reruns."
);

/// A list to pick any number of options from; returns the chosen ones (none
/// at first).
pub fn multiselect<T: Choice>(label: impl Into<String>, options: &[T]) -> Vec<T> {
    Multiselect::new(label, options).show()
}

/// A multiple-choice list with options; see [`multiselect`].
#[derive(Clone)]
pub struct Multiselect<T: Choice> {
    label: String,
    options: Vec<T>,
    default: Vec<T>,
    common: Common,
}

impl<T: Choice> Multiselect<T> {
    /// A multiple-choice list labelled `label`.
    pub fn new(label: impl Into<String>, options: &[T]) -> Self {
        Multiselect {
            label: label.into(),
            options: options.to_vec(),
            default: Vec::new(),
            common: Common::default(),
        }
    }

    /// The options chosen before the user picks (those not among the
    /// options are left out).
    pub fn default(mut self, chosen: &[T]) -> Self {
        self.default = chosen.to_vec();
        self
    }

    /// Draws it and returns the chosen options, in the order of `options`.
    pub fn show(self) -> Vec<T> {
        let options = Arc::new(self.options);
        let default: Vec<T> = options
            .iter()
            .filter(|o| self.default.contains(o))
            .cloned()
            .collect();
        let parse_options = Arc::clone(&options);
        ValueWidget {
            kind: "multiselect",
            label: &self.label,
            common: self.common,
            options: options.iter().map(ToString::to_string).collect(),
            default,
            valid: &|chosen: &Vec<T>| chosen.iter().all(|c| options.contains(c)),
            parse: Arc::new(move |value: &Value| {
                let list = value
                    .as_array()
                    .ok_or_else(|| expected("a list of option indexes", value))?;
                let mut picked = vec![false; parse_options.len()];
                for item in list {
                    picked[index(item, parse_options.len())?] = true;
                }
                Ok(parse_options
                    .iter()
                    .zip(picked)
                    .filter(|(_, on)| *on)
                    .map(|(o, _)| o.clone())
                    .collect())
            }),
            view: &|chosen: &Vec<T>| InputView::Multiselect {
                options: options.iter().map(ToString::to_string).collect(),
                selected: options
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| chosen.contains(o))
                    .map(|(i, _)| i)
                    .collect(),
            },
        }
        .show()
    }
}

common_options!(
    impl[T: Choice] Multiselect<T>,
    on_change,
    "Calls `callback` when the user changes the choice, before the page reruns."
);
