//! Running `netraven` as a process: its output as text, a child killed when the test ends.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(super) fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    Ok(out)
}

pub(super) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) struct Proc(pub(super) Child);

impl Proc {
    pub(super) fn terminate(mut self, grace: Duration) -> anyhow::Result<std::process::ExitStatus> {
        use nix::sys::signal::{kill, Signal};
        kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            Signal::SIGTERM,
        )?;
        let until = Instant::now() + grace;
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(
                Instant::now() < until,
                "did not exit within {grace:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
