//! The served app over real WebSockets (tokio-tungstenite as the client,
//! the router on 127.0.0.1:0): sessions, reconnects, the cap, the origin
//! check, bad input, streaming, interruption.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pagestate::use_state;
use pagestate::web::{ui, App};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous: the machine is shared and loaded.
const PATIENCE: Duration = Duration::from_secs(30);

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    /// What the tab shows: frames leave out (null) unchanged areas.
    shown: [Value; 2],
}

fn url(address: SocketAddr, path: &str, session: Option<&str>) -> String {
    match session {
        Some(id) => format!("ws://{address}{path}?session={id}"),
        None => format!("ws://{address}{path}"),
    }
}

impl Client {
    /// Connects like the client script does (with a same-site Origin) and
    /// reads the hello.
    async fn connect(address: SocketAddr, session: Option<&str>) -> Client {
        Self::connect_at(address, "/ws", session).await
    }

    async fn connect_at(address: SocketAddr, path: &str, session: Option<&str>) -> Client {
        let mut request = url(address, path, session).into_client_request().unwrap();
        let origin = HeaderValue::from_str(&format!("http://{address}")).unwrap();
        request.headers_mut().insert("origin", origin);
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = Client {
            socket,
            session: String::new(),
            shown: [json!(""), json!("")],
        };
        let hello = client.next().await.expect("a hello");
        assert_eq!(hello["t"], "hello", "{hello}");
        client.session = hello["session"].as_str().unwrap().to_owned();
        client
    }

    /// The next message, or `None` once the server closed the connection.
    async fn next(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the server answers in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let mut message: Value = serde_json::from_str(&text).unwrap();
                    if message["t"] == "frame" {
                        for (index, area) in ["main", "sidebar"].into_iter().enumerate() {
                            if message[area].is_null() {
                                message[area] = self.shown[index].clone();
                            } else {
                                self.shown[index] = message[area].clone();
                            }
                        }
                    }
                    return Some(message);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads frames until one satisfies `done`, and returns it.
    async fn frame_where(&mut self, done: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = self.next().await.expect("the connection stays open");
            if message["t"] == "frame" && done(&message) {
                return message;
            }
        }
    }

    /// Reads frames until a completed run shows `text`.
    async fn complete_with(&mut self, text: &str) -> Value {
        self.frame_where(|frame| {
            frame["status"] == "complete" && frame["main"].as_str().unwrap().contains(text)
        })
        .await
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    async fn click(&mut self, id: &str) {
        self.send(json!({"t": "rerun", "triggers": [id]})).await;
    }

    async fn set(&mut self, id: &str, value: Value) {
        self.send(json!({"t": "rerun", "values": {id: value}}))
            .await;
    }
}

fn counter_page() {
    let count = use_state!("count", factory = || 0_u32);
    if ui::Button::new("Add").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    ui::text(format!("count {}", count.get().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shell_is_served_with_its_scripts() {
    let address = serve(App::new(counter_page).title("<Counter>").router()).await;
    let body = reqwest_get(address, "/").await;
    assert!(body.contains("<title>&lt;Counter&gt;</title>"));
    assert!(body.contains(r#"data-ws="/ws""#));
    assert!(body.contains("Idiomorph"));
    assert!(body.contains("pagestate.session"));
}

/// A bare HTTP/1.1 GET, so the tests need no HTTP client crate.
async fn reqwest_get(address: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_gets_a_session_and_reruns_on_clicks() {
    let address = serve(App::new(counter_page).router()).await;
    let mut tab = Client::connect(address, None).await;
    assert_eq!(tab.session.len(), 32, "128 random bits in hex");
    assert!(tab.session.chars().all(|c| c.is_ascii_hexdigit()));
    let frame = tab.complete_with("count 0").await;
    assert!(frame["main"]
        .as_str()
        .unwrap()
        .contains(r#"data-widget-id="key:add""#));
    tab.click("key:add").await;
    tab.complete_with("count 1").await;
    let mut other = Client::connect(address, None).await;
    assert_ne!(other.session, tab.session, "a new tab is a new session");
    other.complete_with("count 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_session_id_starts_a_new_session() {
    let address = serve(App::new(counter_page).router()).await;
    for offered in ["0123456789abcdef0123456789abcdef", "not-an-id", ""] {
        let mut tab = Client::connect(address, Some(offered)).await;
        assert_ne!(tab.session, offered);
        tab.complete_with("count 0").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_leave_out_unchanged_areas() {
    let page = || {
        ui::sidebar(|| ui::text("a static sidebar"));
        counter_page();
    };
    let address = serve(App::new(page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
    assert!(tab.shown[1].as_str().unwrap().contains("a static sidebar"));
    tab.click("key:add").await;
    let raw = loop {
        let message = tab.socket.next().await.unwrap().unwrap();
        let frame: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if frame["status"] == "complete" {
            break frame;
        }
    };
    assert!(raw["main"].as_str().unwrap().contains("count 1"));
    assert!(
        raw["sidebar"].is_null(),
        "the sidebar did not change: {raw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_within_the_grace_keeps_the_session() {
    let address = serve(App::new(counter_page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
    tab.click("key:add").await;
    tab.complete_with("count 1").await;
    let id = tab.session.clone();
    tab.socket.close(None).await.unwrap();
    drop(tab);

    let mut again = Client::connect(address, Some(&id)).await;
    assert_eq!(again.session, id);
    // The tab gets the last drawing at once, without a rerun.
    let frame = again.complete_with("count 1").await;
    assert_eq!(frame["runs_completed"], 2);
    again.click("key:add").await;
    again.complete_with("count 2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_takes_the_session_over() {
    let address = serve(App::new(counter_page).router()).await;
    let mut first = Client::connect(address, None).await;
    first.complete_with("count 0").await;
    // A reload: the new page connects before the old socket is gone.
    let mut second = Client::connect(address, Some(&first.session.clone())).await;
    assert_eq!(second.session, first.session);
    second.complete_with("count 0").await;
    // The old connection is told, then closed by the server.
    loop {
        match first.next().await {
            Some(message) if message["t"] == "moved" => break,
            Some(_) => {}
            None => panic!("closed without a `moved` message"),
        }
    }
    assert!(first.next().await.is_none());
    second.click("key:add").await;
    second.complete_with("count 1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closes_after_the_grace_and_frees_its_state() {
    static DROPPED: AtomicBool = AtomicBool::new(false);
    struct Tracked;
    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::SeqCst);
        }
    }
    let app = App::new(|| {
        use_state!("tracked", factory = || Tracked);
        counter_page();
    })
    .reconnect_grace(Duration::from_millis(200));
    let address = serve(app.router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
    tab.click("key:add").await;
    tab.complete_with("count 1").await;
    let id = tab.session.clone();
    drop(tab);

    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !DROPPED.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again = Client::connect(address, Some(&id)).await;
    assert_ne!(again.session, id, "the old session is gone");
    again.complete_with("count 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_session_cap_a_new_tab_gets_the_busy_page() {
    let address = serve(App::new(counter_page).max_sessions(2).router()).await;
    let mut first = Client::connect(address, None).await;
    first.complete_with("count 0").await;
    let mut second = Client::connect(address, None).await;
    second.complete_with("count 0").await;

    let mut request = url(address, "/ws", None).into_client_request().unwrap();
    let origin = HeaderValue::from_str(&format!("http://{address}")).unwrap();
    request.headers_mut().insert("origin", origin);
    let (mut third, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let busy = match third.next().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(&text).unwrap(),
        other => panic!("expected the busy message, got {other:?}"),
    };
    assert_eq!(busy["t"], "busy");
    assert!(busy["html"]
        .as_str()
        .unwrap()
        .contains(r#"data-testid="busy""#));
    assert!(busy["html"].as_str().unwrap().contains("Server busy"));
    assert!(matches!(
        third.next().await,
        Some(Ok(Message::Close(_))) | None | Some(Err(_))
    ));

    // The existing tabs are unaffected, and a known id still gets in.
    first.click("key:add").await;
    first.complete_with("count 1").await;
    let id = second.session.clone();
    drop(second);
    let mut back = Client::connect(address, Some(&id)).await;
    assert_eq!(back.session, id);
    back.complete_with("count 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_websocket_is_refused() {
    let address = serve(App::new(counter_page).router()).await;
    for origin in [
        "http://evil.example".to_owned(),
        format!("http://{address}.evil.example"),
        "null".to_owned(),
    ] {
        let mut request = url(address, "/ws", None).into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(&origin).unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}")
            }
            other => panic!("{origin}: expected a 403, got {:?}", other.map(|_| ())),
        }
    }
    // Same site (https too, behind a proxy) is fine.
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_only_that_connection() {
    let address = serve(App::new(counter_page).max_message_size(1024).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
    let mut bystander = Client::connect(address, None).await;
    bystander.complete_with("count 0").await;

    let huge = "x".repeat(4096);
    tab.set("key:add", json!(huge)).await;
    loop {
        if tab.next().await.is_none() {
            break;
        }
    }
    // The tab reconnects to its session; the other never noticed.
    let mut again = Client::connect(address, Some(&tab.session)).await;
    assert_eq!(again.session, tab.session);
    again.click("key:add").await;
    again.complete_with("count 1").await;
    bystander.click("key:add").await;
    bystander.complete_with("count 1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_input_is_ignored_and_touches_no_other_session() {
    let page = || {
        let on = ui::Checkbox::new("On").key("on").show();
        counter_page();
        ui::text(format!("on={on}"));
    };
    let address = serve(App::new(page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
    let mut other = Client::connect(address, None).await;
    let before = other.complete_with("count 0").await;

    for junk in [
        "not json",
        "{}",
        "[1,2]",
        r#"{"t":"explode"}"#,
        r#"{"t":"rerun","values":[1]}"#,
    ] {
        tab.socket.send(Message::Text(junk.into())).await.unwrap();
    }
    tab.socket
        .send(Message::Binary(vec![0, 159, 146, 150].into()))
        .await
        .unwrap();
    tab.set("key:nope", json!(1)).await;
    tab.set("key:on", json!("yes")).await;
    tab.set("key:add", json!(true)).await;
    tab.click("key:on").await;
    tab.click(&other.session.clone()).await;
    // The connection is still open and serves valid input.
    tab.set("key:on", json!(true)).await;
    tab.click("key:add").await;
    tab.frame_where(|frame| {
        let main = frame["main"].as_str().unwrap();
        frame["status"] == "complete" && main.contains("count 1") && main.contains("on=true")
    })
    .await;

    // The other session ran once, as before.
    other.click("key:add").await;
    let after = other.complete_with("count 1").await;
    assert_eq!(before["runs_completed"], 1);
    assert_eq!(after["runs_completed"], 2);
    assert!(after["main"].as_str().unwrap().contains("on=false"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_streams_while_the_page_runs() {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let page = move || {
        let slow = ui::Checkbox::new("Slow").key("slow").show();
        if slow {
            let bar = ui::progress(0.25, "a quarter");
            ui::spinner("Working hard", || {
                gate.lock().unwrap().recv_timeout(PATIENCE).unwrap();
            });
            bar.set(1.0, "all done");
        }
        ui::text("end of page");
        for line in 1..=3 {
            ui::text(format!("footer {line}"));
        }
    };
    let address = serve(App::new(page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("end of page").await;
    tab.set("key:slow", json!(true)).await;
    // The spinner and the progress bar arrive while the run is blocked.
    let frame = tab
        .frame_where(|frame| frame["main"].as_str().unwrap().contains("Working hard"))
        .await;
    assert_eq!(frame["status"], "running");
    let main = frame["main"].as_str().unwrap();
    assert!(main.contains("a quarter"));
    assert!(main.contains(r#"data-testid="spinner""#));
    // The previous run's last elements are still shown, marked stale.
    let tail = main.split("footer 2").next().unwrap();
    assert!(
        tail.ends_with(r#"data-testid="text" data-stale><p class="ps-pre">"#),
        "{main}"
    );
    release.send(()).unwrap();
    let done = tab.complete_with("all done").await;
    let main = done["main"].as_str().unwrap();
    assert!(!main.contains("Working hard"));
    assert!(!main.contains("data-stale"));
    assert!(main.contains("end of page"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_of_a_long_run_is_streamed() {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let page = move || {
        if ui::Checkbox::new("Start").key("start").show() {
            let bar = ui::progress(0.0, "step 0");
            for step in 1..=3 {
                // The page waits (drawing nothing) long past a stream
                // interval, then draws again: each step must reach the tab.
                gate.lock().unwrap().recv_timeout(PATIENCE).unwrap();
                bar.set(step as f64 / 3.0, format!("step {step}"));
            }
            gate.lock().unwrap().recv_timeout(PATIENCE).unwrap();
        }
        ui::text("end of page");
    };
    let address = serve(App::new(page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("end of page").await;
    tab.set("key:start", json!(true)).await;
    for step in 0..=3 {
        let caption = format!("step {step}");
        let frame = tab
            .frame_where(|frame| frame["main"].as_str().unwrap().contains(&caption))
            .await;
        assert_eq!(frame["status"], "running", "{caption}");
        release.send(()).unwrap();
    }
    tab.complete_with("end of page").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_during_a_run_interrupts_it_and_is_merged() {
    let clicks = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&clicks);
    let page = move || {
        let n = ui::Slider::new("N", 0, 10).key("n").show();
        let go = ui::Button::new("Go").key("go").show();
        if n == 1 {
            // A long run that checks in with the host now and then: it is
            // interrupted by the next input.
            let deadline = std::time::Instant::now() + PATIENCE;
            while std::time::Instant::now() < deadline {
                ui::text("working");
                std::thread::sleep(Duration::from_millis(5));
            }
            ui::text("never interrupted");
        }
        let clicked = use_state!("clicks", factory = || 0_u32);
        if go {
            clicked.reduce(|n, by| n + by, 1).unwrap();
            seen.fetch_add(1, Ordering::SeqCst);
        }
        ui::text(format!("n={n} clicks={}", clicked.get().unwrap()));
    };
    let address = serve(App::new(page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("n=0 clicks=0").await;
    tab.set("key:n", json!(1)).await;
    tab.frame_where(|frame| {
        frame["status"] == "running" && frame["main"].as_str().unwrap().contains("working")
    })
    .await;
    tab.set("key:n", json!(5)).await;
    tab.click("key:go").await;
    tab.set("key:n", json!(9)).await;
    let done = tab.complete_with("n=9 clicks=1").await;
    let main = done["main"].as_str().unwrap();
    assert!(!main.contains("never interrupted"));
    assert!(!main.contains("working"));
    assert_eq!(clicks.load(Ordering::SeqCst), 1, "the click counted once");
    assert!(
        done["run"].as_u64().unwrap() > done["runs_completed"].as_u64().unwrap(),
        "the n=1 run did not complete: {done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_panic_shows_in_its_tab_only() {
    let page = || {
        if ui::Checkbox::new("Boom").key("boom").show() {
            panic!("the page broke");
        }
        counter_page();
    };
    let address = serve(App::new(page).router()).await;
    let mut broken = Client::connect(address, None).await;
    broken.complete_with("count 0").await;
    let mut fine = Client::connect(address, None).await;
    fine.complete_with("count 0").await;

    broken.set("key:boom", json!(true)).await;
    let frame = broken.complete_with("the page broke").await;
    let main = frame["main"].as_str().unwrap();
    assert!(main.contains(r#"data-testid="exception""#));
    assert!(main.contains("websocket.rs:"), "the location is shown");

    fine.click("key:add").await;
    let frame = fine.complete_with("count 1").await;
    assert!(!frame["main"].as_str().unwrap().contains("exception"));

    broken.set("key:boom", json!(false)).await;
    broken.complete_with("count 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_serve_runs_on_a_given_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(App::new(counter_page).serve(listener));
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("count 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_job_reruns_its_tab_over_the_wire() {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let page = move || {
        let results = use_state!("results", factory = || 0_u32);
        if ui::Button::new("Start job").key("start").show() {
            let handle = ui::rerun_handle();
            let gate = Arc::clone(&gate);
            let results = results.clone();
            std::thread::spawn(move || {
                gate.lock().unwrap().recv_timeout(PATIENCE).unwrap();
                results.reduce(|n, by| n + by, 1).unwrap();
                assert!(handle.request());
            });
        }
        ui::text(format!("results {}", results.get().unwrap()));
    };
    let address = serve(App::new(page).router()).await;
    let mut tab = Client::connect(address, None).await;
    tab.complete_with("results 0").await;
    tab.click("key:start").await;
    let started = tab.complete_with("results 0").await;
    assert_eq!(started["runs_completed"], 2);
    // The job finishes with no input from the tab, and the tab reruns.
    release.send(()).unwrap();
    let done = tab.complete_with("results 1").await;
    assert_eq!(done["runs_completed"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_nests_in_a_bigger_router() {
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/app", App::new(counter_page).router());
    let address = serve(router).await;
    let body = reqwest_get(address, "/app").await;
    assert!(body.contains(r#"data-ws="/app/ws""#), "{body}");
    assert!(reqwest_get(address, "/health").await.ends_with("ok"));
    let mut tab = Client::connect_at(address, "/app/ws", None).await;
    tab.complete_with("count 0").await;
    tab.click("key:add").await;
    tab.complete_with("count 1").await;
}
