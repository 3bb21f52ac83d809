//! Key logins against password logins, in the same run: one simulated fleet whose every
//! device takes the same password and the same keys (Ed25519, ECDSA P-256, RSA 3072), and
//! the worker's own client logging in to each device once per way — connect, authenticate,
//! close — the same number at a time. What a key costs over a password is the signature
//! (client) and its check (server); the key is decoded once, as a worker's cache does.
//!
//! Also the cost the cache saves: decrypting one passphrase-protected OpenSSH key
//! (bcrypt-pbkdf, 16 rounds, `ssh-keygen`'s default); and what the fleet-wide login budget
//! costs: password logins each under a lease taken from Postgres and released (a cap
//! that never binds), and the most leases one credential is granted a second, without
//! SSH — the ceiling of a capped credential's login rate, whatever its cap.

use super::Figure;
use anyhow::{Context, Result};
use netraven_shared::config::Settings;
use netraven_shared::messages::TaskCredential;
use netraven_simulator::{DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform};
use netraven_worker::client_keys;
use netraven_worker::login_limits::LoginLimits;
use netraven_worker::ssh::{AuthOutcome, HostKeyCheck, OpenedCredential, Session, SshTimeouts};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, EcdsaCurve, PrivateKey};
use secrecy::SecretString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USER: &str = "netops";
const PASSWORD: &str = "bench-login-password";

/// One way to log in, and its figure's name.
struct Way {
    name: &'static str,
    credential: Arc<OpenedCredential>,
}

fn key_credential(key: PrivateKey) -> Arc<OpenedCredential> {
    Arc::new(OpenedCredential {
        username: USER.into(),
        key: Some(Arc::new(key)),
        password: None,
    })
}

/// Logs in to each of `devices` simulated devices once per way, `concurrency` at a time.
pub async fn measure(
    settings: &Settings,
    devices: usize,
    concurrency: usize,
) -> Result<Vec<Figure>> {
    let mut rng = russh::keys::key::safe_rng();
    let ed = PrivateKey::random(&mut rng, Algorithm::Ed25519)?;
    let ec = PrivateKey::random(
        &mut rng,
        Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        },
    )?;
    let rsa = PrivateKey::random(&mut rng, Algorithm::Rsa { hash: None })?;

    // What the cache saves: one bcrypt-pbkdf decryption.
    let locked = ed.encrypt(&mut rng, "bench-passphrase")?;
    let text = locked.to_openssh(LineEnding::LF)?;
    let started = Instant::now();
    client_keys::decode(&text, Some("bench-passphrase"))
        .context("the bench's own encrypted key does not decode")?;
    let decrypt = started.elapsed();

    let keys: Vec<(String, String)> = [&ed, &ec, &rsa]
        .iter()
        .map(|k| {
            k.public_key()
                .to_openssh()
                .map(|line| (USER.to_string(), line))
        })
        .collect::<Result<_, _>>()?;
    let spec = FleetSpec {
        seed: super::fleet::SEED,
        credentials: Vec::new(),
        devices: (0..devices)
            .map(|i| {
                let mut d = DeviceSpec::new(format!("login-{i}"), Platform::Linux);
                d.accepts = vec![(USER.into(), PASSWORD.into())];
                d.accepts_keys.clone_from(&keys);
                d
            })
            .collect(),
        drift: 0.0,
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base()).await?;
    let targets: Arc<Vec<(String, u16)>> = Arc::new(
        fleet
            .devices()
            .iter()
            .map(|d| (d.host.to_string(), d.port))
            .collect(),
    );
    let ways = [
        Way {
            name: "password",
            credential: Arc::new(OpenedCredential {
                username: USER.into(),
                key: None,
                password: Some(SecretString::from(PASSWORD)),
            }),
        },
        Way {
            name: "key_ed25519",
            credential: key_credential(ed),
        },
        Way {
            name: "key_ecdsa_p256",
            credential: key_credential(ec),
        },
        Way {
            name: "key_rsa_3072",
            credential: key_credential(rsa),
        },
    ];
    let mut figures = Vec::new();
    let mut password_rate = None;
    let measured = async {
        for way in &ways {
            let took = logins(&targets, &way.credential, concurrency, None).await?;
            let figure = Figure::rate(
                &format!("{}_logins_per_second", way.name),
                devices,
                took,
                "logins/s",
                format!(
                    "{devices} simulated devices, connect + {} login + close, {concurrency} at a time",
                    way.name.replace('_', " ")
                ),
            );
            let rate = figure.value;
            figures.push(figure);
            match password_rate {
                None => password_rate = Some(rate),
                Some(password) => figures.push(Figure {
                    name: format!("{}_logins_share_of_password_rate", way.name),
                    value: rate / password,
                    unit: "ratio".into(),
                    detail: format!(
                        "{} logins/s over password logins/s, same fleet, same run",
                        way.name
                    ),
                }),
            }
        }
        let leased = leased(settings, &targets, &ways[0].credential, concurrency).await?;
        if let Some(password) = password_rate {
            figures.push(Figure {
                name: "leased_password_logins_share_of_password_rate".into(),
                value: leased.iter().find(|f| f.name.starts_with("leased_password_logins_per"))
                    .map_or(0.0, |f| f.value) / password,
                unit: "ratio".into(),
                detail: "password logins each under a fleet-wide lease, over password logins, same fleet, same run".into(),
            });
        }
        figures.extend(leased);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    measured?;
    figures.push(Figure {
        name: "key_decrypt_ms_openssh_bcrypt".into(),
        value: decrypt.as_secs_f64() * 1000.0,
        unit: "ms".into(),
        detail:
            "one passphrase-protected OpenSSH Ed25519 key decrypted (bcrypt-pbkdf, 16 rounds): \
                 paid once per key per worker, not per device"
                .into(),
    });
    Ok(figures)
}

/// The fleet-wide budget's cost, on a scratch database: password logins each under a
/// lease (a credential capped at `concurrency` logins at once, which never binds), and
/// leases alone, taken and released as fast as one credential is granted them.
async fn leased(
    settings: &Settings,
    targets: &Arc<Vec<(String, u16)>>,
    credential: &Arc<OpenedCredential>,
    concurrency: usize,
) -> Result<Vec<Figure>> {
    let scratch = super::scratch::Scratch::new(settings, "leases").await?;
    let limits = Arc::new(LoginLimits::new(
        0,
        0,
        Some((scratch.pool.clone(), "bench".into())),
    ));
    let capped = Arc::new(TaskCredential {
        id: 1,
        name: "bench".into(),
        username: USER.into(),
        sealed_secret: None,
        sealed_key: None,
        sealed_key_passphrase: None,
        sealed_enable: None,
        max_concurrent_logins: u32::try_from(concurrency).ok(),
        max_logins_per_second: None,
    });
    let measured = async {
        let took = logins(targets, credential, concurrency, Some((&limits, &capped))).await?;
        let mut figures = vec![Figure::rate(
            "leased_password_logins_per_second",
            targets.len(),
            took,
            "logins/s",
            format!(
                "{} simulated devices, connect + lease + password login + release + close, \
                 {concurrency} at a time, one credential capped at {concurrency} at once",
                targets.len()
            ),
        )];
        let grants = targets.len() * 4;
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency.max(1) {
            let (limits, capped, next) = (limits.clone(), capped.clone(), next.clone());
            tasks.spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < grants {
                    limits
                        .acquire(&capped, Duration::from_secs(10))
                        .await
                        .release()
                        .await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        figures.push(Figure::rate(
            "login_leases_per_second_one_credential",
            grants,
            started.elapsed(),
            "leases/s",
            format!(
                "leases of one credential taken and released without SSH by one worker \
                 ({concurrency} logins waiting, {} asking Postgres at a time): the most \
                 logins a second one worker starts with one capped credential",
                netraven_worker::login_limits::ASKERS
            ),
        ));
        anyhow::Ok(figures)
    }
    .await;
    scratch.remove().await?;
    measured
}

/// Logs in once to every target with `credential`, `concurrency` at a time; with
/// `leased`, each login under a lease of the fleet-wide budget.
async fn logins(
    targets: &Arc<Vec<(String, u16)>>,
    credential: &Arc<OpenedCredential>,
    concurrency: usize,
    leased: Option<(&Arc<LoginLimits>, &Arc<TaskCredential>)>,
) -> Result<Duration> {
    let leased = leased.map(|(l, c)| (l.clone(), c.clone()));
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (targets, credential, next, failures, leased) = (
            targets.clone(),
            credential.clone(),
            next.clone(),
            failures.clone(),
            leased.clone(),
        );
        tasks.spawn(async move {
            let timeouts = SshTimeouts {
                connect: Duration::from_secs(10),
                handshake: Duration::from_secs(10),
                auth: Duration::from_secs(10),
                command_idle: Duration::from_secs(10),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((host, port)) = targets.get(i) else {
                    return;
                };
                let ok = match Session::connect(host, *port, &timeouts, HostKeyCheck::Off).await {
                    Ok(mut s) => {
                        let permit = match &leased {
                            Some((limits, capped)) => {
                                Some(limits.acquire(capped, timeouts.auth).await)
                            }
                            None => None,
                        };
                        let outcome = s.authenticate_credential(&credential).await;
                        if let Some(permit) = permit {
                            permit.release().await;
                        }
                        s.close().await;
                        matches!(outcome, Ok(AuthOutcome::Accepted))
                    }
                    Err(_) => false,
                };
                if !ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let took = started.elapsed();
    let failed = failures.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} of {} logins failed", targets.len());
    Ok(took)
}
