//! The HTTP side: routes, the session registry, and each tab's WebSocket
//! loop (axum's `examples/websockets` and `examples/chat` are the model).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{OriginalUri, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::{sleep_until, Duration, Instant};

use crate::app::Config;
use crate::output::RunStatus;
use crate::protocol::{ClientMessage, ServerMessage};
use crate::render;
use crate::store::writer::Writer;
use crate::store::{self, SessionStore, Snapshot};
use crate::tab::{lock, Page, RerunRequest, Spawner, Tab};
use pagestate_core::durable;

pub(crate) fn router(host: Arc<Host>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ws", get(websocket))
        .with_state(host)
}

/// The live sessions of one app, by the id their tab keeps.
pub(crate) struct Host {
    page: Page,
    config: Config,
    sessions: Mutex<HashMap<String, Arc<Live>>>,
    /// Where sessions are stored (`None`: memory only), and its writer.
    store: Option<(Arc<dyn SessionStore>, Writer)>,
    /// This host's token in the leases of the sessions it runs.
    owner: String,
    /// Set by the shutdown's [`flush`](Host::flush).
    stopped: AtomicBool,
}

/// A session and the connection serving it (if any).
struct Live {
    id: String,
    tab: Arc<Tab>,
    /// (connection number, connected): a connection is current while its
    /// number is the latest.
    connection: Mutex<(u64, bool)>,
    /// The latest connection number: an older connection's loop ends when
    /// a newer one takes the session over (a reload).
    takeover: watch::Sender<u64>,
}

impl Host {
    pub(crate) fn new(page: Page, config: Config) -> Self {
        let store = config.store.open(config.session_idle).and_then(|store| {
            match Writer::start(Arc::clone(&store), config.write_behind) {
                Ok(writer) => Some((store, writer)),
                Err(error) => {
                    tracing::warn!(
                        "session store writer not started, sessions stay in memory: {error}"
                    );
                    None
                }
            }
        });
        Host {
            page,
            config,
            sessions: Mutex::new(HashMap::new()),
            store,
            owner: new_session_id(),
            stopped: AtomicBool::new(false),
        }
    }

    /// The store, when its sessions need a lease, and the lease's ttl.
    fn leasing(&self) -> Option<(Arc<dyn SessionStore>, Duration)> {
        let (store, _) = self.store.as_ref()?;
        store.lease_ttl().map(|ttl| (Arc::clone(store), ttl))
    }

    /// Takes the lease of session `id` for this host, waiting while
    /// another process holds it: until it is released or expires, at most
    /// three times its ttl and a second (then `false`: its holder is alive and
    /// keeps it). `true` at once when the store needs no lease.
    async fn take_lease(&self, id: &str) -> bool {
        let Some((store, ttl)) = self.leasing() else {
            return true;
        };
        let deadline = Instant::now() + ttl * 3 + Duration::from_secs(1);
        let mut pause = Duration::from_millis(5);
        loop {
            if self.stopped.load(Ordering::SeqCst) {
                return false;
            }
            let (store, key, owner) = (Arc::clone(&store), id.to_owned(), self.owner.clone());
            let taken = tokio::task::spawn_blocking(move || store.acquire_lease(&key, &owner))
                .await
                .unwrap_or(false);
            if taken {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tracing::debug!(session = %id, "session leased by another process: waiting");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Renews this host's lease of session `id` while the connection
    /// lasts; returns when the lease is lost (never without a lease).
    async fn hold_lease(&self, id: &str) {
        let Some((store, ttl)) = self.leasing() else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(ttl / 3).await;
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let (renewing, key, owner) = (Arc::clone(&store), id.to_owned(), self.owner.clone());
            let held = tokio::task::spawn_blocking(move || renewing.renew_lease(&key, &owner))
                .await
                .unwrap_or(true);
            if self.stopped.load(Ordering::SeqCst) {
                // Renewed across the shutdown's release: let go again.
                let (store, key, owner) = (Arc::clone(&store), id.to_owned(), self.owner.clone());
                let _ =
                    tokio::task::spawn_blocking(move || store.release_lease(&key, &owner)).await;
                return;
            }
            if !held {
                tracing::warn!(session = %id, "session lease lost: connection closed");
                return;
            }
        }
    }

    /// The stored session `offered`, when this host does not hold it live
    /// and the store has it.
    ///
    /// Also for a live session whose tab is away: another replica may have
    /// served the tab meanwhile and stored a newer version (round-robin
    /// balancing without affinity), which `attach` then takes instead.
    async fn stored(&self, offered: Option<&str>) -> Option<(String, Snapshot)> {
        let id = offered.filter(|id| store::valid_id(id))?;
        if let Some(live) = lock(&self.sessions).get(id) {
            if lock(&live.connection).1 {
                return None;
            }
        }
        let (store, _) = self.store.as_ref()?;
        let (store, id) = (Arc::clone(store), id.to_owned());
        tokio::task::spawn_blocking(move || store.load(&id).map(|snapshot| (id, snapshot)))
            .await
            .ok()
            .flatten()
    }

    /// Stores every live session's changes now, waiting until written,
    /// then releases their leases: a clean shutdown, after which this host
    /// neither takes nor renews a lease (its connections end), so another
    /// replica, or the restarted process, adopts the sessions at once.
    pub(crate) fn flush(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let Some((_, writer)) = &self.store else {
            return;
        };
        let live: Vec<Arc<Live>> = lock(&self.sessions).values().cloned().collect();
        for live in &live {
            writer.dirty(&live.id, &live.tab.session);
        }
        writer.flush();
        if let Some((store, _)) = self.leasing() {
            for live in &live {
                store.release_lease(&live.id, &self.owner);
            }
        }
    }

    /// The session with id `offered`, or a new one (with a new id) when
    /// it is unknown, with the number of the connection that now serves it
    /// and whether it is new; `None` past the session cap.
    ///
    /// The connection is counted under the registry's lock, so a session
    /// whose grace runs out meanwhile is either found and kept, or gone.
    ///
    /// `stored`: a session of the store to adopt under its own id.
    fn attach(
        &self,
        offered: Option<&str>,
        stored: Option<(String, Snapshot)>,
    ) -> Option<(Arc<Live>, u64, bool)> {
        let mut sessions = lock(&self.sessions);
        if let Some(live) = offered.and_then(|id| sessions.get(id)).cloned() {
            let newer = stored.as_ref().is_some_and(|(_, snapshot)| {
                snapshot.generation > durable::generation(&live.tab.session)
            });
            if !newer || lock(&live.connection).1 {
                let number = live.connect();
                return Some((live, number, false));
            }
            // Another host moved the session on: this copy is stale.
            tracing::debug!(session = %live.id, "stale copy replaced by the stored session");
            sessions.remove(&live.id);
            live.tab.close();
        } else if sessions.len() >= self.config.max_sessions {
            return None;
        }
        let tab = Tab::new(
            Arc::clone(&self.page),
            Spawner::Blocking(tokio::runtime::Handle::current()),
        );
        let id = match stored {
            Some((id, snapshot)) => {
                tracing::debug!(session = %id, "stored session adopted");
                durable::adopt(&tab.session, snapshot);
                id
            }
            None => new_session_id(),
        };
        if let Some((_, writer)) = &self.store {
            let (writer, key) = (writer.clone(), id.clone());
            let _ = tab.after_run.set(Box::new(move |tab: &Tab| {
                writer.dirty(&key, &tab.session);
            }));
        }
        let live = Arc::new(Live {
            id: id.clone(),
            tab,
            connection: Mutex::new((0, false)),
            takeover: watch::Sender::new(0),
        });
        sessions.insert(id, Arc::clone(&live));
        let number = live.connect();
        Some((live, number, true))
    }

    /// The connection ended: unless a newer one took over, the session
    /// waits `reconnect_grace` for its tab to come back, then closes.
    fn disconnect(self: &Arc<Self>, live: &Arc<Live>, number: u64) {
        {
            let mut connection = lock(&live.connection);
            if connection.0 != number {
                return;
            }
            connection.1 = false;
        }
        if let (Some((store, _)), Some((_, writer))) = (self.leasing(), &self.store) {
            // The next owner adopts the latest state: store it, then let go.
            let (live, writer, owner) = (Arc::clone(live), writer.clone(), self.owner.clone());
            tokio::task::spawn_blocking(move || {
                writer.dirty(&live.id, &live.tab.session);
                writer.flush();
                if *lock(&live.connection) == (number, false) {
                    store.release_lease(&live.id, &owner);
                }
            });
        }
        let host = Arc::clone(self);
        let live = Arc::clone(live);
        tokio::spawn(async move {
            tokio::time::sleep(host.config.reconnect_grace).await;
            let mut sessions = lock(&host.sessions);
            let expired = *lock(&live.connection) == (number, false);
            if expired {
                // Unless a stored version replaced it under the same id.
                if sessions
                    .get(&live.id)
                    .is_some_and(|held| Arc::ptr_eq(held, &live))
                {
                    sessions.remove(&live.id);
                }
                drop(sessions);
                tracing::debug!(session = %live.tab.session.id(), "session closed after the reconnect grace");
                live.tab.close();
            }
        });
    }
}

impl Live {
    /// A new connection serves this session: older ones end.
    fn connect(&self) -> u64 {
        let number = {
            let mut connection = lock(&self.connection);
            connection.0 += 1;
            connection.1 = true;
            connection.0
        };
        self.takeover.send_replace(number);
        number
    }
}

fn new_session_id() -> String {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn index(State(host): State<Arc<Host>>, OriginalUri(uri): OriginalUri) -> Html<String> {
    let path = uri.path();
    let ws = if path.ends_with('/') {
        format!("{path}ws")
    } else {
        format!("{path}/ws")
    };
    Html(render::shell(&host.config.title, &ws))
}

#[derive(Deserialize)]
struct Offer {
    session: Option<String>,
}

/// Browsers always send `Origin` on a WebSocket handshake: a page from
/// another site must not drive a user's session (cross-site WebSocket
/// hijacking). Clients without an `Origin` (not browsers) pass.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(|host| host.to_str()),
    ) else {
        return false;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// The read buffer of each tab's WebSocket, in bytes.
const READ_BUFFER: usize = 4 * 1024;

async fn websocket(
    State(host): State<Arc<Host>>,
    headers: HeaderMap,
    Query(offer): Query<Offer>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        tracing::warn!(
            origin = ?headers.get(header::ORIGIN),
            host = ?headers.get(header::HOST),
            "cross-site WebSocket refused"
        );
        return (StatusCode::FORBIDDEN, "cross-site WebSocket refused").into_response();
    }
    let limit = host.config.max_message_size;
    upgrade
        // tungstenite's default read buffer is 128 KiB, zero-filled on the
        // first read: resident memory for every idle tab. A tab sends small
        // messages; a larger one is read in more steps.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve_socket(host, socket, offer.session))
}

async fn serve_socket(host: Arc<Host>, mut socket: WebSocket, offered: Option<String>) {
    // One process runs a session at a time: the tab shows it is connecting
    // until this host holds the session's lease, then adopts what the last
    // holder stored.
    let offered = offered.filter(|id| store::valid_id(id));
    if let Some(id) = &offered {
        if !host.take_lease(id).await {
            tracing::warn!(session = %id, "session still leased by another process: connection closed");
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    }
    let stored = host.stored(offered.as_deref()).await;
    let attached = host.attach(offered.as_deref(), stored);
    let leased = attached.as_ref().map(|(live, _, _)| live.id.as_str());
    if let Some(id) = offered.as_deref().filter(|id| Some(*id) != leased) {
        // Not served under this id (a new session, or none): let go.
        if let Some((store, _)) = host.leasing() {
            let (id, owner) = (id.to_owned(), host.owner.clone());
            let _ = tokio::task::spawn_blocking(move || store.release_lease(&id, &owner)).await;
        }
    }
    let Some((live, number, fresh)) = attached else {
        tracing::warn!(
            max = host.config.max_sessions,
            "session cap reached: new tab refused"
        );
        let busy = ServerMessage::Busy {
            html: render::busy(host.config.max_sessions),
        };
        let _ = socket.send(Message::Text(busy.to_json().into())).await;
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let mut takeover = live.takeover.subscribe();
    // A newer connection may have come before this subscription: look once.
    takeover.mark_changed();
    let mut frames = live.tab.frames.subscribe();
    frames.mark_changed();

    if offered.as_deref() != Some(live.id.as_str()) && !host.take_lease(&live.id).await {
        // A new random id: nobody else can hold its lease.
        tracing::warn!(session = %live.id, "new session's lease not taken");
    }
    let hello = ServerMessage::Hello { session: &live.id }.to_json();
    if socket.send(Message::Text(hello.into())).await.is_ok() {
        if fresh {
            live.tab.request(RerunRequest::default());
        }
        let lease = host.hold_lease(&live.id);
        socket_loop(
            &live,
            &mut socket,
            &mut frames,
            &mut takeover,
            number,
            lease,
        )
        .await;
    }
    host.disconnect(&live, number);
}

/// While a run draws, a tab gets its drawing at most this often (a fast run
/// sends only its final frame); a run's end is sent at once. A running page
/// that draws nothing new costs one look, then nothing until it draws.
const STREAM_INTERVAL: Duration = Duration::from_millis(20);

async fn socket_loop(
    live: &Live,
    socket: &mut WebSocket,
    frames: &mut watch::Receiver<u64>,
    takeover: &mut watch::Receiver<u64>,
    number: u64,
    lease: impl std::future::Future<Output = ()>,
) {
    let session = live.tab.session.id();
    tokio::pin!(lease);
    // When the drawing of a running page is next looked at.
    let mut flush_at: Option<Instant> = None;
    // What the tab shows (hashes of main, sidebar), so unchanged areas are not resent,
    // and the version of the drawing last sent.
    // Nothing is known of a new page yet: its first frame carries both areas.
    let mut shown = [u64::MAX, u64::MAX];
    let mut sent_version = None;
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ClientMessage>(text.as_str()) {
                        Ok(message) => live.tab.request(message.into_request()),
                        Err(error) => tracing::warn!(%session, "malformed message ignored: {error}"),
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    tracing::warn!(%session, "binary message ignored")
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::debug!(%session, "connection ended: {error}");
                    break;
                }
            },
            changed = frames.changed() => {
                if changed.is_err() {
                    break;
                }
                let running = lock(&live.tab.output).status == RunStatus::Running;
                if running {
                    flush_at.get_or_insert_with(|| Instant::now() + STREAM_INTERVAL);
                } else {
                    flush_at = None;
                    if send_frame(live, socket, &mut shown, &mut sent_version).await.is_err() {
                        break;
                    }
                }
            }
            _ = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                flush_at = None;
                // Ask to be woken by the next drawing first, then look: a
                // drawing either shows here or sees the request.
                live.tab.wake_on_draw.store(true, Ordering::SeqCst);
                let (version, running) = {
                    let output = lock(&live.tab.output);
                    (output.version, output.status == RunStatus::Running)
                };
                if sent_version != Some(version) {
                    live.tab.wake_on_draw.store(false, Ordering::SeqCst);
                    if send_frame(live, socket, &mut shown, &mut sent_version).await.is_err() {
                        break;
                    }
                    if running {
                        flush_at = Some(Instant::now() + STREAM_INTERVAL);
                    }
                }
            }
            () = &mut lease => break,
            _ = takeover.changed() => {
                if *takeover.borrow_and_update() != number {
                    // Another page of this tab (a reload) or a copy of it (a
                    // duplicated tab shares its sessionStorage) took the
                    // session: if this page still lives, it starts a new one.
                    let moved = ServerMessage::Moved.to_json();
                    let _ = socket.send(Message::Text(moved.into())).await;
                    break;
                }
            }
        }
    }
}

/// Sends the tab's current drawing.
async fn send_frame(
    live: &Live,
    socket: &mut WebSocket,
    shown: &mut [u64; 2],
    sent_version: &mut Option<u64>,
) -> Result<(), axum::Error> {
    let frame = {
        let output = lock(&live.tab.output);
        *sent_version = Some(output.version);
        ServerMessage::frame(&output, shown).to_json()
    };
    socket.send(Message::Text(frame.into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_origin_must_name_the_served_host() {
        let allowed = [
            (Some("http://127.0.0.1:8501"), Some("127.0.0.1:8501")),
            (Some("https://app.example"), Some("app.example")),
            (Some("http://App.Example"), Some("app.example")),
            // Not a browser: no Origin at all.
            (None, Some("127.0.0.1:8501")),
            (None, None),
        ];
        for (origin, host) in allowed {
            assert!(same_origin(&headers(origin, host)), "{origin:?} {host:?}");
        }
        let refused = [
            (Some("http://evil.example"), Some("app.example")),
            (Some("http://app.example.evil.example"), Some("app.example")),
            (Some("http://127.0.0.1:8502"), Some("127.0.0.1:8501")),
            (Some("null"), Some("app.example")),
            (Some("file://"), Some("app.example")),
            (Some("app.example"), Some("app.example")),
            (Some("http://app.example"), None),
        ];
        for (origin, host) in refused {
            assert!(!same_origin(&headers(origin, host)), "{origin:?} {host:?}");
        }
    }

    #[test]
    fn session_ids_are_128_random_bits_in_hex() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
