//! A tab's side of the web host's WebSocket, for tests (tokio-tungstenite):
//! connect with a session id, read frames, send reruns.
// Each test file uses the part it needs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Generous: the machine is shared and loaded.
const PATIENCE: Duration = Duration::from_secs(30);

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(address: SocketAddr, session: Option<&str>) -> (Socket, String) {
    try_connect(address, session)
        .await
        .expect("the host accepts the tab")
}

/// Connects and reads the hello; `None` when the connection fails.
pub async fn try_connect(address: SocketAddr, session: Option<&str>) -> Option<(Socket, String)> {
    let url = match session {
        Some(id) => format!("ws://{address}/ws?session={id}"),
        None => format!("ws://{address}/ws"),
    };
    let mut request = url.into_client_request().unwrap();
    let origin = HeaderValue::from_str(&format!("http://{address}")).unwrap();
    request.headers_mut().insert("origin", origin);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
    let hello = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .ok()??
        .ok()?;
    let Message::Text(text) = hello else {
        return None;
    };
    let hello: Value = serde_json::from_str(&text).ok()?;
    let id = hello["session"].as_str()?.to_owned();
    Some((socket, id))
}

pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the server answers in time")
            .expect("open")
            .expect("no error");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Reads frames until a completed run shows `text`; returns its main area.
pub async fn shows(socket: &mut Socket, text: &str) -> String {
    loop {
        let frame = next(socket).await;
        if frame["status"] == "complete" {
            if let Some(main) = frame["main"].as_str().filter(|main| main.contains(text)) {
                return main.to_owned();
            }
        }
    }
}

pub async fn send(socket: &mut Socket, message: Value) {
    let text = message.to_string();
    socket.send(Message::Text(text.into())).await.unwrap();
}
