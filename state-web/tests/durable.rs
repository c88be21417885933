//! Durable sessions over real WebSockets: a host stops (cleanly, or not at
//! all: its writer stored the changes) and a new host on the same store
//! adopts the tab's session when the tab reconnects with its id.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use pagestate::use_state;
use pagestate::web::store::{DiskStore, SessionStore};
use pagestate::web::{ui, App};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous: the machine is shared and loaded.
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

/// A served app, stopped by `stop` (a clean shutdown) or by aborting its
/// task (a crash: nothing is flushed).
struct Served {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn serve(app: App) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.serve_until(listener, async move {
        let _ = stopped.await;
    }));
    Served {
        address,
        stop,
        task,
    }
}

fn app(dir: &Path, lag: Duration) -> App {
    App::new(page)
        .session_store(DiskStore::open(dir, IDLE).unwrap())
        .write_behind(lag)
}

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    main: String,
}

impl Client {
    async fn connect(address: SocketAddr, session: Option<&str>) -> Client {
        let url = match session {
            Some(id) => format!("ws://{address}/ws?session={id}"),
            None => format!("ws://{address}/ws"),
        };
        let mut request = url.into_client_request().unwrap();
        let origin = HeaderValue::from_str(&format!("http://{address}")).unwrap();
        request.headers_mut().insert("origin", origin);
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut client = Client {
            socket,
            session: String::new(),
            main: String::new(),
        };
        let hello = client.next().await;
        assert_eq!(hello["t"], "hello", "{hello}");
        client.session = hello["session"].as_str().unwrap().to_owned();
        client
    }

    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("the server answers in time")
                .expect("the connection stays open")
                .expect("no socket error");
            if let Message::Text(text) = message {
                let message: Value = serde_json::from_str(&text).unwrap();
                if let Some(main) = message["main"].as_str() {
                    self.main = main.to_owned();
                }
                return message;
            }
        }
    }

    /// Reads frames until a completed run shows `text`.
    async fn shows(&mut self, text: &str) {
        loop {
            let message = self.next().await;
            if message["status"] == "complete" && self.main.contains(text) {
                return;
            }
        }
    }

    async fn send(&mut self, message: Value) {
        let text = message.to_string();
        self.socket.send(Message::Text(text.into())).await.unwrap();
    }

    /// Clicks Add 3 times and types a name, as a user would.
    async fn use_the_page(&mut self) {
        self.shows("count=0").await;
        for n in 1..=3 {
            self.send(json!({"t": "rerun", "triggers": ["key:add"]}))
                .await;
            self.shows(&format!("count={n} ")).await;
        }
        self.send(json!({"t": "rerun", "values": {"key:name": "Ada"}}))
            .await;
        self.shows("count=3 name=Ada").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_stores_the_session_and_the_next_host_adopts_it() {
    let dir = tempfile::tempdir().unwrap();
    // A write-behind lag of an hour: only the shutdown's flush stores.
    let first = serve(app(dir.path(), IDLE)).await;
    let mut tab = Client::connect(first.address, None).await;
    tab.use_the_page().await;
    first.stop.send(()).unwrap();
    first.task.await.unwrap().unwrap();

    let second = serve(app(dir.path(), IDLE)).await;
    let mut back = Client::connect(second.address, Some(&tab.session)).await;
    assert_eq!(back.session, tab.session, "the stored session keeps its id");
    back.shows("count=3 name=Ada").await;
    assert!(
        back.main.contains(r#"value="Ada""#),
        "the text input shows the name: {}",
        back.main
    );
    // The adopted session lives on.
    back.send(json!({"t": "rerun", "triggers": ["key:add"]}))
        .await;
    back.shows("count=4 name=Ada").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_stores_changes_without_a_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let first = serve(app(dir.path(), Duration::from_millis(20))).await;
    let mut tab = Client::connect(first.address, None).await;
    tab.use_the_page().await;
    // The writer stores within its lag, with no shutdown to flush.
    let store = DiskStore::open(dir.path(), IDLE).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stored = store.load(&tab.session);
        let name = stored
            .as_ref()
            .and_then(|s| s.get(Some(pagestate::web::WIDGETS), "name").cloned());
        if stored.as_ref().and_then(|s| s.get(None, "count").cloned()) == Some(json!(3))
            && name == Some(json!("Ada"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "stored: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A crash: the host's task ends without a flush.
    first.task.abort();

    let second = serve(app(dir.path(), Duration::from_millis(20))).await;
    let mut back = Client::connect(second.address, Some(&tab.session)).await;
    assert_eq!(back.session, tab.session);
    back.shows("count=3 name=Ada").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_sessions_are_not_kept_across_hosts() {
    let first = serve(App::new(page).memory_sessions()).await;
    let mut tab = Client::connect(first.address, None).await;
    tab.use_the_page().await;
    first.stop.send(()).unwrap();
    first.task.await.unwrap().unwrap();

    let second = serve(App::new(page).memory_sessions()).await;
    let mut back = Client::connect(second.address, Some(&tab.session)).await;
    assert_ne!(back.session, tab.session, "a new session");
    back.shows("count=0 name=").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_stored_session_gives_a_fresh_session() {
    let dir = tempfile::tempdir().unwrap();
    let first = serve(app(dir.path(), IDLE)).await;
    let mut tab = Client::connect(first.address, None).await;
    tab.use_the_page().await;
    first.stop.send(()).unwrap();
    first.task.await.unwrap().unwrap();
    let file = dir.path().join(format!("{}.json", tab.session));
    assert!(file.exists(), "the shutdown stored the session");
    std::fs::write(&file, b"\x00 not json").unwrap();

    let second = serve(app(dir.path(), IDLE)).await;
    let mut back = Client::connect(second.address, Some(&tab.session)).await;
    assert_ne!(back.session, tab.session, "a fresh session, not a panic");
    back.shows("count=0 name=").await;
}

#[test]
fn a_durable_state_with_an_untyped_integer_factory_is_stored() {
    let session = pagestate::Session::new();
    session.run(|| {
        let n = use_state!("n", factory = || 0, durable);
        n.set(5).unwrap();
        // Not durable: listed as what a move would lose.
        use_state!("plain", factory = || std::sync::mpsc::channel::<u8>().0);
    });
    let stored = pagestate::durable::snapshot(&session);
    assert_eq!(stored.get(None, "n"), Some(&json!(5)));
    assert_eq!(stored.volatile, [(None, "plain".to_owned())]);
}
