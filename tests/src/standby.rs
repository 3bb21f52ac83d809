//! [`Replicated`]: a Postgres 15 primary and its streaming replica, both the test's own,
//! on free ports under a temporary directory; the shared server on 5432 is not touched.
//!
//! The primary is made with `initdb`, the standby with `pg_basebackup -R` (which writes
//! `standby.signal` and the connection to the primary), both run by the `postgres` user
//! (Postgres refuses to run as root). [`Replicated::stop_primary`] and
//! [`Replicated::promote`] fail over, as an operator or a failover manager does. Both servers are
//! stopped (immediately) and their files removed when the value is dropped.

use crate::sh;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A primary and its standby.
pub struct Replicated {
    dir: tempfile::TempDir,
    pub primary_port: u16,
    pub standby_port: u16,
}

/// Runs `command` as the `postgres` user.
fn as_postgres(command: &str) -> Result<String> {
    sh(&format!("runuser -u postgres -- {command}"))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Replicated {
    /// Starts a primary, copies it into a standby that streams from it, and waits until
    /// both accept connections. Fails saying what is missing when Postgres 15's server
    /// binaries or the `postgres` user are not there.
    pub fn start() -> Result<Replicated> {
        anyhow::ensure!(
            Path::new(BIN).join("initdb").exists(),
            "{BIN}/initdb is missing: install PostgreSQL 15's server (`apt-get install postgresql-15`)"
        );
        let dir = tempfile::Builder::new()
            .prefix("nrt-replicated-")
            .tempdir()?;
        sh(&format!("chown postgres {}", dir.path().display()))
            .context("the `postgres` user must own the clusters' directory")?;
        let (primary_port, standby_port) = (free_port()?, free_port()?);
        let replicated = Replicated {
            dir,
            primary_port,
            standby_port,
        };
        let primary = replicated.data("primary");
        as_postgres(&format!(
            "{BIN}/initdb -D {} -U postgres --auth=trust -N",
            primary.display()
        ))?;
        // Durability is not what is tested: no fsync keeps the clusters quick.
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {primary_port}\n\
             unix_socket_directories = '{}'\nfsync = off\nfull_page_writes = off\n\
             max_connections = 80\nshared_buffers = 32MB\nwal_level = replica\n",
            replicated.dir.path().display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(primary.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))?;
        replicated.pg_ctl("primary", "start")?;
        let standby = replicated.data("standby");
        as_postgres(&format!(
            "{BIN}/pg_basebackup -h 127.0.0.1 -p {primary_port} -U postgres -D {} -R -X stream -c fast",
            standby.display()
        ))?;
        std::fs::OpenOptions::new()
            .append(true)
            .open(standby.join("postgresql.conf"))
            .and_then(|mut f| {
                std::io::Write::write_all(&mut f, format!("port = {standby_port}\n").as_bytes())
            })?;
        replicated.pg_ctl("standby", "start")?;
        Ok(replicated)
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pg_ctl(&self, name: &str, action: &str) -> Result<String> {
        let data = self.data(name);
        let log = self.dir.path().join(format!("{name}.log"));
        as_postgres(&format!(
            "{BIN}/pg_ctl -D {} -l {} -w -t 60 {action}",
            data.display(),
            log.display()
        ))
    }

    /// `postgres://` URL of database `db` on both servers, primary first, with
    /// `target_session_attrs=read-write`: what a role is given.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{db}?target_session_attrs=read-write&sslmode=disable",
            self.primary_port, self.standby_port
        )
    }

    /// URL of database `db` on one server.
    pub fn url_of(&self, port: u16, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=disable")
    }

    /// Stops the primary (fast: its sessions are ended, and the standby has all its WAL).
    pub fn stop_primary(&self) -> Result<()> {
        self.pg_ctl("primary", "stop -m fast").map(drop)
    }

    /// Promotes the standby: it takes writes from now on.
    pub fn promote(&self) -> Result<()> {
        self.pg_ctl("standby", "promote").map(drop)
    }

    /// The tail of a server's log, for a failure message.
    pub fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for name in ["standby", "primary"] {
            if self.data(name).join("postmaster.pid").exists() {
                let _ = self.pg_ctl(name, "stop -m immediate");
            }
        }
    }
}
