//! A `redis-server` of a test's own, on a free loopback port (the helper of
//! tests/redis.rs, shared with the durable-session tests through `#[path]`).
//!
//! Without `redis-server` on the machine, `start` says so on stderr and
//! returns `None` (the test passes visibly skipped), unless `CI` is set:
//! then it fails.
// Each test file uses the part it needs.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A `redis-server` on a loopback port, killed when dropped.
pub struct RedisServer {
    port: u16,
    process: Child,
}

impl RedisServer {
    /// A fresh server on a free port; `None` (after saying why on stderr)
    /// when `redis-server` is not installed and `CI` is not set.
    pub fn start(test: &str) -> Option<RedisServer> {
        let Some(binary) = redis_server_binary() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: `redis-server` is required for the Redis tests (apt-get install redis-server)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: `redis-server` not found (install Debian's redis-server, or set \
                 REDIS_SERVER to its path)"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let process = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = RedisServer { port, process };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut conn) = server.try_connect() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    let _ = writeln!(std::io::stderr(), "pagestate redis test ran: {test}");
                    return Some(server);
                }
            }
            assert!(Instant::now() < deadline, "redis-server never answered");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// A raw connection, to look at or plant entries.
    pub fn conn(&self) -> redis::Connection {
        self.try_connect()
            .expect("connect to the test's redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}
