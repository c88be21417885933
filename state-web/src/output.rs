//! What a page run draws: a tree of elements per area (main, sidebar), the
//! run's status, and the composite a tab shows while a run is under way.

/// The two areas a page draws into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    /// The main column.
    Main,
    /// The sidebar on the left.
    Sidebar,
}

/// Level of an alert box (`ui::info`, `ui::success`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AlertLevel {
    Info,
    Success,
    Warning,
    Error,
}

impl AlertLevel {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            AlertLevel::Info => "info",
            AlertLevel::Success => "success",
            AlertLevel::Warning => "warning",
            AlertLevel::Error => "error",
        }
    }
}

/// One drawn thing. Containers hold their children; a removed spinner
/// becomes `Empty` so that the positions of later nodes never shift.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Empty,
    Title(String),
    Header(String),
    Text(String),
    /// Source text and the HTML rendered from it (raw HTML already escaped).
    Markdown {
        source: String,
        html: String,
    },
    Code {
        code: String,
        language: String,
    },
    Json(String),
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Alert(AlertLevel, String),
    Divider,
    Progress {
        value: f64,
        text: String,
    },
    Spinner(String),
    /// A line chart: its series names (for tests) and the SVG drawn by plotters.
    Chart {
        series: Vec<String>,
        svg: String,
    },
    /// A page panic, a duplicate widget, a value of the wrong type.
    Exception {
        message: String,
        location: Option<String>,
    },
    Columns(Vec<Vec<Node>>),
    Expander {
        label: String,
        expanded: bool,
        children: Vec<Node>,
    },
    Form {
        id: String,
        children: Vec<Node>,
    },
    Widget(WidgetView),
}

impl Node {
    /// The child list `slot` of a container node.
    fn children_mut(&mut self, slot: usize) -> Option<&mut Vec<Node>> {
        match self {
            Node::Columns(columns) => columns.get_mut(slot),
            Node::Expander { children, .. } | Node::Form { children, .. } if slot == 0 => {
                Some(children)
            }
            _ => None,
        }
    }

    /// The kind name used in `data-testid` and by the test harness.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Node::Empty => "empty",
            Node::Title(_) => "title",
            Node::Header(_) => "header",
            Node::Text(_) => "text",
            Node::Markdown { .. } => "markdown",
            Node::Code { .. } => "code",
            Node::Json(_) => "json",
            Node::Table { .. } => "table",
            Node::Alert(level, _) => level.kind(),
            Node::Divider => "divider",
            Node::Progress { .. } => "progress",
            Node::Spinner(_) => "spinner",
            Node::Chart { .. } => "line_chart",
            Node::Exception { .. } => "exception",
            Node::Columns(_) => "columns",
            Node::Expander { .. } => "expander",
            Node::Form { .. } => "form",
            Node::Widget(widget) => widget.input.kind(),
        }
    }
}

/// A widget as drawn: identity, label and current value.
#[derive(Clone, Debug)]
pub(crate) struct WidgetView {
    pub(crate) id: String,
    pub(crate) key: Option<String>,
    pub(crate) label: String,
    pub(crate) help: Option<String>,
    pub(crate) form: Option<String>,
    pub(crate) disabled: bool,
    pub(crate) input: InputView,
}

/// The control of a widget and the value it shows.
#[derive(Clone, Debug)]
pub(crate) enum InputView {
    Button,
    FormSubmit,
    Checkbox(bool),
    TextInput {
        value: String,
        placeholder: String,
        max_chars: Option<usize>,
    },
    TextArea {
        value: String,
        placeholder: String,
    },
    Number {
        value: String,
        min: Option<String>,
        max: Option<String>,
        step: String,
        integer: bool,
    },
    Slider {
        value: String,
        min: String,
        max: String,
        step: String,
        integer: bool,
    },
    Selectbox {
        options: Vec<String>,
        selected: usize,
    },
    Multiselect {
        options: Vec<String>,
        selected: Vec<usize>,
    },
}

impl InputView {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            InputView::Button => "button",
            InputView::FormSubmit => "form_submit_button",
            InputView::Checkbox(_) => "checkbox",
            InputView::TextInput { .. } => "text_input",
            InputView::TextArea { .. } => "text_area",
            InputView::Number { .. } => "number_input",
            InputView::Slider { .. } => "slider",
            InputView::Selectbox { .. } => "selectbox",
            InputView::Multiselect { .. } => "multiselect",
        }
    }
}

/// Where a node sits: its area and, for each enclosing container, the
/// container's index in its parent list and the child list (column) inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) area: Area,
    pub(crate) containers: Vec<(usize, usize)>,
}

impl Cursor {
    pub(crate) fn main() -> Self {
        Cursor {
            area: Area::Main,
            containers: Vec::new(),
        }
    }
}

/// Everything one run drew.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    pub(crate) main: Vec<Node>,
    pub(crate) sidebar: Vec<Node>,
}

impl Tree {
    pub(crate) fn area(&self, area: Area) -> &Vec<Node> {
        match area {
            Area::Main => &self.main,
            Area::Sidebar => &self.sidebar,
        }
    }

    fn area_mut(&mut self, area: Area) -> &mut Vec<Node> {
        match area {
            Area::Main => &mut self.main,
            Area::Sidebar => &mut self.sidebar,
        }
    }

    /// The list a cursor points into. A cursor always comes from a push
    /// into this same tree, so the path exists.
    fn list_mut(&mut self, cursor: &Cursor) -> &mut Vec<Node> {
        let mut list = self.area_mut(cursor.area);
        for &(index, slot) in &cursor.containers {
            list = list[index]
                .children_mut(slot)
                .expect("cursor points at a container");
        }
        list
    }

    /// Appends `node` at `cursor` and returns its index there.
    pub(crate) fn push(&mut self, cursor: &Cursor, node: Node) -> usize {
        let list = self.list_mut(cursor);
        list.push(node);
        list.len() - 1
    }

    /// Replaces the node at `index` under `cursor`.
    pub(crate) fn replace(&mut self, cursor: &Cursor, index: usize, node: Node) {
        if let Some(slot) = self.list_mut(cursor).get_mut(index) {
            *slot = node;
        }
    }
}

/// How the latest run of a session went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// No run has started yet.
    Idle,
    /// A run is drawing.
    Running,
    /// The latest run ended (normally, or with a page panic shown as an
    /// exception element).
    Complete,
    /// The latest run was interrupted by newer input; a rerun follows.
    Interrupted,
}

impl RunStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Idle => "idle",
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// A node of the composite view, and whether it is left over from an
/// earlier run (shown greyed until the current run completes).
pub(crate) struct Shown<'a> {
    pub(crate) node: &'a Node,
    pub(crate) stale: bool,
}

/// A session's drawing: the run being drawn and what was shown before it.
#[derive(Debug)]
pub(crate) struct Output {
    /// Number of the latest run (1 for the first).
    pub(crate) run: u64,
    /// How many runs completed.
    pub(crate) completed: u64,
    /// Bumped by every change of the drawing.
    pub(crate) version: u64,
    pub(crate) status: RunStatus,
    /// What the running run drew so far (empty once it completed).
    pub(crate) current: Tree,
    /// What the tab showed when the latest run started; once a run
    /// completes, what it drew.
    pub(crate) base: Tree,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            run: 0,
            completed: 0,
            version: 0,
            status: RunStatus::Idle,
            current: Tree::default(),
            base: Tree::default(),
        }
    }
}

impl Output {
    pub(crate) fn begin_run(&mut self) {
        self.run += 1;
        self.version += 1;
        self.status = RunStatus::Running;
        self.current = Tree::default();
    }

    /// The run completed: its drawing is the whole page now.
    pub(crate) fn complete(&mut self) {
        self.status = RunStatus::Complete;
        self.version += 1;
        self.completed += 1;
        self.base = std::mem::take(&mut self.current);
    }

    /// The run was cut off: what it drew stays, with the rest of what was
    /// shown before it, until a later run completes.
    pub(crate) fn interrupt(&mut self) {
        self.status = RunStatus::Interrupted;
        self.version += 1;
        let mut base = Tree::default();
        for area in [Area::Main, Area::Sidebar] {
            // Nodes are cloned: an interruption is rare, a completion is not.
            let merged: Vec<Node> = self
                .shown(area)
                .into_iter()
                .map(|shown| shown.node.clone())
                .collect();
            *base.area_mut(area) = merged;
        }
        self.base = base;
        self.current = Tree::default();
    }

    /// What the tab shows in `area`: the current run's nodes, then (unless
    /// it completed) the nodes of the earlier view past them, marked stale.
    pub(crate) fn shown(&self, area: Area) -> Vec<Shown<'_>> {
        if self.status == RunStatus::Complete {
            return self
                .base
                .area(area)
                .iter()
                .map(|node| Shown { node, stale: false })
                .collect();
        }
        let current = self.current.area(area);
        let mut shown: Vec<Shown<'_>> = current
            .iter()
            .map(|node| Shown { node, stale: false })
            .collect();
        let base = self.base.area(area);
        shown.extend(
            base.iter()
                .skip(current.len())
                .map(|node| Shown { node, stale: true }),
        );
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(output: &Output, area: Area) -> Vec<(String, bool)> {
        output
            .shown(area)
            .into_iter()
            .map(|shown| match shown.node {
                Node::Text(text) => (text.clone(), shown.stale),
                other => (other.kind().to_owned(), shown.stale),
            })
            .collect()
    }

    fn run(output: &mut Output, lines: &[&str]) {
        output.begin_run();
        for line in lines {
            output
                .current
                .push(&Cursor::main(), Node::Text((*line).into()));
        }
    }

    #[test]
    fn a_running_page_shows_the_rest_of_the_last_page_as_stale() {
        let mut output = Output::default();
        run(&mut output, &["a", "b", "c"]);
        output.complete();
        run(&mut output, &["x"]);
        assert_eq!(output.status, RunStatus::Running);
        assert_eq!(
            texts(&output, Area::Main),
            [("x".into(), false), ("b".into(), true), ("c".into(), true)]
        );
        output.current.push(&Cursor::main(), Node::Text("y".into()));
        output.complete();
        assert_eq!(
            texts(&output, Area::Main),
            [("x".into(), false), ("y".into(), false)],
            "a completed run shows only itself"
        );
        assert_eq!(output.completed, 2);
    }

    #[test]
    fn an_interrupted_runs_elements_stay_until_a_run_completes() {
        let mut output = Output::default();
        run(&mut output, &["a", "b", "c"]);
        output.complete();
        run(&mut output, &["x"]);
        output.interrupt();
        // The next run starts empty: the tab still shows what it showed.
        run(&mut output, &[]);
        assert_eq!(
            texts(&output, Area::Main),
            [("x".into(), true), ("b".into(), true), ("c".into(), true)]
        );
        run(&mut output, &["z"]);
        output.complete();
        assert_eq!(texts(&output, Area::Main), [("z".into(), false)]);
    }

    #[test]
    fn nodes_go_into_containers_by_cursor() {
        let mut tree = Tree::default();
        let main = Cursor::main();
        let at = tree.push(&main, Node::Columns(vec![Vec::new(), Vec::new()]));
        let second = Cursor {
            area: Area::Main,
            containers: vec![(at, 1)],
        };
        tree.push(&second, Node::Text("right".into()));
        let index = tree.push(&second, Node::Text("later".into()));
        tree.replace(&second, index, Node::Divider);
        let Node::Columns(columns) = &tree.main[0] else {
            panic!("columns expected")
        };
        assert!(columns[0].is_empty());
        assert_eq!(columns[1].len(), 2);
        assert!(matches!(columns[1][1], Node::Divider));
        let sidebar = Cursor {
            area: Area::Sidebar,
            containers: Vec::new(),
        };
        tree.push(&sidebar, Node::Title("side".into()));
        assert_eq!(tree.sidebar.len(), 1);
    }
}
