//! Slow clients over raw TCP: a header drip is cut after `HEADER_READ_TIMEOUT_SECONDS`, an idle
//! kept-alive connection is closed after the same time, and an announced body that never comes
//! is answered 408 after `BODY_READ_TIMEOUT_SECONDS` (not 504 after the request timeout).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestApp;

async fn server() -> (TestApp, std::net::SocketAddr) {
    let mut app = TestApp::builder()
        .env("HEADER_READ_TIMEOUT_SECONDS", "1")
        .env("BODY_READ_TIMEOUT_SECONDS", "1")
        .build()
        .await;
    let addr = app.spawn_server().await;
    (app, addr)
}

/// Reads until the server closes the connection (or `limit` passes): what it sent, and when.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&received).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_drip_is_cut_after_the_header_read_timeout() {
    let (_app, addr) = server().await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // One header line every 300 ms, for up to 6 s: the server must hang up long before.
    let mut cut = None;
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if stream
            .write_all(format!("X-Drip-{i}: x\r\n").as_bytes())
            .await
            .is_err()
        {
            cut = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), stream.peek(&mut probe)).await
        {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("the dripping connection was never cut");
    assert!(cut < Duration::from_secs(3), "cut after {cut:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_kept_alive_connection_is_closed() {
    let (_app, addr) = server().await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    let closed = closed.expect("the idle connection stayed open 5 s");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_announced_body_that_never_comes_fails_fast() {
    let (_app, addr) = server().await;
    // The handler waits for the body, then gives up with 408 (over the body limit, 413 would
    // do as well: either way, fast).
    for length in [300_000, 3_000_000] {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let started = Instant::now();
        let head = format!(
            "POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n{{\"email\":"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        let elapsed = started.elapsed();
        if length > 2_097_152 && received.starts_with("HTTP/1.1 413") {
            assert!(
                received.contains("\"code\":\"payload_too_large\""),
                "{received}"
            );
        } else {
            assert!(received.starts_with("HTTP/1.1 408"), "{length}: {received}");
            assert!(
                received.contains("\"code\":\"request_timeout\""),
                "{received}"
            );
        }
        assert!(closed.is_some(), "{length}: the connection stays open");
        assert!(elapsed < Duration::from_secs(4), "{length}: {elapsed:?}");
    }
}
