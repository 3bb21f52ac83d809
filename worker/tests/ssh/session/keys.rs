//! Key logins on one connection: the key first, then the password, as OpenSSH's client
//! does; a key the device does not take leaves the connection for the next credential;
//! each algorithm the fleet signs with; the worker's cache decodes a key
//! once however many devices ask at once.

use std::sync::Arc;

use netraven_simulator::{AuthMethod, DeviceSpec, Fleet, FleetOptions, FleetSpec, Platform};
use netraven_worker::client_keys::{self, ClientKeys, KeyProblem};
use netraven_worker::ssh::{AuthOutcome, HostKeyCheck, OpenedCredential};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, EcdsaCurve, PrivateKey};

use crate::common::{connect, secret, PASSWORD, USER};

fn random(algorithm: Algorithm) -> PrivateKey {
    PrivateKey::random(&mut russh::keys::key::safe_rng(), algorithm).expect("key")
}

fn line(key: &PrivateKey) -> String {
    key.public_key().to_openssh().expect("public line")
}

fn with_key(key: &PrivateKey, password: Option<&str>) -> OpenedCredential {
    OpenedCredential {
        username: USER.into(),
        key: Some(Arc::new(key.clone())),
        password: password.map(secret),
    }
}

/// One Linux device that takes `keys` for [`USER`], and [`PASSWORD`] if `password`.
async fn device(
    keys: &[&PrivateKey],
    password: bool,
) -> (Fleet, netraven_simulator::RunningDevice) {
    let mut d = DeviceSpec::new("keyed", Platform::Linux);
    d.accepts_keys = keys.iter().map(|k| (USER.to_string(), line(k))).collect();
    if password {
        d.accepts = vec![(USER.into(), PASSWORD.into())];
    }
    let spec = FleetSpec {
        drift: 0.0,
        seed: 11,
        credentials: Vec::new(),
        devices: vec![d],
    };
    let fleet = Fleet::start(spec, FleetOptions::random_base())
        .await
        .expect("fleet");
    let dev = fleet.devices()[0].clone();
    (fleet, dev)
}

#[tokio::test]
async fn each_algorithm_logs_in() {
    let keys = [
        random(Algorithm::Ed25519),
        random(Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256,
        }),
        random(Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP384,
        }),
        random(Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP521,
        }),
        random(Algorithm::Rsa { hash: None }),
    ];
    let refs: Vec<&PrivateKey> = keys.iter().collect();
    let (fleet, dev) = device(&refs, false).await;
    for key in &keys {
        let mut s = connect(&dev, HostKeyCheck::Off).await.expect("connects");
        assert_eq!(
            s.authenticate_credential(&with_key(key, None))
                .await
                .expect("auth"),
            AuthOutcome::Accepted,
            "{}",
            key.algorithm()
        );
        s.close().await;
    }
    let accepted = fleet
        .attempts(&dev.name)
        .iter()
        .filter(|a| a.method == AuthMethod::PublicKey && a.accepted)
        .count();
    assert_eq!(accepted, keys.len());
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_refused_key_leaves_the_connection_for_the_password_and_the_next_key() {
    let taken = random(Algorithm::Ed25519);
    let stranger = random(Algorithm::Ed25519);
    let (fleet, dev) = device(&[&taken], true).await;
    let mut s = connect(&dev, HostKeyCheck::Off).await.expect("connects");
    // A key alone, refused: the connection stays.
    assert_eq!(
        s.authenticate_credential(&with_key(&stranger, None))
            .await
            .expect("auth"),
        AuthOutcome::Rejected
    );
    assert!(s.can_try_username(USER));
    // The next credential: the right key.
    assert_eq!(
        s.authenticate_credential(&with_key(&taken, None))
            .await
            .expect("auth"),
        AuthOutcome::Accepted
    );
    s.close().await;
    // A credential with a refused key and a good password: the password logs in, on the
    // same connection.
    let mut s = connect(&dev, HostKeyCheck::Off).await.expect("connects");
    assert_eq!(
        s.authenticate_credential(&with_key(&stranger, Some(PASSWORD)))
            .await
            .expect("auth"),
        AuthOutcome::Accepted
    );
    s.close().await;
    assert_eq!(fleet.connections(&dev.name), 2);
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_device_without_keys_is_asked_the_password_after_the_key() {
    let key = random(Algorithm::Ed25519);
    let (fleet, dev) = device(&[], true).await;
    let mut s = connect(&dev, HostKeyCheck::Off).await.expect("connects");
    assert_eq!(
        s.authenticate_credential(&with_key(&key, Some(PASSWORD)))
            .await
            .expect("auth"),
        AuthOutcome::Accepted
    );
    s.close().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn an_encrypted_key_is_decoded_once_for_many_devices() {
    let key = random(Algorithm::Ed25519);
    let locked = key
        .encrypt(&mut russh::keys::key::safe_rng(), "pass phrase")
        .expect("encrypts");
    let text = locked.to_openssh(LineEnding::LF).expect("text");
    assert_eq!(
        client_keys::decode(&text, None).expect_err("refused"),
        KeyProblem::NeedsPassphrase
    );
    assert_eq!(
        client_keys::decode(&text, Some("wrong")).expect_err("refused"),
        KeyProblem::WrongPassphrase
    );
    let decoded = client_keys::decode(&text, Some("pass phrase")).expect("decodes");
    assert_eq!(decoded.public_key().key_data(), key.public_key().key_data());

    let line = netraven_shared::sealing::KeyRing::generate_line().expect("key line");
    let ring = netraven_shared::sealing::KeyRing::parse(&line).expect("ring");
    let keys = netraven_worker::keys::Keys::load(&netraven_shared::config::SecretSettings {
        key_file: None,
        key: Some(secret(&line)),
    })
    .expect("keys");
    let sealed = ring.seal(&secret(&text)).expect("seals");
    let sealed_pass = ring.seal(&secret("pass phrase")).expect("seals");
    let cache = Arc::new(ClientKeys::new(4));
    let mut asks = tokio::task::JoinSet::new();
    let keys = Arc::new(keys);
    for _ in 0..50 {
        let (cache, keys, sealed, sealed_pass) = (
            cache.clone(),
            keys.clone(),
            sealed.clone(),
            sealed_pass.clone(),
        );
        asks.spawn(async move {
            cache
                .get(&keys, &sealed, Some(&sealed_pass))
                .await
                .map(|k| k.public_key().key_data().clone())
        });
    }
    while let Some(got) = asks.join_next().await {
        assert_eq!(
            &got.expect("joins").expect("opens"),
            key.public_key().key_data()
        );
    }
    assert_eq!(cache.decodes(), 1, "one decryption for fifty asks");
    // Bounded: more keys than room push the oldest out.
    for _ in 0..6 {
        let other = ring
            .seal(&secret(
                &random(Algorithm::Ed25519)
                    .to_openssh(LineEnding::LF)
                    .expect("text"),
            ))
            .expect("seals");
        cache.get(&keys, &other, None).await.expect("opens");
    }
    assert_eq!(cache.len(), 4);
}
