//! pagestate's web host under load, and Streamlit on the same machine.
//!
//! ```text
//! cargo bench --bench web                 # the full run the README quotes
//! cargo bench --bench web -- --quick      # fewer rounds, 200 tabs instead of 1,000
//! cargo bench --bench web -- --no-peer    # without Streamlit
//! ```
//!
//! The server is this executable started again (with
//! `PAGESTATE_WEB_BENCH_SERVER` set), serving a page of 20 widgets on a free
//! loopback port, so that its resident memory is the server's alone; the
//! clients are tokio-tungstenite WebSockets speaking the host's protocol, as
//! the browser's client script does.
//!
//! Figures:
//! - W1, W2: rerun round trip, from sending a click on the socket to
//!   receiving the frame of the completed rerun (the page with the new
//!   count), p50 and p99, with one session and with 100 sessions clicking
//!   at once (each clicks again as soon as its rerun arrives).
//! - W3: memory per idle session: the server's resident memory growth over
//!   1,000 sessions that each ran the page once and stay connected, / 1,000.
//! - W4: those 1,000 tabs, held open, each clicked once at the same time:
//!   every one must receive its rerun with its own count, without error.
//!
//! The peer is Streamlit (found as a Python with `streamlit` importable:
//! `STREAMLIT_PYTHON`, else `python3`), serving the same page
//! (`benches/web/streamlit_page.py`), driven by a Python client speaking its
//! protobuf messages (`benches/web/streamlit_client.py`): the rerun round
//! trip with one session and with 100 sessions clicking at once (5 clicks
//! each rather than 50: each rerun costs Streamlit tens of milliseconds),
//! and memory per session over the same 1,000 sessions, on a fresh server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use pagestate::use_state;
use pagestate::web::{ui, App};
use pagestate_benches::measure::quantile;
use pagestate_benches::report::{format_time, Machine};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Set in the server process's environment.
const SERVER_ENV: &str = "PAGESTATE_WEB_BENCH_SERVER";
/// How long any one reply may take before the bench calls it an error.
const REPLY_DEADLINE: Duration = Duration::from_secs(60);

/// The measured page: 20 widgets (a button, 5 text inputs, 5 checkboxes,
/// 5 sliders, 4 number inputs) and the click count.
fn twenty_widgets() {
    let clicks = use_state!("clicks", factory = || 0_u64);
    if ui::Button::new("Click").key("click").show() {
        clicks.reduce(|n, by| n + by, 1).unwrap();
    }
    ui::text(format!("clicks: {}", clicks.get().unwrap_or(0)));
    for i in 0..5 {
        ui::TextInput::new(format!("Text {i}"))
            .key(format!("text{i}"))
            .show();
    }
    for i in 0..5 {
        ui::Checkbox::new(format!("Check {i}"))
            .key(format!("check{i}"))
            .show();
    }
    for i in 0..5 {
        ui::Slider::new(format!("Slider {i}"), 0_i64, 100)
            .default(50)
            .key(format!("slider{i}"))
            .show();
    }
    for i in 0..4_i64 {
        ui::NumberInput::new(format!("Number {i}"), i)
            .key(format!("number{i}"))
            .show();
    }
}

/// The server process: serves the page on a free port, says which on
/// stdout, and exits when its stdin closes (the bench ended or died).
fn serve() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let app = App::new(twenty_widgets)
            .max_sessions(100_000)
            .reconnect_grace(Duration::from_secs(600));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        println!("port {port}");
        std::io::stdout().flush().expect("stdout");
        std::thread::spawn(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            std::process::exit(0);
        });
        app.serve(listener).await.expect("serve");
    });
    ExitCode::SUCCESS
}

/// The server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(std::env::current_exe().expect("this executable"))
            .env(SERVER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the server's port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("server said {line:?}"));
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// What the bench reads of a server message. Borrowed and raw: the client
/// shares the two cores with the server, so it parses as little as it can
/// (the main area stays raw JSON text, searched for the click count).
#[derive(Deserialize)]
struct Reply<'a> {
    t: &'a str,
    #[serde(default)]
    runs_completed: u64,
    #[serde(default)]
    status: &'a str,
    /// `None` when the main area did not change since the last frame.
    #[serde(default, borrow)]
    main: Option<&'a RawValue>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One tab: a WebSocket session that has run the page once.
struct Tab {
    socket: Socket,
    completed: u64,
    clicks: u64,
}

impl Tab {
    async fn open(url: &str) -> Result<Tab, String> {
        // A browser-sized read buffer: tungstenite's default (128 KiB) is
        // zero-filled on every read, which would bill the client's memset
        // to every round trip.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false)
            .await
            .map_err(|error| format!("connect: {error}"))?;
        let mut tab = Tab {
            socket,
            completed: 0,
            clicks: 0,
        };
        tab.until_completed(1, "").await?;
        Ok(tab)
    }

    /// Reads until a frame of a completed run numbered `at_least` or more;
    /// returns whether the main area then shows `expected`. A frame leaves
    /// out an area that did not change since the previous one, so the main
    /// area shown may have come in a frame sent while the run was drawing.
    async fn until_completed(&mut self, at_least: u64, expected: &str) -> Result<bool, String> {
        let mut shown = false;
        loop {
            let message = tokio::time::timeout(REPLY_DEADLINE, self.socket.next())
                .await
                .map_err(|_| "no reply within the deadline".to_owned())?
                .ok_or("connection closed")?
                .map_err(|error| format!("socket: {error}"))?;
            let Message::Text(text) = message else {
                continue;
            };
            let reply: Reply =
                serde_json::from_str(text.as_str()).map_err(|error| format!("reply: {error}"))?;
            if let Some(main) = reply.main {
                shown = main.get().contains(expected);
            }
            match reply.t {
                "frame" if reply.status == "complete" && reply.runs_completed >= at_least => {
                    self.completed = reply.runs_completed;
                    return Ok(shown);
                }
                "busy" => return Err("server busy".to_owned()),
                _ => {}
            }
        }
    }

    /// Clicks the button and waits for the completed rerun; returns the
    /// round trip and checks the page shows the new count.
    async fn click(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        self.socket
            .send(Message::text(r#"{"t":"rerun","triggers":["key:click"]}"#))
            .await
            .map_err(|error| format!("send: {error}"))?;
        let expected = format!("clicks: {}", self.clicks + 1);
        let shown = self.until_completed(self.completed + 1, &expected).await?;
        let elapsed = started.elapsed();
        self.clicks += 1;
        if shown {
            Ok(elapsed)
        } else {
            Err(format!("the rerun does not show {expected:?}"))
        }
    }
}

/// Round trips of `sessions` tabs clicking `rounds` times each, all at once.
async fn round_trips(url: &str, sessions: usize, warmup: usize, rounds: usize) -> Vec<f64> {
    let mut tabs = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        tabs.push(Tab::open(url).await.expect("open a tab"));
    }
    let tasks: Vec<_> = tabs
        .into_iter()
        .map(|mut tab| {
            tokio::spawn(async move {
                for _ in 0..warmup {
                    tab.click().await.expect("warm-up click");
                }
                let mut times = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    times.push(tab.click().await.expect("click").as_nanos() as f64);
                }
                times
            })
        })
        .collect();
    let mut all = Vec::with_capacity(sessions * rounds);
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    all
}

/// One line of the final table.
struct Row {
    figure: String,
    pagestate: String,
    target: String,
    peer: String,
}

struct Plan {
    quick: bool,
    peer: bool,
}

fn main() -> ExitCode {
    if std::env::var_os(SERVER_ENV).is_some() {
        return serve();
    }
    let mut plan = Plan {
        quick: false,
        peer: true,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => plan.quick = true,
            "--no-peer" => plan.peer = false,
            "--bench" => {}
            other => {
                eprintln!("unknown argument `{other}`\nusage: cargo bench --bench web [-- [--quick] [--no-peer]]");
                return ExitCode::from(2);
            }
        }
    }
    let machine = Machine::detect();
    println!("pagestate web host benchmarks");
    println!("{machine}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rows = Vec::new();
    let peer = plan.peer.then(|| streamlit_peer(&plan)).flatten();
    runtime.block_on(measure(&plan, peer.as_ref(), &mut rows));

    println!(
        "\n| figure | pagestate | target | Streamlit {} (same machine) |",
        peer.as_ref().map_or("", |p| p.version.as_str())
    );
    println!("|---|---:|---|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} |",
            row.figure, row.pagestate, row.target, row.peer
        );
    }
    println!("\n{}", machine.finished());
    ExitCode::SUCCESS
}

async fn measure(plan: &Plan, peer: Option<&PeerResult>, rows: &mut Vec<Row>) {
    let (rounds_one, rounds_many, tabs) = if plan.quick {
        (300, 10, 200)
    } else {
        (3_000, 50, 1_000)
    };

    // W1, W2: round trips.
    let server = Server::start();
    let one = round_trips(&server.url(), 1, 100, rounds_one).await;
    let (p50, p99) = (quantile(&one, 0.5), quantile(&one, 0.99));
    println!(
        "W1 rerun round trip, 20 widgets, 1 session: p50 {}  p99 {}  ({} clicks)",
        format_time(p50),
        format_time(p99),
        one.len()
    );
    let peer_p50 = peer.map(|p| quantile(&p.round_trip_ns, 0.5));
    let peer_p99 = peer.map(|p| quantile(&p.round_trip_ns, 0.99));
    rows.push(Row {
        figure: "W1. rerun round trip, 20-widget page, 1 session, p50".into(),
        pagestate: format_time(p50),
        target: verdict(p50 <= 1e6, "≤ 1 ms"),
        peer: peer_cell(peer_p50, p50),
    });
    rows.push(Row {
        figure: "W1. rerun round trip, 20-widget page, 1 session, p99".into(),
        pagestate: format_time(p99),
        target: String::new(),
        peer: peer_cell(peer_p99, p99),
    });
    let many = round_trips(&server.url(), 100, 5, rounds_many).await;
    let (p50, p99) = (quantile(&many, 0.5), quantile(&many, 0.99));
    println!(
        "W2 rerun round trip, 20 widgets, 100 sessions at once: p50 {}  p99 {}  ({} clicks)",
        format_time(p50),
        format_time(p99),
        many.len()
    );
    let peer_p50 = peer.map(|p| quantile(&p.concurrent_round_trip_ns, 0.5));
    let peer_p99 = peer.map(|p| quantile(&p.concurrent_round_trip_ns, 0.99));
    rows.push(Row {
        figure: "W2. rerun round trip, 100 sessions clicking at once, p50".into(),
        pagestate: format_time(p50),
        target: String::new(),
        peer: peer_cell(peer_p50, p50),
    });
    rows.push(Row {
        figure: "W2. rerun round trip, 100 sessions clicking at once, p99".into(),
        pagestate: format_time(p99),
        target: verdict(p99 <= 20e6, "≤ 20 ms"),
        peer: peer_cell(peer_p99, p99),
    });
    drop(server);

    // W3, W4: a fresh server, so no session of the figures above counts.
    let server = Server::start();
    let url = server.url();
    let mut warm = Vec::new();
    for _ in 0..10 {
        warm.push(Tab::open(&url).await.expect("open a tab"));
    }
    settle().await;
    let before = server.rss_kib();
    // One tab after another, as tabs open in real life (opening them all
    // at once would also count the threads that run their first pages).
    let mut open = Vec::with_capacity(tabs);
    let mut open_errors = 0;
    for _ in 0..tabs {
        match Tab::open(&url).await {
            Ok(tab) => open.push(tab),
            Err(error) => {
                open_errors += 1;
                eprintln!("open failed: {error}");
            }
        }
    }
    settle().await;
    let after = server.rss_kib();
    let per_session = (after.saturating_sub(before)) as f64 / open.len().max(1) as f64;
    println!(
        "W3 memory per idle session: {per_session:.1} KiB (server RSS {before} KiB -> {after} KiB over {} sessions)",
        open.len()
    );
    let peer_memory = peer.map(|p| p.kib_per_session);
    rows.push(Row {
        figure: format!("W3. memory per idle session (RSS growth over {tabs} sessions / {tabs})"),
        pagestate: format!("{per_session:.1} KiB"),
        target: verdict(per_session <= 50.0, "≤ 50 KiB"),
        peer: match (peer_memory, peer) {
            (Some(kib), Some(p)) if kib > 0.0 => format!(
                "{kib:.0} KiB (over {} sessions; ratio {:.3})",
                p.sessions,
                per_session / kib
            ),
            _ => String::new(),
        },
    });

    let started = Instant::now();
    let clicking: Vec<_> = open
        .into_iter()
        .map(|mut tab| tokio::spawn(async move { tab.click().await.map(|_| tab) }))
        .collect();
    let mut clicked = 0;
    let mut click_errors = 0;
    let mut held = Vec::with_capacity(tabs);
    for task in clicking {
        match task.await.expect("client task") {
            Ok(tab) => {
                clicked += 1;
                held.push(tab);
            }
            Err(error) => {
                click_errors += 1;
                eprintln!("click failed: {error}");
            }
        }
    }
    let took = started.elapsed();
    let errors = open_errors + click_errors;
    println!(
        "W4 {tabs} tabs held open, each clicked once at the same time: {clicked} reruns received, {errors} errors, in {}",
        format_time(took.as_nanos() as f64)
    );
    rows.push(Row {
        figure: format!("W4. {tabs} tabs held open, each clicked once at once"),
        pagestate: format!(
            "{clicked}/{tabs} reruns, {errors} errors, {}",
            format_time(took.as_nanos() as f64)
        ),
        target: verdict(errors == 0 && clicked == tabs, "no error"),
        peer: String::new(),
    });
    drop(held);
    drop(warm);
}

/// Lets the server finish its work (and the allocator settle) before
/// reading its memory.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn verdict(met: bool, target: &str) -> String {
    format!("{target}: {}", if met { "met" } else { "missed" })
}

fn peer_cell(peer: Option<f64>, ours: f64) -> String {
    match peer {
        Some(peer) => format!("{} (ratio {:.3})", format_time(peer), ours / peer),
        None => String::new(),
    }
}

/// What the Streamlit run measured.
struct PeerResult {
    version: String,
    round_trip_ns: Vec<f64>,
    concurrent_round_trip_ns: Vec<f64>,
    kib_per_session: f64,
    sessions: u64,
}

#[derive(Deserialize)]
struct PeerReport {
    round_trip_ns: Vec<f64>,
    concurrent_round_trip_ns: Vec<f64>,
    rss_before_kib: u64,
    rss_after_kib: u64,
    sessions: u64,
}

/// Runs Streamlit on the same page and measures it with its own protocol;
/// `None` (said on stderr) when no Python with Streamlit is found.
fn streamlit_peer(plan: &Plan) -> Option<PeerResult> {
    let python = std::env::var("STREAMLIT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let version = Command::new(&python)
        .args(["-c", "import streamlit; print(streamlit.__version__)"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    let Some(version) = version else {
        eprintln!("Streamlit peer skipped: `{python}` cannot import streamlit (pip install streamlit, or set STREAMLIT_PYTHON)");
        return None;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let port = free_port();
    let mut server = PeerServer(
        Command::new(&python)
            .args(["-m", "streamlit", "run"])
            .arg(dir.join("streamlit_page.py"))
            .args([
                "--server.headless=true",
                "--server.address=127.0.0.1",
                &format!("--server.port={port}"),
                "--browser.gatherUsageStats=false",
                "--server.fileWatcherType=none",
                "--logger.level=error",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?,
    );
    let started = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if started.elapsed() > Duration::from_secs(60)
            || server.0.try_wait().ok().flatten().is_some()
        {
            eprintln!("Streamlit peer skipped: the server did not start");
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (rounds, sessions, concurrent_rounds) = if plan.quick {
        (100, 50, 2)
    } else {
        (500, 1_000, 5)
    };
    println!(
        "Streamlit {version}: {rounds} clicks, 100 sessions x {concurrent_rounds} clicks at once, \
         then {sessions} sessions (Python client)"
    );
    let out = Command::new(&python)
        .arg(dir.join("streamlit_client.py"))
        .args([
            port.to_string(),
            server.0.id().to_string(),
            rounds.to_string(),
            sessions.to_string(),
            "100".to_owned(),
            concurrent_rounds.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    let report: PeerReport = match serde_json::from_slice(&out.stdout) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("Streamlit peer skipped: its client failed ({error})");
            return None;
        }
    };
    server.stop();
    let kib_per_session =
        report.rss_after_kib.saturating_sub(report.rss_before_kib) as f64 / report.sessions as f64;
    println!(
        "Streamlit: round trip p50 {}  p99 {}; with 100 sessions p50 {}  p99 {}; \
         memory per session {kib_per_session:.0} KiB (RSS {} -> {} KiB)",
        format_time(quantile(&report.round_trip_ns, 0.5)),
        format_time(quantile(&report.round_trip_ns, 0.99)),
        format_time(quantile(&report.concurrent_round_trip_ns, 0.5)),
        format_time(quantile(&report.concurrent_round_trip_ns, 0.99)),
        report.rss_before_kib,
        report.rss_after_kib
    );
    Some(PeerResult {
        version,
        round_trip_ns: report.round_trip_ns,
        concurrent_round_trip_ns: report.concurrent_round_trip_ns,
        kib_per_session,
        sessions: report.sessions,
    })
}

/// The Streamlit server, stopped when dropped.
struct PeerServer(Child);

impl PeerServer {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
