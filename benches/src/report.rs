//! The report: one line per contender as figures finish, then the markdown
//! table the README quotes, then the machine it ran on.

use std::fmt;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::measure::Measured;

/// How a figure's values read in the table. Ratios are always ratios of
/// times (pagestate / peer), so lower is better in every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Time per operation: `41.2 ns`, `1.31 ms`.
    Time,
    /// Operations per second across all threads: `24.3 M/s`.
    Throughput,
}

impl Shown {
    fn format(self, ns_per_op: f64) -> String {
        match self {
            Shown::Time => format_time(ns_per_op),
            Shown::Throughput => format_rate(1e9 / ns_per_op),
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// The figure's number and what it measures.
    pub figure: String,
    /// pagestate's value, formatted.
    pub pagestate: String,
    /// The peer's value, formatted.
    pub peer: String,
    /// Who the peer is.
    pub peer_name: String,
    /// pagestate's time divided by the peer's.
    pub ratio: f64,
    /// The largest ratio the issue accepts, when the row has a target; rows
    /// without one are there for context.
    pub target: Option<f64>,
}

impl Row {
    /// Whether the row meets its target; `None` for a context row.
    pub fn met(&self) -> Option<bool> {
        self.target.map(|target| self.ratio <= target)
    }

    fn ratio_cell(&self) -> String {
        match (self.target, self.met()) {
            (Some(target), Some(met)) => format!(
                "{:.2} (target ≤ {target:.2}: {})",
                self.ratio,
                if met { "met" } else { "missed" }
            ),
            _ => format!("{:.2}", self.ratio),
        }
    }
}

/// Collects the rows of a run and prints them.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Report::default()
    }

    /// Adds a row comparing `pagestate` with `peer` (medians of both), and
    /// prints both contenders' samples right away.
    pub fn compare(
        &mut self,
        figure: &str,
        shown: Shown,
        pagestate: &Measured,
        peer: &Measured,
        target: Option<f64>,
    ) {
        self.push(Row {
            figure: figure.to_owned(),
            pagestate: shown.format(pagestate.median()),
            peer: shown.format(peer.median()),
            peer_name: peer.name.clone(),
            ratio: pagestate.median() / peer.median(),
            target,
        });
    }

    /// Adds a row whose peer is a fixed bound rather than a measured
    /// contender (figure 9 compares with the 50 ms a sleep physically takes).
    pub fn compare_with_bound(
        &mut self,
        figure: &str,
        pagestate: &Measured,
        bound_ns: f64,
        bound_name: &str,
        target: Option<f64>,
    ) {
        self.push(Row {
            figure: figure.to_owned(),
            pagestate: format_time(pagestate.median()),
            peer: format_time(bound_ns),
            peer_name: bound_name.to_owned(),
            ratio: pagestate.median() / bound_ns,
            target,
        });
    }

    fn push(&mut self, row: Row) {
        println!(
            "    -> {}: pagestate {} vs {} {} = {}",
            row.figure,
            row.pagestate,
            row.peer_name,
            row.peer,
            row.ratio_cell()
        );
        self.rows.push(row);
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The markdown table, one row per figure and peer.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| figure | pagestate | peer | peer name | ratio |\n|---|---:|---:|---|---|\n",
        );
        for row in &self.rows {
            out += &format!(
                "| {} | {} | {} | {} | {} |\n",
                row.figure,
                row.pagestate,
                row.peer,
                row.peer_name,
                row.ratio_cell()
            );
        }
        out
    }
}

/// Prints one contender's samples: median, quartiles and batch size.
pub fn print_measured(shown: Shown, measured: &Measured) {
    let (q1, q3) = measured.quartiles();
    // Slower batches mean lower throughput: list the quartiles low to high.
    let (low, high) = match shown {
        Shown::Time => (q1, q3),
        Shown::Throughput => (q3, q1),
    };
    println!(
        "    {:<56} median {:>10}   quartiles {} .. {}   ({} samples of {} ops)",
        measured.name,
        shown.format(measured.median()),
        shown.format(low),
        shown.format(high),
        measured.ns_per_op.len(),
        measured.iters
    );
}

/// `41.2 ns`, `3.07 µs`, `52.4 ms`, `1.20 s`.
pub fn format_time(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", three_digits(value))
}

/// `812 k/s`, `24.3 M/s`.
pub fn format_rate(per_second: f64) -> String {
    let (value, unit) = if per_second < 1e3 {
        (per_second, "/s")
    } else if per_second < 1e6 {
        (per_second / 1e3, "k/s")
    } else {
        (per_second / 1e6, "M/s")
    };
    format!("{} {unit}", three_digits(value))
}

fn three_digits(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// What the numbers were measured on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Logical CPUs the process may use.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// `rustc -V` of the toolchain on the `PATH` when the run started (the
    /// one `cargo bench` just built the benchmark with).
    pub rustc: String,
    /// The 1-minute load average when the run started, from /proc/loadavg.
    pub load: Option<f64>,
    /// The same when the run ended; see [`Machine::finished`].
    pub load_at_end: Option<f64>,
    /// The day of the run, UTC, as `YYYY-MM-DD`.
    pub date: String,
}

impl Machine {
    /// Reads the machine's description.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let days = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() / 86_400);
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
            rustc: rustc_version(),
            load: load_average(),
            load_at_end: None,
            date: civil_date(days as i64),
        }
    }
}

impl Machine {
    /// Notes the load average at the end of the run: a load that rose
    /// during the run (another build started) makes its numbers noisier.
    pub fn finished(mut self) -> Self {
        self.load_at_end = load_average();
        self
    }
}

/// The 1-minute load average, from /proc/loadavg.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Machine: {} cores, {}, {}, {}",
            self.cores, self.cpu, self.rustc, self.date
        )?;
        if let Some(load) = self.load {
            write!(f, ", load average {load:.2} at start")?;
        }
        if let Some(load) = self.load_at_end {
            write!(f, ", {load:.2} at end")?;
        }
        Ok(())
    }
}

fn rustc_version() -> String {
    Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| "rustc version unknown".to_owned())
}

/// `YYYY-MM-DD` for a count of days since 1970-01-01 (Howard Hinnant's
/// days-to-civil algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
