//! Number widgets: number_input and slider, for integers and floats.

use std::fmt::Display;
use std::sync::Arc;

use serde_json::Value;

use super::inputs::expected;
use crate::output::InputView;
use crate::widgets::{common_options, Common, Parser, ValueWidget};

mod sealed {
    pub trait Sealed {}
}

/// The number types that [`number_input`] and [`slider`] work with: the
/// primitive integers and floats.
pub trait Number: Copy + PartialOrd + Display + Send + Sync + 'static + sealed::Sealed {
    /// Whether the type holds whole numbers only.
    const INTEGER: bool;
    #[doc(hidden)]
    fn from_json(value: &Value) -> Option<Self>;
    #[doc(hidden)]
    fn unit_step() -> Self;
    #[doc(hidden)]
    fn slider_step(min: Self, max: Self) -> Self;
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Number for $t {
            const INTEGER: bool = true;
            fn from_json(value: &Value) -> Option<Self> {
                if let Some(n) = value.as_i64() {
                    return <$t>::try_from(n).ok();
                }
                value.as_u64().and_then(|n| <$t>::try_from(n).ok())
            }
            fn unit_step() -> Self {
                1
            }
            fn slider_step(_: Self, _: Self) -> Self {
                1
            }
        }
    )*};
}
integers!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

macro_rules! floats {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Number for $t {
            const INTEGER: bool = false;
            fn from_json(value: &Value) -> Option<Self> {
                let n = value.as_f64()? as $t;
                n.is_finite().then_some(n)
            }
            fn unit_step() -> Self {
                0.01
            }
            fn slider_step(min: Self, max: Self) -> Self {
                ((max - min) / 100.0).max(<$t>::EPSILON)
            }
        }
    )*};
}
floats!(f32, f64);

fn in_range<T: Number>(value: T, min: Option<T>, max: Option<T>) -> bool {
    min.is_none_or(|min| value >= min) && max.is_none_or(|max| value <= max)
}

fn parser<T: Number>(min: Option<T>, max: Option<T>) -> Parser<T> {
    Arc::new(move |value: &Value| {
        let what = if T::INTEGER { "an integer" } else { "a number" };
        let n = T::from_json(value).ok_or_else(|| expected(what, value))?;
        if in_range(n, min, max) {
            Ok(n)
        } else {
            Err(format!("{n} is out of range"))
        }
    })
}

fn bounds_options<T: Number>(min: Option<T>, max: Option<T>, step: T) -> Vec<String> {
    let show = |n: Option<T>| n.map(|n| n.to_string()).unwrap_or_default();
    vec![show(min), show(max), step.to_string()]
}

/// A number box starting at `default`; returns its number, typed as
/// `default` is (`ui::number_input("Age", 30)` is an `i32`,
/// `ui::number_input("Ratio", 0.5)` an `f64`).
pub fn number_input<T: Number>(label: impl Into<String>, default: T) -> T {
    NumberInput::new(label, default).show()
}

/// A number box with options; see [`number_input`].
#[derive(Clone)]
pub struct NumberInput<T: Number> {
    label: String,
    default: T,
    min: Option<T>,
    max: Option<T>,
    step: T,
    common: Common,
}

impl<T: Number> NumberInput<T> {
    /// A number box labelled `label`, starting at `default`.
    pub fn new(label: impl Into<String>, default: T) -> Self {
        NumberInput {
            label: label.into(),
            default,
            min: None,
            max: None,
            step: T::unit_step(),
            common: Common::default(),
        }
    }

    /// The smallest value it accepts.
    pub fn min(mut self, min: T) -> Self {
        self.min = Some(min);
        self
    }

    /// The largest value it accepts.
    pub fn max(mut self, max: T) -> Self {
        self.max = Some(max);
        self
    }

    /// How much its arrows add or take away.
    pub fn step(mut self, step: T) -> Self {
        self.step = step;
        self
    }

    /// Draws it and returns its number.
    pub fn show(self) -> T {
        let (min, max, step) = (self.min, self.max, self.step);
        let default = match (min, max) {
            (Some(min), _) if self.default < min => min,
            (_, Some(max)) if self.default > max => max,
            _ => self.default,
        };
        ValueWidget {
            kind: "number_input",
            label: &self.label,
            common: self.common,
            options: bounds_options(min, max, step),
            default,
            valid: &|n: &T| in_range(*n, min, max),
            parse: parser(min, max),
            view: &|n: &T| InputView::Number {
                value: n.to_string(),
                min: min.map(|n| n.to_string()),
                max: max.map(|n| n.to_string()),
                step: step.to_string(),
                integer: T::INTEGER,
            },
        }
        .show()
    }
}

common_options!(
    impl[T: Number] NumberInput<T>,
    on_change,
    "Calls `callback` when the user changes the number, before the page reruns."
);

/// A slider from `min` to `max`, starting at `min`; returns its value, typed
/// as `min` and `max` are.
pub fn slider<T: Number>(label: impl Into<String>, min: T, max: T) -> T {
    Slider::new(label, min, max).show()
}

/// A slider with options; see [`slider`].
#[derive(Clone)]
pub struct Slider<T: Number> {
    label: String,
    min: T,
    max: T,
    default: Option<T>,
    step: T,
    common: Common,
}

impl<T: Number> Slider<T> {
    /// A slider labelled `label` from `min` to `max`.
    pub fn new(label: impl Into<String>, min: T, max: T) -> Self {
        Slider {
            label: label.into(),
            min,
            max,
            default: None,
            step: T::slider_step(min, max),
            common: Common::default(),
        }
    }

    /// Its value before the user moves it (default: `min`).
    pub fn default(mut self, value: T) -> Self {
        self.default = Some(value);
        self
    }

    /// The distance between two positions.
    pub fn step(mut self, step: T) -> Self {
        self.step = step;
        self
    }

    /// Draws it and returns its value.
    pub fn show(self) -> T {
        let (min, max, step) = (self.min, self.max, self.step);
        let default = self
            .default
            .filter(|n| in_range(*n, Some(min), Some(max)))
            .unwrap_or(min);
        ValueWidget {
            kind: "slider",
            label: &self.label,
            common: self.common,
            options: bounds_options(Some(min), Some(max), step),
            default,
            valid: &|n: &T| in_range(*n, Some(min), Some(max)),
            parse: parser(Some(min), Some(max)),
            view: &|n: &T| InputView::Slider {
                value: n.to_string(),
                min: min.to_string(),
                max: max.to_string(),
                step: step.to_string(),
                integer: T::INTEGER,
            },
        }
        .show()
    }
}

common_options!(
    impl[T: Number] Slider<T>,
    on_change,
    "Calls `callback` when the user moves the slider, before the page reruns."
);
