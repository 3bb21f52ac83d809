//! Makes sure Postgres and RabbitMQ answer: starts them when stopped, installs them from
//! Debian's packages when missing (as root), or says exactly what to run.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A service we depend on.
struct Service {
    name: &'static str,
    package: &'static str,
    binary: &'static str,
    host: String,
    port: u16,
}

fn host_port(url: &str, default_port: u16) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(default_port)),
        None => (hostport.to_string(), default_port),
    }
}

fn answers(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

fn is_local(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1" | "[::1]")
}

fn on_path(binary: &str) -> bool {
    [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/bin",
        "/usr/local/sbin",
    ]
    .iter()
    .any(|d| Path::new(d).join(binary).exists())
}

fn run(cmd: &str) -> Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .with_context(|| format!("cannot run `{cmd}`"))?;
    if !status.success() {
        bail!("`{cmd}` failed with {status}");
    }
    Ok(())
}

fn start_command(s: &Service) -> &'static str {
    match s.package {
        "postgresql" => "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main start",
        _ => "rabbitmq-server -detached",
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Lets local clients in without a password on a Postgres we installed ourselves, as the
/// default URL (`postgres://postgres@127.0.0.1`) expects.
fn trust_local_postgres() -> Result<()> {
    run("for f in /etc/postgresql/*/main/pg_hba.conf; do \
           grep -q '^host all all 127.0.0.1/32 trust' \"$f\" || \
           sed -i '1i host all all 127.0.0.1/32 trust\\nhost all all ::1/128 trust' \"$f\"; done")
}

fn ensure_one(s: &Service, log: &mut impl FnMut(&str)) -> Result<()> {
    if answers(&s.host, s.port) {
        return Ok(());
    }
    if !is_local(&s.host) {
        bail!(
            "{} at {}:{} does not answer, and it is not on this machine: start it there",
            s.name,
            s.host,
            s.port
        );
    }
    if !on_path(s.binary) {
        if !is_root() {
            bail!(
                "{} is not installed. Install and start it as root:\n  apt-get update && apt-get install -y {}\n  {}",
                s.name, s.package, start_command(s)
            );
        }
        log(&format!("installing {} from Debian's packages", s.name));
        run(&format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {} >/dev/null",
            s.package
        ))?;
        if s.package == "postgresql" {
            trust_local_postgres()?;
        }
    }
    if !answers(&s.host, s.port) {
        if !is_root() {
            bail!(
                "{} is installed but stopped. Start it as root:\n  {}",
                s.name,
                start_command(s)
            );
        }
        log(&format!("starting {}", s.name));
        run(start_command(s))?;
    }
    let until = Instant::now() + Duration::from_secs(90);
    while !answers(&s.host, s.port) {
        if Instant::now() > until {
            bail!(
                "{} did not start listening on {}:{} within 90 s",
                s.name,
                s.host,
                s.port
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    log(&format!("{} is up on {}:{}", s.name, s.host, s.port));
    Ok(())
}

/// Ensures both services for the given URLs, reporting each step through `log`.
pub fn ensure(database_url: &str, amqp_url: &str, mut log: impl FnMut(&str)) -> Result<()> {
    let (pg_host, pg_port) = host_port(database_url, 5432);
    let (mq_host, mq_port) = host_port(amqp_url, 5672);
    let services = [
        Service {
            name: "PostgreSQL",
            package: "postgresql",
            binary: "pg_ctlcluster",
            host: pg_host,
            port: pg_port,
        },
        Service {
            name: "RabbitMQ",
            package: "rabbitmq-server",
            binary: "rabbitmq-server",
            host: mq_host,
            port: mq_port,
        },
    ];
    for s in &services {
        ensure_one(s, &mut log)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_host_and_port_in_service_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5433/x", 5432),
            ("127.0.0.1".into(), 5433)
        );
        assert_eq!(
            host_port("amqp://guest:guest@localhost/%2f", 5672),
            ("localhost".into(), 5672)
        );
        assert_eq!(
            host_port("postgres://u:p@db.example/n?sslmode=disable", 5432),
            ("db.example".into(), 5432)
        );
    }
}
