//! The messages between the client script and the server, as JSON text
//! frames.
//!
//! Client to server: `{"t":"rerun","values":{"<widget id>":<value>},"triggers":["<widget id>"]}`.
//! Server to client: `hello` (the session id to keep), `frame` (the drawing
//! of both areas and the run's status), `busy` (the session cap is reached),
//! `moved` (a newer connection took the session: a reload, or a duplicated
//! tab that copied the session id; the older page starts a new session).

use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::output::{Area, Output};
use crate::render;
use crate::tab::RerunRequest;

#[derive(Debug, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ClientMessage {
    /// New widget values and clicks: rerun the page.
    Rerun {
        #[serde(default)]
        values: Map<String, Value>,
        #[serde(default)]
        triggers: Vec<String>,
    },
}

impl ClientMessage {
    pub(crate) fn into_request(self) -> RerunRequest {
        match self {
            ClientMessage::Rerun { values, triggers } => RerunRequest {
                values: values.into_iter().collect(),
                triggers,
            },
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum ServerMessage<'a> {
    Hello {
        session: &'a str,
    },
    /// An area the tab already shows as it is now is left out (`null`).
    Frame {
        run: u64,
        runs_completed: u64,
        status: &'static str,
        main: Option<String>,
        sidebar: Option<String>,
    },
    Busy {
        html: String,
    },
    /// A newer connection took this session over.
    Moved,
}

impl ServerMessage<'_> {
    /// The frame that brings a tab showing `shown` (hashes of its main and
    /// sidebar HTML) up to date, and updates `shown`. Hashes, not copies:
    /// an idle tab costs the server less memory.
    pub(crate) fn frame(output: &Output, shown: &mut [u64; 2]) -> ServerMessage<'static> {
        let mut changed = |index: usize, area: Area| {
            let html = render::area(output, area);
            let mut hasher = DefaultHasher::new();
            html.hash(&mut hasher);
            let hash = hasher.finish();
            (hash != shown[index]).then(|| {
                shown[index] = hash;
                html
            })
        };
        ServerMessage::Frame {
            run: output.run,
            runs_completed: output.completed,
            status: output.status.as_str(),
            main: changed(0, Area::Main),
            sidebar: changed(1, Area::Sidebar),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages are plain data")
    }
}

#[cfg(test)]
mod tests {
    use super::ClientMessage;

    #[test]
    fn rerun_parses_and_rejects_junk() {
        let message: ClientMessage =
            serde_json::from_str(r#"{"t":"rerun","values":{"a":1},"triggers":["b"]}"#).unwrap();
        let request = message.into_request();
        assert_eq!(request.values, vec![("a".to_owned(), serde_json::json!(1))]);
        assert_eq!(request.triggers, vec!["b".to_owned()]);
        for junk in [
            "",
            "[]",
            "{}",
            r#"{"t":"explode"}"#,
            r#"{"t":"rerun","values":[1]}"#,
            r#"{"t":"rerun","extra":1}"#,
        ] {
            assert!(
                serde_json::from_str::<ClientMessage>(junk).is_err(),
                "{junk}"
            );
        }
    }
}
