//! A `redis-server` of a test's own, on a free loopback port, that the test
//! may kill and restart on the same port. Shared through `#[path]` by the
//! Redis tier's tests and the durable-session tests.
//!
//! Without `redis-server` on the machine, `start` says so on stderr and
//! returns `None` (the test passes visibly skipped), unless `CI` is set:
//! then it fails. A started server writes `pagestate redis test ran: NAME`
//! to stderr, which `.ci/run` counts.
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
    binary: PathBuf,
    port: u16,
    process: Option<Child>,
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
        let server = RedisServer::start_on(binary, free_port());
        let _ = writeln!(std::io::stderr(), "pagestate redis test ran: {test}");
        Some(server)
    }

    pub fn start_on(binary: PathBuf, port: u16) -> RedisServer {
        let mut server = RedisServer {
            binary,
            port,
            process: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "already running");
        let process = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut conn) = self.try_connect() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server never answered");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`, and waits until the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// Points this process's Redis tier at this server under `prefix`, with
    /// timeouts generous enough for a loaded machine.
    pub fn configure_tier(&self, prefix: &str) {
        pagestate::RedisTier::configure(
            pagestate::RedisConfig::from_env()
                .url(self.url())
                .prefix(prefix)
                .connect_timeout(Duration::from_secs(5))
                .command_timeout(Duration::from_secs(5)),
        )
        .unwrap();
    }

    /// A raw connection, to look at or plant entries.
    pub fn conn(&self) -> redis::Connection {
        self.try_connect()
            .expect("connect to the test's redis-server")
    }

    /// The value keys (not leases, generations) under `prefix`.
    pub fn value_keys(&self, prefix: &str) -> Vec<String> {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut self.conn())
            .unwrap();
        keys.into_iter()
            .filter(|key| {
                let rest = &key[prefix.len()..];
                rest.len() == 65
                    && rest.as_bytes()[32] == b':'
                    && rest
                        .bytes()
                        .enumerate()
                        .all(|(i, b)| i == 32 || b.is_ascii_hexdigit())
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
