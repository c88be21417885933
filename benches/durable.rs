//! Durable sessions: what storing them costs on the interaction's path, and
//! how fast a replica adopts a stored session.
//!
//! ```text
//! cargo bench --bench durable               # 2,000 clicks per variant
//! cargo bench --bench durable -- --quick    # 300
//! ```
//!
//! - D1: click round trip (send a click on the tab's WebSocket, receive the
//!   frame of the completed rerun), p50 and p99, with a durable session
//!   (disk store, write-behind) and a memory-only one, interleaved in
//!   rounds on one server process; the ratio of the p50s.
//! - D2: adopting a stored session of 100 durable states from Redis: load
//!   the session's hash, adopt it, and run the page that takes the 100
//!   values back; p50 and p99. Needs `redis-server` (started by the bench
//!   on a free loopback port); skipped, saying so, without it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use pagestate::durable::{self, Changes};
use pagestate::web::store::{DiskStore, RedisStore, SessionStore};
use pagestate::web::{ui, App};
use pagestate::{use_state, RedisConfig, RedisTier, Session};
use pagestate_benches::measure::quantile;
use pagestate_benches::report::format_time;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

fn counter() {
    let count = use_state!("count", factory = || 0_u64, durable);
    if ui::Button::new("Add").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    let name = ui::TextInput::new("Name").key("name").show();
    ui::text(format!("count={} name={name}", count.get().unwrap()));
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn serve(app: App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener));
    address
}

async fn next_complete(socket: &mut Socket) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .expect("a reply in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["status"] == "complete" {
                if let Some(main) = frame["main"].as_str() {
                    return main.to_owned();
                }
            }
        }
    }
}

async fn tab(address: SocketAddr) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws"))
        .await
        .unwrap();
    next_complete(&mut socket).await;
    socket
}

async fn click(socket: &mut Socket, expect: u64) -> Duration {
    let started = Instant::now();
    let click = r#"{"t":"rerun","triggers":["key:add"]}"#;
    socket.send(Message::Text(click.into())).await.unwrap();
    let wanted = format!("count={expect} ");
    loop {
        if next_complete(socket).await.contains(&wanted) {
            return started.elapsed();
        }
    }
}

fn d1(clicks: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pagestate-bench-durable-{}", std::process::id()));
    let (durable, memory) = runtime.block_on(async {
        let store = DiskStore::open(&dir, Duration::from_secs(3600)).unwrap();
        let durable_at = serve(App::new(counter).session_store(store)).await;
        let memory_at = serve(App::new(counter).memory_sessions()).await;
        let (mut durable_tab, mut memory_tab) = (tab(durable_at).await, tab(memory_at).await);
        let (mut durable, mut memory) = (Vec::new(), Vec::new());
        // Warm-up, then interleaved rounds of 50 clicks.
        let mut n = 0;
        for _ in 0..20 {
            n += 1;
            click(&mut durable_tab, n).await;
            click(&mut memory_tab, n).await;
        }
        while durable.len() < clicks {
            for _ in 0..50 {
                n += 1;
                durable.push(click(&mut durable_tab, n).await.as_nanos() as f64);
            }
            n -= 50;
            for _ in 0..50 {
                n += 1;
                memory.push(click(&mut memory_tab, n).await.as_nanos() as f64);
            }
        }
        (durable, memory)
    });
    let _ = std::fs::remove_dir_all(&dir);
    report_pair("D1 click round trip", &durable, &memory);
}

fn report_pair(name: &str, durable: &[f64], memory: &[f64]) {
    let d50 = quantile(durable, 0.5);
    let m50 = quantile(memory, 0.5);
    println!(
        "{name}: durable p50 {} p99 {} | memory-only p50 {} p99 {} | p50 ratio {:.3} (target <= 1.1)",
        format_time(d50),
        format_time(quantile(durable, 0.99)),
        format_time(m50),
        format_time(quantile(memory, 0.99)),
        d50 / m50
    );
}

/// A `redis-server` on a free loopback port, killed when dropped.
struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<Redis> {
    let binary = std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
                .into_iter()
                .map(PathBuf::from)
                .find(|path| path.is_file())
        })?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = format!("redis://127.0.0.1:{port}");
    while redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection())
        .is_err()
    {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(redis)
}

const STATES: usize = 100;

fn hundred_states() {
    for i in 0..STATES {
        let key = format!("state-{i}");
        let _ = use_state!(key, factory = || 0_u64, durable);
    }
}

fn d2(iterations: usize) {
    let Some(redis) = start_redis() else {
        println!("D2 adopt 100 states from Redis: SKIPPED (no redis-server)");
        return;
    };
    RedisTier::configure(RedisConfig::from_env().url(format!("redis://127.0.0.1:{}", redis.1)))
        .unwrap();
    let store = RedisStore::new(Duration::from_secs(3600));
    let id = "00112233445566778899aabbccddeeff";
    let source = Session::new();
    source.run(|| {
        for i in 0..STATES {
            let key = format!("state-{i}");
            use_state!(key, factory = || 0_u64, durable)
                .set(i as u64 * 1_000)
                .unwrap();
        }
    });
    let changes: Changes = durable::changes(&source).unwrap();
    store.save(id, &changes);
    let mut times = Vec::with_capacity(iterations);
    for round in 0..iterations + 20 {
        let started = Instant::now();
        let snapshot = store.load(id).expect("stored");
        let session = Session::new();
        durable::adopt(&session, snapshot);
        session.run(hundred_states);
        let elapsed = started.elapsed();
        assert_eq!(
            session.state::<u64>(None, "state-99").get(),
            Ok(99_000),
            "adopted"
        );
        if round >= 20 {
            times.push(elapsed.as_nanos() as f64);
        }
    }
    println!(
        "D2 adopt {STATES} states from Redis: p50 {} p99 {} (target p50 <= 5 ms)",
        format_time(quantile(&times, 0.5)),
        format_time(quantile(&times, 0.99))
    );
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    d1(if quick { 300 } else { 2_000 });
    d2(if quick { 200 } else { 1_000 });
}
