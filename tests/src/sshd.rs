//! [`Sshd`]: OpenSSH's own server, the test's own, on a free port: a real device that
//! takes keys, and a real jump host (TCP forwarding on). [`keygen`] makes client keys with
//! OpenSSH's `ssh-keygen`, in the formats operators bring.
//!
//! The server runs in the foreground (`sshd -D -e`) as the user running the tests, with a
//! configuration, host key, authorized keys and log of its own in a temporary directory;
//! it takes public keys only. It is killed and its files removed when the value is
//! dropped; [`Sshd::log`] reads what it logged (which key it took, which forwarding it
//! opened).

use crate::sh;
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// A running `sshd`.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// The user to log in as: the one running the tests.
    pub user: String,
    /// The server's host key, an OpenSSH public key line (`ssh-ed25519 AAAA...`): pin it.
    pub host_key: String,
}

/// The format a private key is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----`
    OpenSsh,
    /// PEM: PKCS#1 for RSA (`BEGIN RSA PRIVATE KEY`), SEC1 for ECDSA (`BEGIN EC PRIVATE
    /// KEY`), as `ssh-keygen -m PEM` writes them.
    Pem,
    /// PKCS#8 (`BEGIN PRIVATE KEY`, or `BEGIN ENCRYPTED PRIVATE KEY` with a passphrase).
    Pkcs8,
}

/// A client key made by `ssh-keygen`.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// The private key file's text.
    pub private: String,
    /// Its public key line, for `authorized_keys`.
    pub public: String,
    /// Where the private key file is.
    pub file: PathBuf,
}

/// Makes a key of `kind` (`ed25519`, `ecdsa`, `rsa`) in `dir` named `name`, optionally
/// protected by `passphrase`, written in `format`.
pub fn keygen(
    dir: &Path,
    name: &str,
    kind: &str,
    passphrase: Option<&str>,
    format: KeyFormat,
) -> Result<ClientKey> {
    let file = dir.join(name);
    let format_flag = match format {
        KeyFormat::OpenSsh => "",
        KeyFormat::Pem => "-m PEM",
        KeyFormat::Pkcs8 => "-m PKCS8",
    };
    let bits = if kind == "rsa" { "-b 3072" } else { "" };
    sh(&format!(
        "ssh-keygen -q -t {kind} {bits} {format_flag} -N '{}' -C {name} -f {}",
        passphrase.unwrap_or(""),
        file.display()
    ))
    .context("ssh-keygen failed: install OpenSSH's client (`apt-get install openssh-client`)")?;
    Ok(ClientKey {
        private: std::fs::read_to_string(&file)?,
        public: std::fs::read_to_string(file.with_extension("pub"))?
            .trim()
            .to_string(),
        file,
    })
}

impl Sshd {
    /// Starts `sshd` taking the public keys `authorized` (OpenSSH lines) for [`Sshd::user`],
    /// with TCP forwarding allowed, and waits until it says its banner. Fails saying what
    /// to install when OpenSSH's server is missing.
    pub fn start(authorized: &[&str]) -> Result<Sshd> {
        if !Path::new(SSHD).exists() {
            bail!("{SSHD} is missing: install OpenSSH's server (`apt-get install openssh-server`); scripts/test installs it");
        }
        // The privilege separation directory sshd insists on (the package's service makes
        // it at boot; without systemd nobody has).
        std::fs::create_dir_all("/run/sshd").context("cannot make /run/sshd")?;
        let dir = tempfile::Builder::new().prefix("nrt-sshd-").tempdir()?;
        let host = dir.path().join("host_ed25519");
        sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -C nrt-sshd -f {}",
            host.display()
        ))
        .context(
            "ssh-keygen failed: install OpenSSH's client (`apt-get install openssh-client`)",
        )?;
        let host_key = std::fs::read_to_string(host.with_extension("pub"))?;
        let host_key = host_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let keys = dir.path().join("authorized_keys");
        std::fs::write(&keys, authorized.join("\n") + "\n")?;
        let user = sh("id -un")?.trim().to_string();
        let port = crate::cluster::free_port()?;
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\n\
                 PidFile {dir}/sshd.pid\nAuthorizedKeysFile {keys}\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 AllowTcpForwarding yes\nStrictModes no\nUsePAM no\nLogLevel VERBOSE\n\
                 MaxStartups 100:30:200\nMaxSessions 100\n",
                host = host.display(),
                dir = dir.path().display(),
                keys = keys.display(),
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("sshd.log"))?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {SSHD}"))?;
        let sshd = Sshd {
            dir,
            child,
            port,
            user,
            host_key,
        };
        sshd.wait_ready()?;
        Ok(sshd)
    }

    fn wait_ready(&self) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut banner = [0u8; 8];
                if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0-" {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "sshd did not answer on port {} within 10 s; its log:\n{}",
            self.port,
            self.log()
        )
    }

    /// What sshd has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
