//! One process runs a session at a time: the lease of `RedisStore`, with
//! two hosts (replicas in one process) sharing a `redis-server` this test
//! starts.
//!
//! One test function: the Redis tier is configured once per process.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/ws_tab.rs"]
mod ws_tab;

use std::net::SocketAddr;
use std::time::Duration;

use pagestate::use_state;
use pagestate::web::store::{RedisStore, SessionStore};
use pagestate::web::{ui, App};
use redis_server::RedisServer;
use serde_json::json;
use ws_tab::{connect, send, shows};

const PREFIX: &str = "lease-test:";
/// Short, so that a lease left behind does not make the test slow; long
/// enough to be renewed on a loaded machine.
const LEASE: Duration = Duration::from_secs(5);

fn page() {
    let count = use_state!("count", factory = || 0_u32, durable);
    if ui::Button::new("Add").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    ui::text(format!("count={} ", count.get().unwrap()));
}

fn replica() -> App {
    App::new(page)
        .session_store(RedisStore::new(Duration::from_secs(3600)).lease(LEASE))
        // Long: only the lease's release makes the session's state current
        // in Redis when the tab moves.
        .write_behind(Duration::from_secs(3600))
}

async fn serve(app: App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener));
    address
}

#[test]
fn one_replica_runs_a_session_at_a_time() {
    let Some(server) = RedisServer::start("one_replica_runs_a_session_at_a_time") else {
        return;
    };
    server.configure_tier(PREFIX);
    lease_of_the_store(&server);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let hosts = [serve(replica()).await, serve(replica()).await];
        alternating_clicks(hosts).await;
        waits_for_the_holder(hosts, &server).await;
        a_lost_lease_ends_the_connection(hosts[0], &server).await;
        a_stopped_host_lets_go().await;
    });
}

/// The store's lease: one owner at a time, under the prefix, expiring,
/// released only by its owner.
fn lease_of_the_store(server: &RedisServer) {
    const ID: &str = "0123456789abcdef0123456789abcdef";
    let store = RedisStore::new(Duration::from_secs(3600)).lease(Duration::from_secs(60));
    assert_eq!(store.lease_ttl(), Some(Duration::from_secs(60)));
    let mut conn = server.conn();
    let key = format!("{PREFIX}session:{ID}:lease");

    assert!(store.acquire_lease(ID, "a"));
    assert!(store.acquire_lease(ID, "a"), "the owner takes it again");
    assert!(!store.acquire_lease(ID, "b"));
    assert!(!store.renew_lease(ID, "b"));
    let owner: String = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    assert_eq!(owner, "a");
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "ttl {ttl}");
    assert!(store.renew_lease(ID, "a"));
    // Only the owner releases it.
    store.release_lease(ID, "b");
    assert!(!store.acquire_lease(ID, "b"));
    store.release_lease(ID, "a");
    assert!(store.acquire_lease(ID, "b"));
    assert!(!store.renew_lease(ID, "a"));
    // A renewal takes back a lease nobody holds (nobody ran the session).
    store.release_lease(ID, "b");
    assert!(store.renew_lease(ID, "a"));
    assert!(!store.acquire_lease(ID, "b"));

    // A lease whose holder stops renewing expires.
    let brief = RedisStore::new(Duration::from_secs(3600)).lease(Duration::from_millis(50));
    store.release_lease(ID, "a");
    assert!(brief.acquire_lease(ID, "dead"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !brief.acquire_lease(ID, "next") {
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
    brief.release_lease(ID, "next");
}

/// Two tabs holding one session id, on two replicas, alternate 100 clicks:
/// none is lost.
async fn alternating_clicks(hosts: [SocketAddr; 2]) {
    let (mut tab, id) = connect(hosts[0], None).await;
    shows(&mut tab, "count=0 ").await;
    drop(tab);
    for click in 1..=100 {
        let (mut tab, served) = connect(hosts[click % 2], Some(&id)).await;
        assert_eq!(served, id);
        shows(&mut tab, &format!("count={} ", click - 1)).await;
        send(&mut tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
        shows(&mut tab, &format!("count={click} ")).await;
    }
    let (mut tab, _) = connect(hosts[1], Some(&id)).await;
    shows(&mut tab, "count=100 ").await;
}

/// While one replica serves the session, the other does not run it: the
/// tab waits (no hello, no frame) until the holder lets go, then shows the
/// holder's latest count.
async fn waits_for_the_holder(hosts: [SocketAddr; 2], server: &RedisServer) {
    let (mut first, id) = connect(hosts[0], None).await;
    shows(&mut first, "count=0 ").await;
    send(&mut first, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut first, "count=1 ").await;
    let lease_key = format!("{PREFIX}session:{id}:lease");
    let mut conn = server.conn();
    let held: Option<String> = redis::cmd("GET").arg(&lease_key).query(&mut conn).unwrap();
    assert!(held.is_some(), "the serving replica holds the lease");

    let waiting = tokio::spawn({
        let id = id.clone();
        async move { connect(hosts[1], Some(&id)).await }
    });
    // The holder keeps the session past the lease's ttl (it renews), and
    // runs it: the other tab gets nothing meanwhile.
    for n in 2..=4 {
        tokio::time::sleep(LEASE / 2).await;
        send(&mut first, json!({"t": "rerun", "triggers": ["key:add"]})).await;
        shows(&mut first, &format!("count={n} ")).await;
        assert!(
            !waiting.is_finished(),
            "second replica served a leased session"
        );
    }
    drop(first);
    let (mut second, served) = waiting.await.unwrap();
    assert_eq!(served, id);
    shows(&mut second, "count=4 ").await;
    send(&mut second, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut second, "count=5 ").await;
}

/// A host that stops cleanly (SIGTERM, Ctrl-C: `serve_until`) stores its
/// sessions and releases their leases: another replica adopts them at once,
/// not after the lease's ttl (five minutes here, far beyond the test tab's
/// patience of 30 s, and renewed only every 100 s).
async fn a_stopped_host_lets_go() {
    let long = || {
        App::new(page)
            .session_store(
                RedisStore::new(Duration::from_secs(3600)).lease(Duration::from_secs(300)),
            )
            .write_behind(Duration::from_secs(3600))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stopping = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopping_task = tokio::spawn(long().serve_until(listener, async {
        let _ = stopped.await;
    }));
    let other = serve(long()).await;

    let (mut tab, id) = connect(stopping, None).await;
    shows(&mut tab, "count=0 ").await;
    send(&mut tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut tab, "count=1 ").await;
    stop.send(()).unwrap();
    stopping_task.await.unwrap().unwrap();
    // A copy of the tab (the connection to the stopped host may linger)
    // gets the session on the other replica.
    let (mut moved, served) = connect(other, Some(&id)).await;
    assert_eq!(served, id);
    shows(&mut moved, "count=1 ").await;
    drop(tab);
}

/// A host that finds its lease taken by another (it stalled past the ttl
/// and another replica adopted the session) stops serving the tab: the
/// connection closes, and the tab reconnects.
async fn a_lost_lease_ends_the_connection(host: SocketAddr, server: &RedisServer) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let (mut tab, id) = connect(host, None).await;
    shows(&mut tab, "count=0 ").await;
    let mut conn = server.conn();
    let _: () = redis::cmd("SET")
        .arg(format!("{PREFIX}session:{id}:lease"))
        .arg("another replica")
        .query(&mut conn)
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), tab.next())
            .await
            .expect("the connection ends within the renewal period");
        match message {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(text))) => {
                assert!(
                    !text.contains("moved"),
                    "a lost lease is not a takeover: {text}"
                );
            }
            Some(Ok(_)) => {}
        }
    }
}
