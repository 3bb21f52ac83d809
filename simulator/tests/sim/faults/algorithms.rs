//! Faults in the handshake: a changed host key, servers offering only legacy algorithms.

use std::borrow::Cow;

use crate::common::{self, Client};
use netraven_simulator::{changed_host_key, host_key, Fault, LINUX_CONFIG_COMMAND};
use russh::{cipher, kex, mac, Preferred};

use super::setup::{fleet_with, logged_in, PASSWORD, SEED, USER};

#[tokio::test]
async fn changed_host_key_differs_from_the_seeds_and_a_careful_client_sends_no_secret() {
    let (fleet, dev) = fleet_with(Fault::HostKeyChanged).await;
    let seed_key = host_key(SEED, &dev.name)
        .unwrap()
        .public_key()
        .to_openssh()
        .unwrap();
    let served = changed_host_key(SEED, &dev.name)
        .unwrap()
        .public_key()
        .to_openssh()
        .unwrap();
    assert_ne!(common::key_body(&seed_key), common::key_body(&served));
    assert_eq!(
        common::key_body(&dev.host_key),
        common::key_body(&served),
        "the device lists the key it serves"
    );
    // A client that pinned the seed's key refuses the connection before auth.
    let pinned = russh::client::connect(
        std::sync::Arc::new(russh::client::Config::default()),
        (dev.host, dev.port),
        common::Pinned(seed_key),
    )
    .await;
    assert!(
        pinned.is_err(),
        "a pinned client must refuse the changed key"
    );
    let report = fleet.report(&dev.name).unwrap();
    assert!(report.host_key_changed);
    assert!(!report.secret_sent_after_host_key_change);
    assert!(fleet.secrets_sent_to_changed_host_keys().is_empty());
    // A careless client sends its password anyway: the ground truth says so.
    let c = Client::connect(&dev).await;
    assert_eq!(common::key_body(&c.server_key()), common::key_body(&served));
    drop(logged_in(&dev).await);
    drop(c);
    let report = fleet.report(&dev.name).unwrap();
    assert!(report.secret_sent_after_host_key_change);
    assert_eq!(report.secrets_received, 1);
    assert_eq!(
        fleet.secrets_sent_to_changed_host_keys(),
        vec![dev.name.clone()]
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn ssh_rsa_sha1_only_negotiates_only_with_ssh_rsa_offered() {
    use russh::keys::{Algorithm, HashAlg};
    let (fleet, dev) = fleet_with(Fault::SshRsaSha1Only).await;
    assert!(dev.host_key.starts_with("ssh-rsa "), "{}", dev.host_key);
    let sha2_only = russh::client::Config {
        preferred: Preferred {
            key: Cow::Owned(vec![
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                },
            ]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    };
    assert!(
        Client::try_connect(&dev, sha2_only).await.is_err(),
        "a client without ssh-rsa must find no common host key algorithm"
    );
    let sha1 = russh::client::Config {
        preferred: Preferred {
            key: Cow::Owned(vec![Algorithm::Rsa { hash: None }]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    };
    let mut c = Client::try_connect(&dev, sha1).await.unwrap();
    assert_eq!(
        common::key_body(&c.server_key()),
        common::key_body(&dev.host_key)
    );
    assert!(c.password(USER, PASSWORD).await);
    fleet.shutdown().await;
}

#[tokio::test]
async fn legacy_algorithms_negotiate_only_with_legacy_lists_enabled() {
    let (fleet, dev) = fleet_with(Fault::LegacyAlgorithms).await;
    let modern = Client::try_connect(&dev, russh::client::Config::default()).await;
    assert!(
        modern.is_err(),
        "a default client must find no common algorithm"
    );
    let legacy = russh::client::Config {
        preferred: Preferred {
            kex: Cow::Owned(vec![kex::CURVE25519, kex::DH_G14_SHA1]),
            cipher: Cow::Owned(vec![cipher::AES_256_GCM, cipher::AES_128_CBC]),
            mac: Cow::Owned(vec![mac::HMAC_SHA256, mac::HMAC_SHA1]),
            ..Preferred::DEFAULT
        },
        ..Default::default()
    };
    let mut c = Client::try_connect(&dev, legacy).await.unwrap();
    assert!(c.password(USER, PASSWORD).await);
    assert_eq!(
        Some(c.exec(LINUX_CONFIG_COMMAND).await.stdout),
        fleet.expected_config(&dev.name)
    );
    fleet.shutdown().await;
}
