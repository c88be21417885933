//! A tab's side of the web host's WebSocket, for tests (tokio-tungstenite):
//! connect with a session id, read frames, send reruns.

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
    let url = match session {
        Some(id) => format!("ws://{address}/ws?session={id}"),
        None => format!("ws://{address}/ws"),
    };
    let mut request = url.into_client_request().unwrap();
    let origin = HeaderValue::from_str(&format!("http://{address}")).unwrap();
    request.headers_mut().insert("origin", origin);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let hello = next(&mut socket).await;
    let id = hello["session"].as_str().unwrap().to_owned();
    (socket, id)
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

pub async fn shows(socket: &mut Socket, text: &str) {
    loop {
        let frame = next(socket).await;
        if frame["status"] == "complete" && frame["main"].as_str().is_some_and(|m| m.contains(text))
        {
            return;
        }
    }
}

pub async fn send(socket: &mut Socket, message: Value) {
    let text = message.to_string();
    socket.send(Message::Text(text.into())).await.unwrap();
}
