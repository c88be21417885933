//! A real app process restarted under a tab: the app (this test binary,
//! re-run as a child that calls `App::run`) is stopped with SIGTERM (its
//! shutdown stores every session) or SIGKILL (after the write-behind lag),
//! started again on the same port, and the tab's session comes back.
#![cfg(unix)]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/ws_tab.rs"]
mod ws_tab;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pagestate::web::store::{DiskStore, SessionStore};
use pagestate::web::{ui, App, WIDGETS};
use pagestate::{cached, use_state};
use redis_server::RedisServer;
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
    ui::text(format!("served-by={}", std::process::id()));
    // The replicas share their Redis: a job one computed is a hit on the other.
    if std::env::var("PAGESTATE_SESSION_STORE").as_deref() == Ok("redis") {
        let total = report(count.get().unwrap());
        let hits = report::stats().redis_hits;
        ui::text(format!("report={total} redis_hits={hits};"));
    }
}

#[cached(persist = "redis")]
fn report(count: u32) -> u64 {
    u64::from(count) * 1_000
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
    let app = App::new(page).address(address);
    // "env": the store chosen by PAGESTATE_SESSION_STORE (the replicas).
    let app = if dir == "env" {
        app
    } else {
        app.session_store(DiskStore::open(dir, IDLE).unwrap())
    };
    app.write_behind(Duration::from_millis(lag_ms.parse().unwrap()))
        .run()
        .unwrap();
}

/// The app process, serving once it printed its URL.
struct AppProcess(Child);

impl AppProcess {
    fn start(address: SocketAddr, dir: &Path, lag: Duration) -> AppProcess {
        Self::start_with(address, dir, lag, &[])
    }

    fn start_with(
        address: SocketAddr,
        dir: &Path,
        lag: Duration,
        env: &[(&str, &str)],
    ) -> AppProcess {
        let config = format!("{address}|{}|{}", dir.display(), lag.as_millis());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "durable_app_child", "--nocapture"])
            .env(CHILD_ENV, config)
            .envs(env.iter().copied())
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

async fn use_the_page(tab: &mut Socket) -> String {
    shows(tab, "count=0").await;
    for n in 1..=3 {
        send(tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
        shows(tab, &format!("count={n} ")).await;
    }
    send(tab, json!({"t": "rerun", "values": {"key:name": "Ada"}})).await;
    shows(tab, "count=3 name=Ada").await
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
    stored_count_3_and_ada(dir.path(), &id).await;
    let status = tokio::task::block_in_place(|| app.signal(libc::SIGKILL));
    assert!(!status.success());
    drop(tab);

    let _restarted = AppProcess::start(address, dir.path(), lag);
    let mut tab = reconnect(address, &id).await;
    shows(&mut tab, "count=3 name=Ada").await;
}

/// haproxy in front of two replicas, round robin, no affinity: Debian's
/// (`/usr/sbin/haproxy`), or `None` (said on stderr) without it unless `CI`.
struct Haproxy {
    child: Child,
    /// Holds the config file while haproxy runs.
    _config: tempfile::TempDir,
}

impl Haproxy {
    fn start(front: SocketAddr, replicas: [SocketAddr; 2]) -> Option<Haproxy> {
        let binary = Path::new("/usr/sbin/haproxy");
        if !binary.is_file() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: haproxy is required for the replicas test (apt-get install haproxy)"
            );
            eprintln!("SKIPPED replicas test: /usr/sbin/haproxy not found");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n    maxconn 100\n\
                 defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n\
                 \x20   timeout server 60s\n    timeout tunnel 1h\n    retries 3\n\
                 \x20   option redispatch\n\
                 frontend app\n    bind {front}\n    default_backend replicas\n\
                 backend replicas\n    balance roundrobin\n\
                 \x20   server a {} check inter 200ms fall 1 rise 1\n\
                 \x20   server b {} check inter 200ms fall 1 rise 1\n",
                replicas[0], replicas[1]
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(front).is_err() {
            assert!(Instant::now() < deadline, "haproxy never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Haproxy {
            child,
            _config: dir,
        })
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn served_by(main: &str) -> u32 {
    let at = main.find("served-by=").expect("the page names its process") + 10;
    main[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_survives_its_replica_behind_haproxy() {
    let Some(redis) = RedisServer::start("a_tab_survives_its_replica_behind_haproxy") else {
        return;
    };
    let url = redis.url();
    let env = [
        ("PAGESTATE_SESSION_STORE", "redis"),
        ("PAGESTATE_REDIS_URL", url.as_str()),
    ];
    let dir = Path::new("env");
    let lag = Duration::from_millis(50);
    let addresses = [free_address(), free_address()];
    let mut replicas = [
        AppProcess::start_with(addresses[0], dir, lag, &env),
        AppProcess::start_with(addresses[1], dir, lag, &env),
    ];
    let front = free_address();
    let Some(_haproxy) = Haproxy::start(front, addresses) else {
        return;
    };
    let (mut tab, id) = connect(front, None).await;
    let main = use_the_page(&mut tab).await;
    let serving = served_by(&main);
    // Written behind: wait for the lag (the stored count), then kill.
    let mut conn = redis.conn();
    let key = format!("pagestate:session:{id}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let count: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(r#"[null,"count"]"#)
            .query(&mut conn)
            .unwrap();
        if count.as_deref() == Some("3") {
            break;
        }
        assert!(Instant::now() < deadline, "never stored: {count:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = replicas
        .iter_mut()
        .find(|replica| replica.0.id() == serving)
        .expect("one of the replicas served the tab");
    tokio::task::block_in_place(|| victim.signal(libc::SIGKILL));
    drop(tab);
    // The tab reconnects through haproxy (as its script does, until it
    // gets through) and lands on the other replica.
    let deadline = Instant::now() + PATIENCE;
    let mut tab = loop {
        if let Some((tab, adopted)) = ws_tab::try_connect(front, Some(&id)).await {
            assert_eq!(adopted, id);
            break tab;
        }
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let main = shows(&mut tab, "count=3 name=Ada").await;
    assert_ne!(served_by(&main), serving, "served by the other replica");
    // report(3), computed by the killed replica, is a Redis hit here.
    assert!(
        main.contains("report=3000 redis_hits=1;"),
        "the other replica's cached job is a hit: {main}"
    );
}

/// Waits until the disk store under `dir` holds session `id` with count 3
/// and the name "Ada": the write-behind has stored what the tab did.
async fn stored_count_3_and_ada(dir: &Path, id: &str) {
    let store = DiskStore::open(dir, IDLE).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stored = store.load(id);
        let count = stored.as_ref().and_then(|s| s.get(None, "count").cloned());
        let name = stored
            .as_ref()
            .and_then(|s| s.get(Some(WIDGETS), "name").cloned());
        if count == Some(json!(3)) && name == Some(json!("Ada")) {
            return;
        }
        assert!(Instant::now() < deadline, "stored: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[path = "web_browser/support.rs"]
mod browser;

/// The same restart under Chromium: the tab's own script reconnects with
/// its session id (from `sessionStorage`) once the app is back.
#[test]
fn chromium_tab_comes_back_after_sigterm() {
    chromium_tab_comes_back("chromium_tab_comes_back_after_sigterm", libc::SIGTERM);
}

/// And after SIGKILL, once the write-behind lag has passed: nothing to
/// flush at exit, the writer had stored it all.
#[test]
fn chromium_tab_comes_back_after_sigkill() {
    chromium_tab_comes_back("chromium_tab_comes_back_after_sigkill", libc::SIGKILL);
}

fn chromium_tab_comes_back(test: &'static str, signal: libc::c_int) {
    browser::run(async {
        let Some(chromium) = browser::Browser::start(test).await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let address = free_address();
        // With SIGTERM the exit flushes, so the writer may wait an hour.
        let lag = if signal == libc::SIGKILL {
            Duration::from_millis(50)
        } else {
            IDLE
        };
        let mut app = AppProcess::start(address, dir.path(), lag);
        let tab = chromium.open(&format!("http://{address}/")).await;
        tab.wait_text("count=0").await;
        for n in 1..=3 {
            tab.find("[data-key=\"add\"] button")
                .await
                .click()
                .await
                .expect("click");
            tab.wait_text(&format!("count={n} ")).await;
        }
        let input = tab.find("[data-key=\"name\"] .ps-input").await;
        input
            .send_keys(&format!("Ada{}", char::from(fantoccini::key::Key::Enter)))
            .await
            .expect("type");
        tab.wait_text("count=3 name=Ada").await;
        if signal == libc::SIGKILL {
            // SIGKILL flushes nothing: wait until the writer has stored it.
            let id = tab
                .js(
                    "return sessionStorage.getItem('pagestate.session');",
                    Vec::new(),
                )
                .await;
            let id = id.as_str().expect("the tab's session id").to_owned();
            stored_count_3_and_ada(dir.path(), &id).await;
        }
        let status = tokio::task::block_in_place(|| app.signal(signal));
        assert_eq!(status.success(), signal == libc::SIGTERM, "{status:?}");
        let _restarted = AppProcess::start(address, dir.path(), lag);
        // No reload: the page reconnects by itself and shows the state.
        tab.wait_text("count=3 name=Ada").await;
        let value = tab
            .js(
                "return document.querySelector('[data-key=\"name\"] .ps-input').value;",
                Vec::new(),
            )
            .await;
        assert_eq!(value, serde_json::json!("Ada"));
        chromium.finish().await;
    });
}
