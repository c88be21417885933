//! Write-behind: after a run completes, its session is queued here and a
//! background thread stores what changed within the lag, off the
//! interaction's path.
//!
//! Queuing a session that is already queued costs a lock and a lookup: the
//! writer thread is woken only by the first session of a batch, so a busy
//! tab does not wake it on every click.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pagestate_core::{durable, Session};

use super::SessionStore;
use crate::tab::lock;

enum Message {
    /// A batch started: store it when the lag has passed.
    Wake,
    /// Store everything queued now, then answer.
    Flush(mpsc::Sender<()>),
}

type Queue = Arc<Mutex<HashMap<String, Session>>>;

/// The handle of one host's writer thread; the thread ends (after storing
/// what is queued) when the last handle drops.
#[derive(Clone)]
pub(crate) struct Writer {
    queued: Queue,
    sender: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the writer thread: a queued session is stored at most `lag`
    /// after the first change of its batch.
    pub(crate) fn start(store: Arc<dyn SessionStore>, lag: Duration) -> std::io::Result<Writer> {
        let (sender, receiver) = mpsc::channel();
        let queued = Queue::default();
        let shared = Arc::clone(&queued);
        std::thread::Builder::new()
            .name("pagestate-session-store".into())
            .spawn(move || write_loop(&*store, &shared, &receiver, lag))?;
        Ok(Writer { queued, sender })
    }

    /// Queues session `id` to be stored.
    pub(crate) fn dirty(&self, id: &str, session: &Session) {
        let first = {
            let mut queued = lock(&self.queued);
            if queued.contains_key(id) {
                return;
            }
            queued.insert(id.to_owned(), session.clone());
            queued.len() == 1
        };
        if first {
            let _ = self.sender.send(Message::Wake);
        }
    }

    /// Stores everything queued, waiting until it is written.
    pub(crate) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

fn write_loop(
    store: &dyn SessionStore,
    queued: &Mutex<HashMap<String, Session>>,
    receiver: &mpsc::Receiver<Message>,
    lag: Duration,
) {
    // When the current batch is due, if one is waiting.
    let mut due: Option<Instant> = None;
    loop {
        let message = match due {
            None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(due) => receiver.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        match message {
            Ok(Message::Wake) => {
                due.get_or_insert_with(|| Instant::now() + lag);
            }
            Ok(Message::Flush(done)) => {
                write(store, queued);
                due = None;
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                write(store, queued);
                due = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                write(store, queued);
                return;
            }
        }
    }
}

fn write(store: &dyn SessionStore, queued: &Mutex<HashMap<String, Session>>) {
    let batch = std::mem::take(&mut *lock(queued));
    for (id, session) in batch {
        if let Some(changes) = durable::changes(&session) {
            store.save(&id, &changes);
        }
    }
}
