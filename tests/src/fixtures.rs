//! Fixture builders: simulated fleets, their credentials, and the outcome and logins each
//! device must end with.

use crate::TestEnv;
use anyhow::{ensure, Result};
use netraven_dispatcher::job_rows as jobs;
use netraven_shared::domain::Outcome;
use netraven_simulator::{
    scenario, AuthMethod, CredentialSpec, DeviceSpec, Fleet, FleetOptions, FleetSpec,
};
use std::collections::HashMap;
use uuid::Uuid;

/// A simulated fleet to start: a scenario or devices and credentials one by one, on
/// ports of its own (`FleetOptions::random_base`) unless told otherwise.
#[derive(Debug, Clone)]
pub struct FleetBuilder {
    spec: FleetSpec,
    options: FleetOptions,
}

impl FleetBuilder {
    /// A fleet of nothing yet, whose host keys and configs follow `seed`.
    pub fn new(seed: u64) -> FleetBuilder {
        FleetBuilder::from_spec(FleetSpec {
            drift: 0.0,
            seed,
            credentials: Vec::new(),
            devices: Vec::new(),
        })
    }

    /// One of the simulator's scenarios (`all-good`, `mixed`, …) of `devices` devices.
    pub fn scenario(name: &str, devices: usize, seed: u64) -> Result<FleetBuilder> {
        Ok(FleetBuilder::from_spec(scenario(name, devices, seed)?))
    }

    /// The `all-good` scenario with every login taking 1.5 s: with one device at a time per
    /// worker (`worker.max_in_flight = 1`), a job over it runs for `devices` × 1.5 s ÷ the
    /// workers, long enough to cancel or watch while it runs.
    pub fn slow_logins(devices: usize, seed: u64) -> Result<FleetBuilder> {
        let mut spec = scenario("all-good", devices, seed)?;
        for d in &mut spec.devices {
            d.fault = Some(netraven_simulator::Fault::SlowAuth { delay_ms: 1_500 });
        }
        Ok(FleetBuilder::from_spec(spec))
    }

    pub fn from_spec(spec: FleetSpec) -> FleetBuilder {
        FleetBuilder {
            spec,
            options: FleetOptions::random_base(),
        }
    }

    pub fn credential(mut self, credential: impl Into<CredentialSpec>) -> FleetBuilder {
        self.spec.credentials.push(credential.into());
        self
    }

    pub fn device(mut self, device: DeviceSpec) -> FleetBuilder {
        self.spec.devices.push(device);
        self
    }

    pub fn devices(mut self, devices: impl IntoIterator<Item = DeviceSpec>) -> FleetBuilder {
        self.spec.devices.extend(devices);
        self
    }

    /// Devices from this port up (a test whose devices need a known port range).
    pub fn base_port(mut self, port: u16) -> FleetBuilder {
        self.options.base_port = port;
        self
    }

    /// Every rejected login answered after this delay, as a real AAA server does.
    pub fn auth_rejection_ms(mut self, ms: u64) -> FleetBuilder {
        self.options.auth_rejection_ms = ms;
        self
    }

    pub fn spec(&self) -> &FleetSpec {
        &self.spec
    }

    /// The outcome each device must end with (see [`expected_outcomes`]).
    pub fn expected(&self) -> Outcomes {
        expected_outcomes(&self.spec)
    }

    pub async fn start(self) -> Result<Fleet> {
        Ok(Fleet::start(self.spec, self.options).await?)
    }
}

/// A credential of the inventory: priority 10 and no tags unless told otherwise.
#[derive(Debug, Clone)]
pub struct Credential(CredentialSpec);

pub fn credential(name: &str, username: &str, password: &str) -> Credential {
    Credential(CredentialSpec {
        name: name.into(),
        username: username.into(),
        password: password.into(),
        priority: 10,
        tags: Vec::new(),
        enable_secret: None,
    })
}

impl Credential {
    /// Lower is tried first.
    pub fn priority(mut self, priority: i32) -> Credential {
        self.0.priority = priority;
        self
    }

    /// The credential's own enable secret, apart from its password.
    pub fn enable_secret(mut self, secret: &str) -> Credential {
        self.0.enable_secret = Some(secret.to_string());
        self
    }

    pub fn tags(mut self, tags: &[&str]) -> Credential {
        self.0.tags = tags.iter().map(|t| t.to_string()).collect();
        self
    }
}

impl From<Credential> for CredentialSpec {
    fn from(c: Credential) -> CredentialSpec {
        c.0
    }
}

/// The outcome each device of a fleet must end with, by device name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcomes(pub HashMap<String, Outcome>);

/// What a scenario's devices end with however the job is disturbed: `orphan` devices
/// (no credential of theirs) NO_CREDENTIALS, devices accepting one of the fleet's
/// credentials SUCCESS, the others AUTH_FAILED.
pub fn expected_outcomes(spec: &FleetSpec) -> Outcomes {
    Outcomes(
        spec.devices
            .iter()
            .map(|d| {
                let o = if d.tags == ["orphan"] {
                    Outcome::NoCredentials
                } else if spec.credentials.iter().any(|c| {
                    d.accepts
                        .contains(&(c.username.clone(), c.password.clone()))
                }) {
                    Outcome::Success
                } else {
                    Outcome::AuthFailed
                };
                (d.name.clone(), o)
            })
            .collect(),
    )
}

impl Outcomes {
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    /// Checks the job's results: one row per device of the fleet, each with its outcome.
    pub async fn assert_job(&self, env: &TestEnv, job: Uuid) -> Result<()> {
        let client = env.pool.get().await?;
        let results = jobs::results(&client, job).await?;
        ensure!(
            results.len() == self.0.len(),
            "one job_results row per device: {} rows for {} devices",
            results.len(),
            self.0.len()
        );
        for res in &results {
            assert_eq!(
                res.outcome, self.0[&res.device_name],
                "{}: {}",
                res.device_name, res.reason
            );
        }
        Ok(())
    }
}

/// Password logins the simulator saw: its ground truth.
#[derive(Debug, Clone, Default)]
pub struct Logins {
    /// By device name.
    pub per_device: HashMap<String, i64>,
    /// By (username, accepted).
    pub per_user: HashMap<(String, bool), i64>,
}

pub fn logins(fleet: &Fleet) -> Logins {
    let mut seen = Logins::default();
    for (device, attempts) in fleet.all_attempts() {
        for a in attempts.iter().filter(|a| a.method == AuthMethod::Password) {
            *seen.per_device.entry(device.clone()).or_insert(0) += 1;
            *seen
                .per_user
                .entry((a.username.clone(), a.accepted))
                .or_insert(0) += 1;
        }
    }
    seen
}

/// Logins the job recorded (accepted or rejected), by device name: never more than the
/// devices saw, fewer only where a run died before its batch committed.
pub async fn recorded_logins(env: &TestEnv, job: Uuid) -> Result<HashMap<String, i64>> {
    let client = env.pool.get().await?;
    Ok(client
        .query(
            "SELECT d.name, count(*) FROM credential_attempts a JOIN devices d ON d.id = a.device_id
             WHERE a.job_id = $1 AND a.outcome IN ('SUCCESS', 'REJECTED') GROUP BY d.name",
            &[&job],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// How many times the device's task ran in the job (its `job_logs` rows): more than once
/// when a redelivered task ran again.
pub async fn runs(env: &TestEnv, job: Uuid, device: &str) -> Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM job_logs l JOIN devices d ON d.id = l.device_id
             WHERE l.job_id = $1 AND d.name = $2",
            &[&job, &device],
        )
        .await?
        .get(0))
}
