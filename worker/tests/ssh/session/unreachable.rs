//! Servers that refuse, stay silent or hang up before the SSH banner.

use std::time::{Duration, Instant};

use netraven_worker::ssh::{HostKeyCheck, Phase, Session, SshError, SshTimeouts};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::common::timeouts;

#[tokio::test]
async fn closed_port_is_refused_quickly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let started = Instant::now();
    let err = Session::connect("127.0.0.1", port, &timeouts(), HostKeyCheck::Off)
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, SshError::Refused), "{err:?}");
    assert_eq!(err.phase(), Phase::Connect);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn silent_listener_times_out_in_the_handshake_and_is_hung_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts TCP, never says a word, and reports when the client hangs up.
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 256];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {} // the client's banner
            }
        }
    });
    let t = SshTimeouts {
        handshake: Duration::from_millis(500),
        ..timeouts()
    };
    let started = Instant::now();
    let err = Session::connect("127.0.0.1", port, &t, HostKeyCheck::Off)
        .await
        .expect_err("server never speaks");
    let elapsed = started.elapsed();
    assert!(
        matches!(err, SshError::Timeout(Phase::Handshake)),
        "{err:?}"
    );
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let hung_up = tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the client closes the socket after the timeout")
        .expect("server task");
    assert!(hung_up.duration_since(started) < Duration::from_secs(3));
}

#[tokio::test]
async fn server_closing_at_once_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
        }
    });
    let err = Session::connect("127.0.0.1", port, &timeouts(), HostKeyCheck::Off)
        .await
        .expect_err("closed before the banner");
    assert!(matches!(err, SshError::Unreachable(_)), "{err:?}");
}
