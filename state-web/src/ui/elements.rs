//! Output elements: text of every kind, data, alerts.

use serde::Serialize;

use crate::context::with_ctx;
use crate::output::{AlertLevel, Node};

fn draw(what: &str, node: Node) {
    with_ctx(what, |ctx| {
        ctx.push(node);
    });
}

/// The page's title, in large type.
pub fn title(text: impl Into<String>) {
    draw("title", Node::Title(text.into()));
}

/// A section header.
pub fn header(text: impl Into<String>) {
    draw("header", Node::Header(text.into()));
}

/// A paragraph of plain text (whitespace kept).
pub fn text(text: impl Into<String>) {
    draw("text", Node::Text(text.into()));
}

/// CommonMark text. Raw HTML in it is shown as text, never interpreted, and
/// links to `javascript:` URLs are dropped.
pub fn markdown(source: impl Into<String>) {
    let source = source.into();
    let html = super::markdown::to_html(&source);
    draw("markdown", Node::Markdown { source, html });
}

/// A block of code in a monospace font; `language` is a label (`"rust"`),
/// or `""`.
pub fn code(code: impl Into<String>, language: &str) {
    draw(
        "code",
        Node::Code {
            code: code.into(),
            language: language.to_owned(),
        },
    );
}

/// Any `Serialize` value, pretty-printed as JSON. A value that fails to
/// serialise shows an exception element instead.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(json) => draw("json", Node::Json(json)),
        Err(error) => with_ctx("json", |ctx| {
            ctx.exception(format!("json: the value cannot be serialised: {error}"))
        }),
    }
}

/// A table with one row per item. Items that serialise to maps (structs)
/// give the columns (the union of their keys, in order of appearance);
/// other items fill a single `value` column.
pub fn table<T: Serialize>(rows: &[T]) {
    let values: Result<Vec<serde_json::Value>, _> = rows.iter().map(serde_json::to_value).collect();
    let values = match values {
        Ok(values) => values,
        Err(error) => {
            return with_ctx("table", |ctx| {
                ctx.exception(format!("table: a row cannot be serialised: {error}"))
            })
        }
    };
    let mut columns: Vec<String> = Vec::new();
    for value in &values {
        if let serde_json::Value::Object(map) = value {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let cell = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let rows = if columns.is_empty() {
        columns.push("value".to_owned());
        values.iter().map(|value| vec![cell(value)]).collect()
    } else {
        values
            .iter()
            .map(|value| {
                columns
                    .iter()
                    .map(|column| value.get(column).map(cell).unwrap_or_default())
                    .collect()
            })
            .collect()
    };
    draw("table", Node::Table { columns, rows });
}

/// A blue box with a message.
pub fn info(text: impl Into<String>) {
    draw("info", Node::Alert(AlertLevel::Info, text.into()));
}

/// A green box with a message.
pub fn success(text: impl Into<String>) {
    draw("success", Node::Alert(AlertLevel::Success, text.into()));
}

/// A yellow box with a message.
pub fn warning(text: impl Into<String>) {
    draw("warning", Node::Alert(AlertLevel::Warning, text.into()));
}

/// A red box with a message (for errors the page reports itself; a page
/// panic is shown as an exception element).
pub fn error(text: impl Into<String>) {
    draw("error", Node::Alert(AlertLevel::Error, text.into()));
}

/// A horizontal rule.
pub fn divider() {
    draw("divider", Node::Divider);
}
