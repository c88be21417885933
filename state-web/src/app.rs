//! [`App`]: a page function, served alone or as a router in a bigger service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::server::{self, Host};
use crate::tab::Page;

/// How an [`App`] serves its page.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) address: SocketAddr,
    pub(crate) title: String,
    pub(crate) reconnect_grace: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) max_message_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: SocketAddr::from(([127, 0, 0, 1], 8501)),
            title: "pagestate".to_owned(),
            reconnect_grace: Duration::from_secs(120),
            max_sessions: 10_000,
            max_message_size: 1 << 20,
        }
    }
}

/// A web app: one page function served to browser tabs, one session per tab.
///
/// ```no_run
/// use pagestate::web::{ui, App};
///
/// fn page() {
///     ui::title("Hello");
///     let name = ui::text_input("Your name");
///     if ui::button("Greet") {
///         ui::success(format!("Hello, {name}!"));
///     }
/// }
///
/// fn main() -> std::io::Result<()> {
///     App::new(page).run() // serves http://127.0.0.1:8501/
/// }
/// ```
///
/// Or nested in a larger axum service:
///
/// ```no_run
/// # use pagestate::web::{ui, App};
/// # async fn serve() -> std::io::Result<()> {
/// let app = axum::Router::new().nest("/dashboard", App::new(|| ui::text("hi")).router());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone)]
pub struct App {
    page: Page,
    config: Config,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// An app that runs `page` for every tab, on every interaction.
    pub fn new(page: impl Fn() + Send + Sync + 'static) -> Self {
        App {
            page: Arc::new(page),
            config: Config::default(),
        }
    }

    /// Where [`run`](Self::run) listens (default `127.0.0.1:8501`).
    pub fn address(mut self, address: impl Into<SocketAddr>) -> Self {
        self.config.address = address.into();
        self
    }

    /// The browser tab's title (default `pagestate`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.config.title = title.into();
        self
    }

    /// How long a tab whose connection dropped keeps its session, waiting
    /// for it to reconnect (default 120 s). After it, the session closes:
    /// its state and session-scoped cache entries are freed.
    pub fn reconnect_grace(mut self, grace: Duration) -> Self {
        self.config.reconnect_grace = grace;
        self
    }

    /// The most sessions alive at once (default 10,000). A new tab past it
    /// gets a "server busy" page; existing tabs are unaffected.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.config.max_sessions = max;
        self
    }

    /// The largest message a tab may send, in bytes (default 1 MiB); a
    /// larger one closes that tab's connection (it reconnects).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// The app as an axum [`Router`]: `GET /` serves the page, `GET /ws`
    /// its WebSocket. Nest it anywhere (`Router::nest("/app", ..)`).
    ///
    /// Each call makes an independent host with its own sessions.
    ///
    /// The WebSocket accepts a browser only if its `Origin` names the host
    /// in the request's `Host` header (no cross-site WebSocket hijacking): a
    /// reverse proxy in front must pass `Host` through unchanged.
    pub fn router(&self) -> Router {
        server::router(Arc::new(Host::new(
            Arc::clone(&self.page),
            self.config.clone(),
        )))
    }

    /// Serves the app on `listener` until the process ends (for your own
    /// tokio runtime; [`run`](Self::run) makes one).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        tracing::info!(address = %listener.local_addr()?, "pagestate web app serving");
        axum::serve(listener, self.router()).await
    }

    /// Serves the app on its [`address`](Self::address), printing the URL
    /// once it listens, until the process ends.
    pub fn run(self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(self.config.address).await?;
            println!("pagestate: serving on http://{}/", listener.local_addr()?);
            self.serve(listener).await
        })
    }
}
