//! With the default `tokio` feature, an async `#[executor(thread)]` job runs
//! inside a tokio runtime context: tokio's timers and sockets work in it,
//! whether the caller runs on a tokio runtime or on none. (Without the
//! feature these jobs panic with "there is no reactor running".)

#![cfg(feature = "tokio")]

use std::time::Duration;

use pagestate::executor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sleeps on a tokio timer, then says hello over a tokio socket and returns
/// the reply.
#[executor(thread)]
async fn tokio_io(port: u16) -> std::io::Result<String> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"hello").await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    Ok(reply)
}

/// Accepts one connection, reads five bytes and answers them upper-cased.
async fn serve_once(listener: TcpListener) -> std::io::Result<()> {
    let (mut socket, _) = listener.accept().await?;
    let mut request = [0_u8; 5];
    socket.read_exact(&mut request).await?;
    socket.write_all(&request.to_ascii_uppercase()).await?;
    socket.shutdown().await
}

async fn round_trip() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // The server is a task of its own: a job that fails (a tokio call
    // without a reactor panics) fails the test at once instead of leaving
    // the server waiting for a connection forever.
    let server = tokio::spawn(serve_once(listener));
    let reply = tokio_io(port)
        .await
        .expect("the job ran to the end, its tokio calls inside a runtime context")
        .expect("the job's tokio I/O worked");
    server.await.unwrap().unwrap();
    reply
}

#[tokio::test]
async fn tokio_timers_and_sockets_work_in_a_thread_job_on_a_current_thread_runtime() {
    assert_eq!(round_trip().await, "HELLO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_timers_and_sockets_work_in_a_thread_job_on_a_multi_thread_runtime() {
    assert_eq!(round_trip().await, "HELLO");
}

#[executor(thread)]
async fn tokio_sleep() -> u32 {
    tokio::time::sleep(Duration::from_millis(10)).await;
    7
}

#[test]
fn a_caller_outside_tokio_gets_the_pools_runtime() {
    assert_eq!(futures::executor::block_on(tokio_sleep()), Ok(7));
    assert_eq!(smol::block_on(tokio_sleep()), Ok(7));
}
