//! Real-browser test support: Debian's `chromium` driven through
//! `chromedriver` with fantoccini (WebDriver), against an app served
//! in-process on a free loopback port.
//!
//! - [`Browser::start`] finds `/usr/bin/chromedriver` and `/usr/bin/chromium`,
//!   starts chromedriver on a free loopback port in a process group of its
//!   own, and opens one WebDriver session (one Chromium with a fresh profile
//!   directory). Without them the test is skipped with a message on stderr,
//!   unless `CI` is set, where a missing browser fails the test.
//! - Dropping a [`Browser`] ends the WebDriver session (so chromedriver
//!   quits Chromium), then kills chromedriver's whole process group, so no
//!   Chromium outlives a test, also one that failed.
//! - Waiting is always for a condition ([`Tab::eventually`]), polled with a
//!   generous deadline: the machine may be loaded, so no sleep is an
//!   assertion.
//!
//! Messages that must be seen (a skip, a browser test that ran) are written
//! to the process's stderr directly, which libtest does not capture; CI
//! counts the `browser test passed:` lines.

#![allow(dead_code)] // each test binary uses a different part of the support

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags every Chromium of these tests starts with: headless, and quiet
/// on the network (without the networking flags it floods a closed network
/// with retries).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// How long any awaited condition may take before the test fails. Generous:
/// five engineers may be compiling on the same two cores.
pub const DEADLINE: Duration = Duration::from_secs(45);
const POLL: Duration = Duration::from_millis(40);

/// Writes a line on the real stderr, past libtest's output capture.
pub fn announce(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// Whether this run is CI, where a missing browser is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "0" && value != "false")
}

/// Browser tests run one at a time: each drives a whole Chromium, and two
/// at once on two cores only make every deadline tighter.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running chromedriver plus one WebDriver session (one Chromium).
pub struct Browser {
    pub client: Client,
    driver: Driver,
    name: &'static str,
}

/// The chromedriver process (leader of its own process group), the WebDriver
/// session it serves and the Chromium profile directory.
struct Driver {
    child: Child,
    port: u16,
    session_id: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for the test `name`, or
    /// `None` (after saying so on stderr) when they are not installed and
    /// this is not CI.
    pub async fn start(name: &'static str) -> Option<Browser> {
        let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM]
            .into_iter()
            .filter(|path| !Path::new(path).exists())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "browser test {name}: {} not found (apt-get install chromium chromium-driver)",
                missing.join(" and ")
            );
            assert!(!in_ci(), "{message}; CI is set, so this is a failure");
            announce(&format!("SKIPPED {message}"));
            return None;
        }
        let mut driver = Driver::spawn().expect("start chromedriver");
        let client = driver.connect().await;
        Some(Browser {
            client,
            driver,
            name,
        })
    }

    /// Opens `url` in the current tab and returns it as a [`Tab`].
    pub async fn open(&self, url: &str) -> Tab<'_> {
        self.client.goto(url).await.expect("navigate");
        let handle = self.client.window().await.expect("window handle");
        Tab {
            client: &self.client,
            handle,
        }
    }

    /// Opens `url` in a new tab of the same browser.
    pub async fn open_tab(&self, url: &str) -> Tab<'_> {
        let created = self.client.new_window(true).await.expect("new tab");
        self.client
            .switch_to_window(created.handle.clone())
            .await
            .expect("switch to the new tab");
        self.client.goto(url).await.expect("navigate");
        Tab {
            client: &self.client,
            handle: created.handle,
        }
    }

    /// Ends the session cleanly and announces the test as passed; a test
    /// that fails before this still cleans up in `Drop`.
    pub async fn finish(mut self) {
        // The client is a handle on a background task: closing a clone
        // ends the same session.
        if self.client.clone().close().await.is_ok() {
            self.driver.session_id = None;
        }
        announce(&format!("browser test passed: {}", self.name));
    }
}

impl Driver {
    fn spawn() -> std::io::Result<Driver> {
        use std::os::unix::process::CommandExt;

        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so that killing it takes every Chromium process
            // it started along.
            .process_group(0)
            .spawn()?;
        let profile = tempfile::Builder::new()
            .prefix("pagestate-chromium-")
            .tempdir()?;
        Ok(Driver {
            child,
            port,
            session_id: None,
            _profile: profile,
        })
    }

    /// Waits for chromedriver to listen, then opens a session.
    async fn connect(&mut self) -> Client {
        let url = format!("http://127.0.0.1:{}", self.port);
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(started.elapsed() < DEADLINE, "chromedriver did not listen");
            tokio::time::sleep(POLL).await;
        }
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            self._profile.path().display()
        ));
        args.push("--window-size=1200,900".to_owned());
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("open a WebDriver session in Chromium");
        self.session_id = client.session_id().await.ok().flatten();
        client
    }

    /// Ends the WebDriver session with a plain blocking request (usable from
    /// `Drop`, outside any runtime), so chromedriver quits Chromium itself.
    fn delete_session(&mut self) {
        let Some(id) = self.session_id.take() else {
            return;
        };
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let mut reply = Vec::new();
            let _ = stream.read_to_end(&mut reply);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.delete_session();
        // The group id is chromedriver's pid (process_group(0)).
        let group = self.child.id() as libc::pid_t;
        // SAFETY: killpg only sends a signal to the group we created.
        unsafe {
            libc::killpg(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A free loopback port, for a child process that must be told its port.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// One browser tab: every command switches to it first, so tests can
/// interleave tabs freely.
pub struct Tab<'a> {
    client: &'a Client,
    handle: fantoccini::wd::WindowHandle,
}

impl Tab<'_> {
    /// Makes this tab the one WebDriver commands go to.
    pub async fn focus(&self) -> &Client {
        self.client
            .switch_to_window(self.handle.clone())
            .await
            .expect("switch tab");
        self.client
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the tab.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.focus()
            .await
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Waits until `check` returns `Some`, polling; fails with `what` and the
    /// last value seen after [`DEADLINE`].
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, String>>,
    {
        let started = Instant::now();
        loop {
            let last = match check().await {
                Ok(Some(value)) => return value,
                Ok(None) => String::from("not yet"),
                Err(seen) => seen,
            };
            if started.elapsed() > DEADLINE {
                let body = self.body_text().await;
                panic!("timed out after {DEADLINE:?} waiting for {what}; last: {last}\npage text:\n{body}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The visible text of the whole page.
    pub async fn body_text(&self) -> String {
        match self
            .focus()
            .await
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
        {
            Ok(Value::String(text)) => text,
            other => format!("{other:?}"),
        }
    }

    /// Waits until the page's visible text contains `needle`.
    pub async fn wait_text(&self, needle: &str) {
        self.eventually(&format!("text {needle:?}"), || async {
            let body = self.body_text().await;
            Ok(body.contains(needle).then_some(()))
        })
        .await
    }

    /// Waits until the page's visible text no longer contains `needle`.
    pub async fn wait_no_text(&self, needle: &str) {
        self.eventually(&format!("text {needle:?} to go"), || async {
            let body = self.body_text().await;
            Ok((!body.contains(needle)).then_some(()))
        })
        .await
    }

    /// Waits until a script returns a truthy value and returns it.
    pub async fn wait_js(&self, what: &str, script: &str) -> Value {
        self.eventually(what, || async {
            let value = self
                .focus()
                .await
                .execute(script, vec![])
                .await
                .map_err(|error| error.to_string())?;
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            Ok(truthy.then_some(value))
        })
        .await
    }

    /// Waits for an element matching the CSS `selector` and returns it.
    pub async fn find(&self, selector: &str) -> Element {
        self.eventually(&format!("element {selector}"), || async {
            match self.focus().await.find(Locator::Css(selector)).await {
                Ok(element) => Ok(Some(element)),
                Err(error) if error.is_no_such_element() => Ok(None),
                Err(error) => Err(error.to_string()),
            }
        })
        .await
    }

    /// Whether an element matching `selector` exists now.
    pub async fn exists(&self, selector: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(selector)],
        )
        .await
            == json!(true)
    }
}

/// Runs an async browser test body on a fresh multi-thread runtime; the
/// in-process server and the WebDriver client share it.
/// Browser tests run one after another (see [`serial`]).
pub fn run<F: Future<Output = ()>>(body: F) {
    let _serial = serial();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body);
}

/// Serves `app` on 127.0.0.1 at a free port for the rest of the test;
/// returns its base URL (`http://127.0.0.1:PORT/`).
pub async fn serve(app: pagestate::web::App) -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind the app server");
    let address = listener.local_addr().expect("server address");
    tokio::spawn(async move {
        app.serve(listener).await.expect("app server");
    });
    format!("http://{address}/")
}
