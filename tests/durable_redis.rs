//! Sessions stored in Redis (`RedisStore`), against a `redis-server` this
//! test starts: what is written (only changed fields, under the prefix,
//! expiring), corrupt and foreign entries, and a session moving from one
//! host to another that shares the Redis (two replicas in one process).
//!
//! One test function: the Redis tier is configured once per process.

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/ws_tab.rs"]
mod ws_tab;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pagestate::durable::{Changes, Entry, Snapshot};
use pagestate::use_state;
use pagestate::web::store::{RedisStore, SessionStore};
use pagestate::web::{ui, App};
use redis_server::RedisServer;
use serde_json::{json, Value};
use ws_tab::{connect, send, shows};

const PREFIX: &str = "durable-test:";
const ID: &str = "0123456789abcdef0123456789abcdef";
const PATIENCE: Duration = Duration::from_secs(30);

fn entry(key: &str, value: Value) -> Entry {
    Entry {
        namespace: None,
        key: key.into(),
        value,
    }
}

fn changes(values: Vec<Entry>, changed: &[&str], removed: &[&str]) -> Changes {
    Changes {
        snapshot: Snapshot {
            values,
            volatile: vec![(Some("page".into()), "plain".into())],
            generation: 1,
        },
        changed: changed.iter().map(|k| (None, (*k).to_owned())).collect(),
        removed: removed.iter().map(|k| (None, (*k).to_owned())).collect(),
    }
}

fn page() {
    let count = use_state!("count", factory = || 0_u32, durable);
    if ui::Button::new("Add").key("add").show() {
        count.reduce(|n, by| n + by, 1).unwrap();
    }
    let name = ui::TextInput::new("Name").key("name").show();
    ui::text(format!("count={} name={name}", count.get().unwrap()));
}

#[test]
fn sessions_in_redis() {
    let Some(server) = RedisServer::start("sessions_in_redis") else {
        return;
    };
    server.configure_tier(PREFIX);
    let mut conn = server.conn();
    let key = format!("{PREFIX}session:{ID}");
    let store = RedisStore::new(Duration::from_secs(3600));

    // Saved whole, loaded back, under the prefix, expiring.
    assert_eq!(store.load(ID), None);
    let both = vec![entry("count", json!(3)), entry("name", json!("Ada"))];
    store.save(ID, &changes(both.clone(), &["count", "name"], &[]));
    let loaded = store.load(ID).expect("stored");
    assert_eq!(loaded.values, both);
    assert_eq!(loaded.volatile, [(Some("page".into()), "plain".into())]);
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
    assert!(ttl > 0 && ttl <= 3_600_000, "ttl {ttl}");

    // Only changed fields are written: a field planted behind the store's
    // back survives a save that did not change it.
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(r#"[null,"count"]"#)
        .arg("99")
        .query(&mut conn)
        .unwrap();
    store.save(
        ID,
        &changes(
            vec![entry("count", json!(3)), entry("name", json!("Grace"))],
            &["name"],
            &[],
        ),
    );
    let loaded = store.load(ID).unwrap();
    assert_eq!(loaded.get(None, "count"), Some(&json!(99)));
    assert_eq!(loaded.get(None, "name"), Some(&json!("Grace")));
    // A removed value's field goes.
    store.save(ID, &changes(vec![entry("count", json!(3))], &[], &["name"]));
    assert_eq!(store.load(ID).unwrap().get(None, "name"), None);

    // Corrupt or foreign entries are fresh sessions, not panics.
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(r#"[null,"count"]"#)
        .arg("{not json")
        .query(&mut conn)
        .unwrap();
    assert_eq!(store.load(ID), None);
    let _: () = redis::cmd("DEL").arg(&key).query(&mut conn).unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("owner")
        .arg("another app")
        .query(&mut conn)
        .unwrap();
    assert_eq!(store.load(ID), None);
    // Ids that are not host-made are never keys.
    store.save("../x", &changes(both.clone(), &["count"], &[]));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{PREFIX}session:*"))
        .query(&mut conn)
        .unwrap();
    assert_eq!(keys, std::slice::from_ref(&key));
    store.remove(ID);
    assert_eq!(store.load(ID), None);

    // Idle sessions expire.
    let brief = RedisStore::new(Duration::from_millis(50));
    brief.save(ID, &changes(both, &["count", "name"], &[]));
    let deadline = Instant::now() + PATIENCE;
    while brief.load(ID).is_some() {
        assert!(Instant::now() < deadline, "never expired");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A session moves between two hosts sharing the Redis.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(moves_between_replicas());
    runtime.block_on(returns_to_a_replica_with_a_stale_copy());
}

fn replica() -> App {
    App::new(page)
        .session_store(RedisStore::new(Duration::from_secs(3600)))
        .write_behind(Duration::from_millis(20))
}

async fn serve(app: App) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (address, tokio::spawn(app.serve(listener)))
}

async fn moves_between_replicas() {
    let (first, first_task) = serve(replica()).await;
    let (second, _second_task) = serve(replica()).await;
    let (mut tab, id) = connect(first, None).await;
    shows(&mut tab, "count=0").await;
    for n in 1..=3 {
        send(&mut tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
        shows(&mut tab, &format!("count={n} ")).await;
    }
    send(
        &mut tab,
        json!({"t": "rerun", "values": {"key:name": "Ada"}}),
    )
    .await;
    shows(&mut tab, "count=3 name=Ada").await;
    // Written behind within its lag.
    let store = RedisStore::new(Duration::from_secs(3600));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stored = tokio::task::block_in_place(|| store.load(&id));
        let count = stored.as_ref().and_then(|s| s.get(None, "count").cloned());
        let name = stored
            .as_ref()
            .and_then(|s| s.get(Some(pagestate::web::WIDGETS), "name").cloned());
        if count == Some(json!(3)) && name == Some(json!("Ada")) {
            break;
        }
        assert!(Instant::now() < deadline, "stored: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first replica dies; the tab reconnects to the second.
    first_task.abort();
    drop(tab);
    let (mut moved, moved_id) = connect(second, Some(&id)).await;
    assert_eq!(moved_id, id);
    shows(&mut moved, "count=3 name=Ada").await;
    send(&mut moved, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut moved, "count=4 name=Ada").await;
}

/// Round robin without affinity: the tab goes back to a replica that still
/// holds an older copy of its session, which must not win.
async fn returns_to_a_replica_with_a_stale_copy() {
    let (first, _first_task) = serve(replica()).await;
    let (second, _second_task) = serve(replica()).await;
    let store = RedisStore::new(Duration::from_secs(3600));
    let (mut tab, id) = connect(first, None).await;
    shows(&mut tab, "count=0").await;
    send(&mut tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut tab, "count=1 ").await;
    stored_count(&store, &id, 1).await;
    drop(tab);
    // The next connection goes to the other replica, which adopts it.
    let (mut tab, _) = connect(second, Some(&id)).await;
    shows(&mut tab, "count=1 ").await;
    send(&mut tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut tab, "count=2 ").await;
    stored_count(&store, &id, 2).await;
    drop(tab);
    // Back on the first replica, whose copy still says 1.
    let (mut tab, back) = connect(first, Some(&id)).await;
    assert_eq!(back, id);
    shows(&mut tab, "count=2 ").await;
    send(&mut tab, json!({"t": "rerun", "triggers": ["key:add"]})).await;
    shows(&mut tab, "count=3 ").await;
}

async fn stored_count(store: &RedisStore, id: &str, count: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stored = tokio::task::block_in_place(|| store.load(id));
        if stored.as_ref().and_then(|s| s.get(None, "count").cloned()) == Some(json!(count)) {
            return;
        }
        assert!(Instant::now() < deadline, "stored: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
