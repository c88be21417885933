//! A real app process restarted under a tab: the app (this test binary,
//! re-run as a child that calls `App::run`) is stopped with SIGTERM (its
//! shutdown stores every session) or SIGKILL (after the write-behind lag),
//! started again on the same port, and the tab's session comes back.
#![cfg(unix)]

#[path = "support/ws_tab.rs"]
mod ws_tab;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pagestate::use_state;
use pagestate::web::store::{DiskStore, SessionStore};
use pagestate::web::{ui, App, WIDGETS};
use serde_json::json;
use ws_tab::{connect, send, shows, Socket};

const CHILD_ENV: &str = "PAGESTATE_TEST_DURABLE_CHILD";
const PATIENCE: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(3600);

fn page() {
    let count = use_state!("count", factory = || 0_u32, durable);
    if ui::Button::new("Add").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    let name = ui::TextInput::new("Name").key("name").show();
    ui::text(format!("count={} name={name}", count.get().unwrap()));
}

/// The app, when this binary runs as the child of a test below.
#[test]
#[ignore = "runs only as the app process of the restart tests"]
fn durable_app_child() {
    let Ok(config) = std::env::var(CHILD_ENV) else {
        return;
    };
    let [address, dir, lag_ms]: [&str; 3] = config
        .splitn(3, '|')
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    let address: SocketAddr = address.parse().unwrap();
    App::new(page)
        .address(address)
        .session_store(DiskStore::open(dir, IDLE).unwrap())
        .write_behind(Duration::from_millis(lag_ms.parse().unwrap()))
        .run()
        .unwrap();
}

/// The app process, serving once it printed its URL.
struct AppProcess(Child);

impl AppProcess {
    fn start(address: SocketAddr, dir: &Path, lag: Duration) -> AppProcess {
        let config = format!("{address}|{}|{}", dir.display(), lag.as_millis());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "durable_app_child", "--nocapture"])
            .env(CHILD_ENV, config)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("the app prints its URL").unwrap();
            if line.contains("pagestate: serving on") {
                break;
            }
        }
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        AppProcess(child)
    }

    fn signal(&mut self, signal: libc::c_int) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.0.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid, which we have not waited for.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        self.0.wait().unwrap()
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
}

async fn use_the_page(tab: &mut Socket) {
    shows(tab, "count=0").await;
    for n in 1..=3 {
        send(tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
        shows(tab, &format!("count={n} ")).await;
    }
    send(tab, json!({"t": "rerun", "values": {"key:name": "Ada"}})).await;
    shows(tab, "count=3 name=Ada").await;
}

/// Connects with `id` until the restarted app answers.
async fn reconnect(address: SocketAddr, id: &str) -> Socket {
    let (socket, adopted) = connect(address, Some(id)).await;
    assert_eq!(adopted, id, "the tab keeps its session");
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stores_sessions_and_the_restarted_app_adopts_them() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    // A lag of an hour: only the SIGTERM shutdown stores the session.
    let mut app = AppProcess::start(address, dir.path(), IDLE);
    let (mut tab, id) = connect(address, None).await;
    use_the_page(&mut tab).await;
    let status = tokio::task::block_in_place(|| app.signal(libc::SIGTERM));
    assert!(status.success(), "a clean shutdown: {status:?}");
    drop(tab);

    let _restarted = AppProcess::start(address, dir.path(), IDLE);
    let mut tab = reconnect(address, &id).await;
    shows(&mut tab, "count=3 name=Ada").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_write_behind_lag_even_sigkill_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let lag = Duration::from_millis(50);
    let mut app = AppProcess::start(address, dir.path(), lag);
    let (mut tab, id) = connect(address, None).await;
    use_the_page(&mut tab).await;
    // Wait until the writer stored it (its lag has passed).
    let store = DiskStore::open(dir.path(), IDLE).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stored = store.load(&id);
        let count = stored.as_ref().and_then(|s| s.get(None, "count").cloned());
        let name = stored
            .as_ref()
            .and_then(|s| s.get(Some(WIDGETS), "name").cloned());
        if count == Some(json!(3)) && name == Some(json!("Ada")) {
            break;
        }
        assert!(Instant::now() < deadline, "stored: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = tokio::task::block_in_place(|| app.signal(libc::SIGKILL));
    assert!(!status.success());
    drop(tab);

    let _restarted = AppProcess::start(address, dir.path(), lag);
    let mut tab = reconnect(address, &id).await;
    shows(&mut tab, "count=3 name=Ada").await;
}
