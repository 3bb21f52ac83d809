//! The roles as child processes of this binary, as they run in production: started with
//! their configuration in `NETRAVEN__*` variables, stopped with SIGTERM.

use anyhow::{Context, Result};
use netraven_shared::config::Settings;
use netraven_shared::sealing::KeyRing;
use netraven_shared::signing::{Issuer, SigningKeys};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Keys made for one run on one machine (the demo, a bench stage): a sealing key ring,
/// and one signing key file holding both the dispatcher's and the workers' keys, so that
/// every role can be given the same environment. A deployment gives each role its own.
pub struct RunKeys {
    /// The sealing key ring, in the key file's format.
    pub sealing: String,
    /// The dispatcher's and workers' signing keys, in the signing key file's format.
    pub signing: String,
}

impl RunKeys {
    pub fn generate() -> Result<RunKeys> {
        Ok(RunKeys {
            sealing: KeyRing::generate_line()?,
            signing: format!(
                "{}\n{}\n",
                SigningKeys::generate_line(Issuer::Dispatcher)?,
                SigningKeys::generate_line(Issuer::Worker)?
            ),
        })
    }

    pub fn keyring(&self) -> Result<KeyRing> {
        Ok(KeyRing::parse(&self.sealing)?)
    }
}

/// The environment that points a role process at `settings`' database and namespace,
/// with `keys`. Metrics servers are off (several roles share a host).
pub fn role_env(settings: &Settings, keys: &RunKeys) -> Vec<(String, String)> {
    vec![
        (
            "NETRAVEN__DATABASE__URL".into(),
            settings.database.url.clone(),
        ),
        ("NETRAVEN__AMQP__URL".into(), settings.amqp.url.clone()),
        (
            "NETRAVEN__AMQP__NAMESPACE".into(),
            settings.amqp.namespace.clone(),
        ),
        ("NETRAVEN__SECRETS__KEY".into(), keys.sealing.clone()),
        ("NETRAVEN__SIGNING__KEY".into(), keys.signing.clone()),
        ("NETRAVEN__DISPATCHER__METRICS_ADDR".into(), String::new()),
        ("NETRAVEN__WORKER__METRICS_ADDR".into(), String::new()),
        ("NETRAVEN__AGGREGATOR__METRICS_ADDR".into(), String::new()),
        ("NETRAVEN__API__METRICS_ADDR".into(), String::new()),
        (
            "NETRAVEN__AGGREGATOR__SWEEP_INTERVAL_MS".into(),
            "1000".into(),
        ),
    ]
}

impl Role {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A role running as a child process; stopped with SIGTERM when dropped.
pub struct Role {
    pub name: String,
    child: Child,
}

impl Role {
    pub fn spawn(role: &str, label: &str, env: &[(String, String)], logs: &Path) -> Result<Role> {
        let exe = std::env::current_exe().context("cannot find the netraven binary")?;
        let log = std::fs::File::create(logs.join(format!("{label}.log")))?;
        // For profiling a role in a real run (docs/performance.md): e.g.
        // NETRAVEN_PROFILE_WORKER="valgrind --tool=callgrind" runs each worker under it.
        let wrapper =
            std::env::var(format!("NETRAVEN_PROFILE_{}", role.to_uppercase())).unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let child = command
            .arg(role)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start the {role}"))?;
        Ok(Role {
            name: label.to_string(),
            child,
        })
    }

    /// SIGTERM, then up to `grace` for a clean exit, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) -> Result<bool> {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(false)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stop(Duration::from_secs(5));
        }
    }
}
