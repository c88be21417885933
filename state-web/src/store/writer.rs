//! Write-behind: after a run completes, its session is queued here and a
//! background thread stores what changed within the lag, off the
//! interaction's path.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pagestate_core::{durable, Session};

use super::SessionStore;

enum Message {
    Dirty(String, Session),
    /// Store everything queued now, then answer.
    Flush(mpsc::Sender<()>),
}

/// The handle of one host's writer thread; the thread ends (after storing
/// what is queued) when the last handle drops.
#[derive(Clone)]
pub(crate) struct Writer {
    sender: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the writer thread: a queued session is stored at most `lag`
    /// after its first queued change.
    pub(crate) fn start(store: Arc<dyn SessionStore>, lag: Duration) -> std::io::Result<Writer> {
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("pagestate-session-store".into())
            .spawn(move || write_loop(&*store, &receiver, lag))?;
        Ok(Writer { sender })
    }

    /// Queues session `id` to be stored.
    pub(crate) fn dirty(&self, id: &str, session: &Session) {
        let _ = self
            .sender
            .send(Message::Dirty(id.to_owned(), session.clone()));
    }

    /// Stores everything queued, waiting until it is written.
    pub(crate) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

fn write_loop(store: &dyn SessionStore, receiver: &mpsc::Receiver<Message>, lag: Duration) {
    let mut queued: HashMap<String, Session> = HashMap::new();
    let mut due = Instant::now();
    loop {
        let message = if queued.is_empty() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(due.saturating_duration_since(Instant::now()))
        };
        match message {
            Ok(Message::Dirty(id, session)) => {
                if queued.is_empty() {
                    due = Instant::now() + lag;
                }
                queued.insert(id, session);
            }
            Ok(Message::Flush(done)) => {
                write(store, &mut queued);
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => write(store, &mut queued),
            Err(RecvTimeoutError::Disconnected) => {
                write(store, &mut queued);
                return;
            }
        }
    }
}

fn write(store: &dyn SessionStore, queued: &mut HashMap<String, Session>) {
    for (id, session) in queued.drain() {
        if let Some(changes) = durable::changes(&session) {
            store.save(&id, &changes);
        }
    }
}
