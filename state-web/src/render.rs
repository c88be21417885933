//! HTML: the page shell, the drawing of a run, the busy page (maud, which
//! escapes every interpolated value).
//!
//! DOM conventions the client script and browser tests rely on: every
//! element is a `div.ps-el` with `data-testid` = its kind; every widget also
//! carries `data-widget-id`, its `data-label`, `data-key` when keyed and
//! `data-form` inside a form; elements left over from an earlier run carry
//! `data-stale`.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::output::{Area, InputView, Node, Output, WidgetView};

const STYLE: &str = include_str!("../assets/style.css");
const IDIOMORPH: &str = include_str!("../assets/idiomorph.min.js");
const CLIENT: &str = include_str!("../assets/client.js");

/// The page a tab loads: empty areas, filled over the WebSocket at `ws_path`.
pub(crate) fn shell(title: &str, ws_path: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body data-testid="app" data-status="connecting" data-run="0" data-runs-completed="0" data-ws=(ws_path) {
                div.ps-layout {
                    aside #ps-sidebar data-testid="sidebar" {}
                    main #ps-main data-testid="main" {}
                }
                div #ps-status data-testid="status" {}
                script { (PreEscaped(IDIOMORPH)) }
                script { (PreEscaped(CLIENT)) }
            }
        }
    }
    .into_string()
}

/// The "server busy" message shown instead of the app past the session cap.
pub(crate) fn busy(max_sessions: usize) -> String {
    html! {
        div.ps-busy data-testid="busy" {
            h1 { "Server busy" }
            p { "This app already serves its limit of " (max_sessions) " open sessions. Close another tab of it, or try again in a moment: this page retries by itself." }
        }
    }
    .into_string()
}

/// The inner HTML of one area, as the tab should show it now.
pub(crate) fn area(output: &Output, area: Area) -> String {
    html! {
        @for shown in output.shown(area) {
            (node(shown.node, shown.stale))
        }
    }
    .into_string()
}

fn node(node: &Node, stale: bool) -> Markup {
    if matches!(node, Node::Empty) {
        return html! {};
    }
    let kind = node.kind();
    let widget = match node {
        Node::Widget(widget) => Some(widget),
        _ => None,
    };
    html! {
        div class={ "ps-el ps-" (kind) } data-testid=(kind) data-stale[stale]
            id=[widget.map(|w| format!("ps-{}", w.id))]
            data-widget-id=[widget.map(|w| &w.id)]
            data-label=[widget.map(|w| &w.label)]
            data-key=[widget.and_then(|w| w.key.as_ref())]
            data-form=[widget.and_then(|w| w.form.as_ref())] {
            (content(node))
        }
    }
}

fn children(nodes: &[Node]) -> Markup {
    html! { @for child in nodes { (node(child, false)) } }
}

fn content(node: &Node) -> Markup {
    match node {
        Node::Empty => html! {},
        Node::Title(text) => html! { h1 { (text) } },
        Node::Header(text) => html! { h2 { (text) } },
        Node::Text(text) => html! { p.ps-pre { (text) } },
        // Built by pulldown-cmark from escaped text: raw HTML became text.
        Node::Markdown { html, .. } => html! { (PreEscaped(html)) },
        Node::Code { code, language } => html! {
            pre { code data-language=(language) { (code) } }
        },
        Node::Json(json) => html! { pre.ps-json { (json) } },
        Node::Table { columns, rows } => html! {
            table {
                thead { tr { @for column in columns { th { (column) } } } }
                tbody { @for row in rows { tr { @for cell in row { td { (cell) } } } } }
            }
        },
        Node::Alert(_, text) => html! { div.ps-alert { (text) } },
        Node::Divider => html! { hr; },
        Node::Progress { value, text } => html! {
            @let percent = (value * 100.0).round();
            div.ps-progress-text { (text) }
            div.ps-bar role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(percent) {
                div.ps-bar-fill style={ "width:" (percent) "%" } {}
            }
        },
        Node::Spinner(text) => html! { span.ps-spin {} span { (text) } },
        // plotters escapes the text it writes into the SVG.
        Node::Chart { svg, .. } => html! { (PreEscaped(svg)) },
        Node::Exception { message, location } => html! {
            div.ps-exception-title { "Error in page code" }
            pre { (message) }
            @if let Some(location) = location { div.ps-location { "at " (location) } }
        },
        Node::Columns(columns) => html! {
            div.ps-row {
                @for column in columns { div.ps-column data-testid="column" { (children(column)) } }
            }
        },
        Node::Expander {
            label,
            expanded,
            children: nodes,
        } => html! {
            details open[*expanded] {
                summary { (label) }
                div.ps-expander-body { (children(nodes)) }
            }
        },
        Node::Form {
            id,
            children: nodes,
        } => html! {
            div.ps-form-body data-form-id=(id) { (children(nodes)) }
        },
        Node::Widget(widget) => widget_html(widget),
    }
}

fn label(widget: &WidgetView) -> Markup {
    html! {
        span.ps-label {
            (widget.label)
            @if let Some(help) = &widget.help { " " span.ps-help title=(help) { "?" } }
        }
    }
}

fn widget_html(widget: &WidgetView) -> Markup {
    let disabled = widget.disabled;
    match &widget.input {
        InputView::Button => html! {
            button.ps-btn type="button" data-action="click" disabled[disabled] { (widget.label) }
        },
        InputView::FormSubmit => html! {
            button.ps-btn.ps-submit type="button" data-action="submit" disabled[disabled] { (widget.label) }
        },
        InputView::Checkbox(checked) => html! {
            label.ps-check {
                input.ps-input type="checkbox" checked[*checked] disabled[disabled];
                (label(widget))
            }
        },
        InputView::TextInput {
            value,
            placeholder,
            max_chars,
        } => html! {
            label {
                (label(widget))
                input.ps-input type="text" value=(value) placeholder=(placeholder)
                    maxlength=[max_chars] disabled[disabled] autocomplete="off";
            }
        },
        InputView::TextArea { value, placeholder } => html! {
            label {
                (label(widget))
                textarea.ps-input placeholder=(placeholder) disabled[disabled] rows="4" { (value) }
            }
        },
        InputView::Number {
            value,
            min,
            max,
            step,
            integer,
        } => html! {
            label {
                (label(widget))
                input.ps-input type="number" value=(value) min=[min] max=[max] step=(step)
                    data-integer[*integer] disabled[disabled];
            }
        },
        InputView::Slider {
            value,
            min,
            max,
            step,
            integer,
        } => html! {
            label {
                (label(widget))
                span.ps-slider {
                    input.ps-input type="range" value=(value) min=(min) max=(max) step=(step)
                        data-integer[*integer] disabled[disabled];
                    output.ps-slider-value { (value) }
                }
            }
        },
        InputView::Selectbox { options, selected } => html! {
            label {
                (label(widget))
                select.ps-input disabled[disabled] {
                    @for (index, option) in options.iter().enumerate() {
                        option value=(index) selected[index == *selected] { (option) }
                    }
                }
            }
        },
        InputView::Multiselect { options, selected } => html! {
            label {
                (label(widget))
                select.ps-input multiple size=(options.len().clamp(2, 8)) disabled[disabled] {
                    @for (index, option) in options.iter().enumerate() {
                        option value=(index) selected[selected.contains(&index)] { (option) }
                    }
                }
            }
        },
    }
}
