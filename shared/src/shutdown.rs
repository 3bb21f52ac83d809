//! The one shutdown signal: SIGTERM or Ctrl-C cancels a token every task watches.

use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGTERM or SIGINT. Roles pass it (or child tokens) to every task.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        // Cancel first: nothing the log line does may keep the process from stopping.
        trigger.cancel();
        tracing::info!("shutdown signal received; finishing in-flight work");
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops this process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
