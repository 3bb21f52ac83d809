//! [`Captured`]: every log line of every role in this test process, at TRACE, kept in
//! memory for a test to search (for a secret that must not be there).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// The log lines written so far. Installs itself as the process's tracing subscriber:
/// one per test process (nextest runs each test in its own).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures every role's log at TRACE (the broker client at DEBUG) from now on.
    pub fn install() -> anyhow::Result<Captured> {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("trace,lapin=debug,tokio=info,runtime=info,h2=info,hyper=info")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(logs)
    }

    /// Everything logged so far, as text.
    pub fn text(&self) -> anyhow::Result<String> {
        let bytes = self.0.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
