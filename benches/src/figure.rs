//! A figure of the table: its contenders, measured together, and the rows
//! that compare them.

use crate::measure::{interleave, Contender, Plan};
use crate::report::{print_measured, Report, Shown};

/// Refers to a contender added to a [`Figure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry(usize);

enum Compared {
    Contender(Entry),
    Bound { ns: f64, name: String },
}

struct PlannedRow {
    label: String,
    pagestate: Entry,
    peer: Compared,
    target: Option<f64>,
}

/// One figure: every contender added is measured in the same interleaved
/// run, then each row compares a pagestate contender with a peer.
///
/// ```ignore
/// let mut figure = Figure::new("1. cached hit, u64 key, one thread", Shown::Time);
/// let ours = figure.add(Contender::looped("pagestate", |i| ...));
/// let theirs = figure.add(Contender::looped("cached", |i| ...));
/// figure.row(ours, theirs, Some(1.0));
/// figure.run(plan, &mut report);
/// ```
pub struct Figure<'a> {
    label: String,
    shown: Shown,
    max_samples: Option<usize>,
    contenders: Vec<Contender<'a>>,
    rows: Vec<PlannedRow>,
}

impl<'a> Figure<'a> {
    /// A figure whose rows are labelled `label` and whose values read as
    /// `shown`.
    pub fn new(label: impl Into<String>, shown: Shown) -> Self {
        Figure {
            label: label.into(),
            shown,
            max_samples: None,
            contenders: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Measures at most `samples` samples per contender, whatever the plan
    /// says: for operations that take tens of milliseconds.
    pub fn max_samples(mut self, samples: usize) -> Self {
        self.max_samples = Some(samples);
        self
    }

    /// Adds a contender to measure.
    pub fn add(&mut self, contender: Contender<'a>) -> Entry {
        self.contenders.push(contender);
        Entry(self.contenders.len() - 1)
    }

    /// Adds a row comparing `pagestate` with `peer` under the figure's label;
    /// `target` is the largest acceptable ratio, `None` for a context row.
    pub fn row(&mut self, pagestate: Entry, peer: Entry, target: Option<f64>) {
        let label = self.label.clone();
        self.row_as(label, pagestate, peer, target);
    }

    /// [`row`](Self::row) with its own label, for a figure whose rows differ
    /// in more than the peer.
    pub fn row_as(
        &mut self,
        label: impl Into<String>,
        pagestate: Entry,
        peer: Entry,
        target: Option<f64>,
    ) {
        self.rows.push(PlannedRow {
            label: label.into(),
            pagestate,
            peer: Compared::Contender(peer),
            target,
        });
    }

    /// Adds a row comparing `pagestate` with a fixed bound, `ns`
    /// nanoseconds, that no implementation can beat.
    pub fn row_bound(
        &mut self,
        pagestate: Entry,
        ns: f64,
        name: impl Into<String>,
        target: Option<f64>,
    ) {
        let label = self.label.clone();
        self.rows.push(PlannedRow {
            label,
            pagestate,
            peer: Compared::Bound {
                ns,
                name: name.into(),
            },
            target,
        });
    }

    /// Measures all contenders, prints their samples, and adds the rows to
    /// `report`.
    pub fn run(self, plan: Plan, report: &mut Report) {
        println!("\n{}", self.label);
        let plan = match self.max_samples {
            Some(samples) => plan.at_most(samples),
            None => plan,
        };
        let measured = interleave(plan, self.contenders);
        for contender in &measured {
            print_measured(self.shown, contender);
        }
        for row in self.rows {
            let pagestate = &measured[row.pagestate.0];
            match row.peer {
                Compared::Contender(peer) => report.compare(
                    &row.label,
                    self.shown,
                    pagestate,
                    &measured[peer.0],
                    row.target,
                ),
                Compared::Bound { ns, name } => {
                    report.compare_with_bound(&row.label, pagestate, ns, &name, row.target)
                }
            }
        }
    }
}
