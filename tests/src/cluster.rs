//! [`Cluster`]: RabbitMQ nodes of a test's own on this machine (one, or three clustered),
//! on their own ports and node names, with their data, logs and Erlang cookie under the
//! test's temp dir. They are killed when the `Cluster` drops, whether the test passed or
//! not; the shared broker on :5672 is never touched.
//!
//! Each node is Debian's `rabbitmq-server` started with `RABBITMQ_NODENAME`,
//! `RABBITMQ_DIST_PORT`, `RABBITMQ_CONFIG_FILE` (its AMQP listener), `RABBITMQ_MNESIA_BASE`
//! and `RABBITMQ_LOG_BASE`; `HOME` points at the temp dir so that the nodes and
//! `rabbitmqctl` share the cluster's cookie and never read the system node's.
//!
//! `NETRAVEN_KEEP_CLUSTER` (any value) keeps the temp dir when the `Cluster` drops (the
//! nodes are still killed) and prints `cluster dir kept: <dir>` on stderr: what the broker
//! did is in `<dir>/<node>/log/<node>@localhost.log` (elections: `candidate -> leader`,
//! `detected a new leader`; a node's death: `rabbit on node … down`), its data under
//! `<dir>/<node>/mnesia`. Nothing removes a kept dir: delete it when done (a few MB each).

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts the scripts (those in /usr/sbin switch to the rabbitmq user
/// and drop our environment).
const SBIN: &str = "/usr/lib/rabbitmq/bin";
/// Longest a node may take to boot on a loaded machine (about 6 s on an idle one).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// One node of the cluster.
pub struct Node {
    /// `mqf<i>-<id>@localhost`.
    pub name: String,
    /// Its AMQP port on 127.0.0.1.
    pub port: u16,
    /// The `rabbitmq-server` script, parent of the node's VM.
    script: Option<Child>,
    pid_file: PathBuf,
}

/// Nodes of a test's own; see the module docs.
pub struct Cluster {
    pub nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `size` nodes and, when more than one, joins them into one cluster. Blocking
    /// (a few seconds per node): call it from `spawn_blocking` in an async test.
    pub fn start(size: usize) -> Result<Cluster> {
        ensure!(
            Path::new(SBIN).join("rabbitmq-server").is_file(),
            "{SBIN}/rabbitmq-server is missing: install Debian's rabbitmq-server package \
             (`apt-get install -y rabbitmq-server`; scripts/test does it when run as root)"
        );
        let dir = tempfile::tempdir()?;
        let cookie = dir.path().join(".erlang.cookie");
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        std::fs::write(&cookie, format!("NETRAVENTEST{}", id.to_uppercase()))?;
        std::fs::set_permissions(&cookie, std::os::unix::fs::PermissionsExt::from_mode(0o400))?;
        std::fs::write(dir.path().join("rabbitmq-env.conf"), "")?;
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n")?;
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
        };
        for i in 0..size {
            let node = cluster.spawn(&format!("mqf{i}-{id}"))?;
            cluster.nodes.push(node);
        }
        for i in 0..size {
            cluster.await_boot(i)?;
        }
        let first = cluster.nodes[0].name.clone();
        for i in 1..size {
            cluster.ctl(i, &["stop_app"])?;
            cluster.ctl(i, &["join_cluster", &first])?;
            cluster.ctl(i, &["start_app"])?;
        }
        if size > 1 {
            let status = cluster.ctl(0, &["cluster_status", "--formatter", "json"])?;
            let running = serde_json::from_str::<serde_json::Value>(&status)?["running_nodes"]
                .as_array()
                .map_or(0, Vec::len);
            ensure!(running == size, "{running} of {size} nodes run: {status}");
        }
        Ok(cluster)
    }

    /// Starts one node's script; it boots in the background.
    fn spawn(&self, short: &str) -> Result<Node> {
        let (port, dist) = (free_port()?, free_port()?);
        let base = self.dir.path().join(short);
        std::fs::create_dir_all(&base)?;
        let config = base.join("rabbitmq.conf");
        std::fs::write(
            &config,
            format!("listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users = none\n"),
        )?;
        let name = format!("{short}@localhost");
        let pid_file = base.join("pid");
        let log = std::fs::File::create(base.join("stdout.log"))?;
        let script = self
            .command("rabbitmq-server")
            .env("RABBITMQ_NODENAME", &name)
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", &config)
            .env("RABBITMQ_MNESIA_BASE", base.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", base.join("log"))
            .env("RABBITMQ_PID_FILE", &pid_file)
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", base.join("plugins"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start rabbitmq-server")?;
        Ok(Node {
            name,
            port,
            script: Some(script),
            pid_file,
        })
    }

    /// A command of Debian's RabbitMQ scripts with this cluster's cookie and settings.
    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new(Path::new(SBIN).join(script));
        cmd.env("HOME", self.dir.path())
            .env(
                "RABBITMQ_CONF_ENV_FILE",
                self.dir.path().join("rabbitmq-env.conf"),
            )
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.path().join("enabled_plugins"),
            )
            .env("ERL_EPMD_ADDRESS", "127.0.0.1");
        cmd
    }

    fn await_boot(&mut self, i: usize) -> Result<()> {
        let until = Instant::now() + BOOT_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.nodes[i].port)).is_err() {
            let exited = self.nodes[i].script.as_mut().map(Child::try_wait);
            if let Some(Ok(Some(status))) = exited {
                bail!(
                    "node {} exited with {status} while booting; see {}",
                    self.nodes[i].name,
                    self.dir.path().display()
                );
            }
            ensure!(
                Instant::now() < until,
                "node {} did not listen within {BOOT_TIMEOUT:?}",
                self.nodes[i].name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.ctl(i, &["await_startup", "--timeout", "120"])?;
        Ok(())
    }

    /// Runs `rabbitmqctl -n NODE args…` against node `i` and returns what it printed.
    pub fn ctl(&self, i: usize, args: &[&str]) -> Result<String> {
        self.tool("rabbitmqctl", i, args)
    }

    /// Runs one of the RabbitMQ CLI tools (`rabbitmq-queues`, …) against node `i`.
    pub fn tool(&self, tool: &str, i: usize, args: &[&str]) -> Result<String> {
        let out = self
            .command(tool)
            .arg("-n")
            .arg(&self.nodes[i].name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {tool}"))?;
        ensure!(
            out.status.success(),
            "{tool} -n {} {args:?} failed: {}{}",
            self.nodes[i].name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The AMQP URL of node `i` (the default `guest` user, allowed off loopback here).
    pub fn url(&self, i: usize) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.nodes[i].port)
    }

    /// Every node's URL.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// The index of the node named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The queues of the default virtual host as `rabbitmqctl list_queues` reports them,
    /// asked of node `i`: one JSON object per queue with `fields` (`name`, `leader`,
    /// `members`, `messages`, …).
    pub fn queues(&self, i: usize, fields: &[&str]) -> Result<Vec<serde_json::Value>> {
        let mut args = vec!["list_queues", "--formatter", "json"];
        args.extend_from_slice(fields);
        let out = self.ctl(i, &args)?;
        serde_json::from_str(&out).with_context(|| format!("list_queues said {out}"))
    }

    /// The OS process id of node `i`'s VM.
    pub fn pid(&self, i: usize) -> Result<Pid> {
        let raw = std::fs::read_to_string(&self.nodes[i].pid_file)
            .with_context(|| format!("no pid file for {}", self.nodes[i].name))?;
        Ok(Pid::from_raw(raw.trim().parse()?))
    }

    /// Kills node `i`'s VM (SIGKILL): a node crash, its connections reset.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        kill(self.pid(i)?, Signal::SIGKILL)?;
        // Its pid may go to another process: never signal it again.
        let _ = std::fs::remove_file(&self.nodes[i].pid_file);
        if let Some(mut script) = self.nodes[i].script.take() {
            let _ = script.kill();
            let _ = script.wait();
        }
        Ok(())
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) node `i`'s VM: a node that stops answering
    /// without closing anything. Stopping returns only once every thread of the VM has
    /// stopped: the kernel wakes one thread to take a SIGSTOP and that one stops the
    /// others, so on a loaded machine the VM's schedulers can go on for milliseconds after
    /// `kill` returns, long enough to confirm a publish sent in between.
    pub fn freeze(&self, i: usize, frozen: bool) -> Result<()> {
        let pid = self.pid(i)?;
        if !frozen {
            kill(pid, Signal::SIGCONT)?;
            return Ok(());
        }
        kill(pid, Signal::SIGSTOP)?;
        let until = Instant::now() + STOP_TIMEOUT;
        loop {
            let running = running_threads(pid)?;
            if running == 0 {
                return Ok(());
            }
            ensure!(
                Instant::now() < until,
                "{running} threads of {} still run {STOP_TIMEOUT:?} after SIGSTOP",
                self.nodes[i].name
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Longest the threads of a VM may take to stop after SIGSTOP on a loaded machine.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How many threads of process `pid` are not in the stopped state (`T`) yet.
fn running_threads(pid: Pid) -> Result<usize> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("process {pid} is gone"))?;
    let mut running = 0;
    for task in tasks {
        // A thread that exits meanwhile is not running.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state …`; comm may hold spaces and parentheses.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if !matches!(state, Some("T" | "t")) {
            running += 1;
        }
    }
    Ok(running)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("NETRAVEN_KEEP_CLUSTER").is_some() {
            let d = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
            eprintln!("cluster dir kept: {}", d.keep().display());
        }
        for i in 0..self.nodes.len() {
            if let Ok(pid) = self.pid(i) {
                // A frozen VM dies of SIGKILL as well; SIGCONT first lets it release epmd.
                let _ = kill(pid, Signal::SIGCONT);
                let _ = kill(pid, Signal::SIGKILL);
            }
            if let Some(mut script) = self.nodes[i].script.take() {
                let _ = script.kill();
                let _ = script.wait();
            }
        }
    }
}

/// A port nobody listens on now (the kernel's pick).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
