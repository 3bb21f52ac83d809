//! Logins against a running fleet: who gets in, several passwords per connection, and
//! the ground truth of every attempt.

use crate::common::{self, Client};
use netraven_simulator::{scenario, AuthMethod, Fleet, FleetOptions, FleetSpec, MAX_AUTH_TRIES};

async fn mixed(n: usize) -> (Fleet, FleetSpec) {
    let spec = scenario("mixed", n, 7).unwrap();
    let fleet = Fleet::start(spec.clone(), FleetOptions::random_base())
        .await
        .unwrap();
    (fleet, spec)
}

fn password(spec: &FleetSpec, credential: &str) -> (String, String) {
    let c = spec
        .credentials
        .iter()
        .find(|c| c.name == credential)
        .unwrap();
    (c.username.clone(), c.password.clone())
}

#[tokio::test]
async fn each_device_lets_in_exactly_the_credentials_it_accepts() {
    let (fleet, spec) = mixed(10).await;
    let creds: Vec<_> = ["tacacs", "breakglass", "vendor-default"]
        .iter()
        .map(|n| password(&spec, n))
        .collect();
    // dev-00001 (i%10=1): tacacs only; dev-00005: breakglass; dev-00007: vendor-default;
    // dev-00008: nothing.
    let expect = [
        ("dev-00001", [true, false, false]),
        ("dev-00005", [false, true, false]),
        ("dev-00007", [false, false, true]),
        ("dev-00008", [false, false, false]),
    ];
    let devices = fleet.devices();
    for (name, wanted) in expect {
        let dev = devices.iter().find(|d| d.name == name).unwrap();
        for ((user, pw), want) in creds.iter().zip(wanted) {
            let mut c = Client::connect(dev).await;
            assert_eq!(c.password(user, pw).await, want, "{name} with user {user}");
        }
        // A right username with a wrong password never gets in.
        let mut c = Client::connect(dev).await;
        assert!(!c.password("netops", "not-the-password").await, "{name}");
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_second_password_on_the_same_connection_can_succeed_and_every_attempt_is_recorded() {
    let (fleet, spec) = mixed(1).await;
    let dev = &fleet.devices()[0];
    let (user, pw) = password(&spec, "tacacs");
    let mut c = Client::connect(dev).await;
    assert!(!c.none(&user).await);
    assert!(!c.password(&user, "first-guess").await);
    assert!(!c.password(&user, "second-guess").await);
    assert!(
        c.password(&user, &pw).await,
        "third password on one connection"
    );
    let out = c.exec("hostname").await;
    assert_eq!(out.stdout, "dev-00001\n");

    let attempts = fleet.attempts("dev-00001");
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.username.as_str(), a.method, a.accepted, a.connection))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("netops", AuthMethod::None, false, 1),
            ("netops", AuthMethod::Password, false, 1),
            ("netops", AuthMethod::Password, false, 1),
            ("netops", AuthMethod::Password, true, 1),
        ]
    );
    assert_eq!(attempts[1].method, "password");
    assert_eq!(fleet.all_attempts().get("dev-00001"), Some(&attempts));
    fleet.shutdown().await;
}

#[tokio::test]
async fn a_connection_is_cut_after_max_auth_tries_failures() {
    let (fleet, _spec) = mixed(1).await;
    let dev = &fleet.devices()[0];
    let mut c = Client::connect(dev).await;
    for i in 0..MAX_AUTH_TRIES {
        assert!(!c.password("netops", &format!("guess-{i}")).await);
    }
    let next = common::within("7th attempt", c.handle.authenticate_password("netops", "x")).await;
    assert!(
        next.is_err() || !next.unwrap().success(),
        "attempt past MaxAuthTries must not succeed"
    );
    assert_eq!(fleet.attempts("dev-00001").len(), MAX_AUTH_TRIES);
    fleet.shutdown().await;
}

#[tokio::test]
async fn attempts_on_separate_connections_are_numbered_and_kept_per_device() {
    let (fleet, spec) = mixed(2).await;
    let devices = fleet.devices();
    let (user, pw) = password(&spec, "tacacs");
    for _ in 0..3 {
        let mut c = Client::connect(&devices[0]).await;
        assert!(c.password(&user, &pw).await);
    }
    let conns: Vec<u64> = fleet
        .attempts("dev-00001")
        .iter()
        .map(|a| a.connection)
        .collect();
    assert_eq!(conns, vec![1, 2, 3]);
    assert!(fleet.attempts("dev-00002").is_empty());
    assert!(!fleet.all_attempts().contains_key("dev-00002"));
    assert!(fleet.attempts("no-such-device").is_empty());
    fleet.shutdown().await;
}

#[tokio::test]
async fn async_ssh2_tokio_logs_in_and_backs_up_like_a_worker_would() {
    use async_ssh2_tokio::client::{AuthMethod as A, Client as C, ServerCheckMethod};
    let (fleet, spec) = mixed(1).await;
    let dev = &fleet.devices()[0];
    let (user, pw) = password(&spec, "tacacs");
    // Pin the host key the fleet advertises: the base64 part of the OpenSSH line.
    let key_b64 = dev.host_key.split_whitespace().nth(1).unwrap().to_string();
    let client = common::within(
        "async-ssh2-tokio connect",
        C::connect(
            (dev.host, dev.port),
            &user,
            A::with_password(&pw),
            ServerCheckMethod::PublicKey(key_b64),
        ),
    )
    .await
    .unwrap();
    let out = common::within(
        "execute",
        client.execute(netraven_simulator::LINUX_CONFIG_COMMAND),
    )
    .await
    .unwrap();
    assert_eq!(out.exit_status, 0);
    assert_eq!(Some(out.stdout), fleet.expected_config("dev-00001"));

    let wrong = common::within(
        "wrong password",
        C::connect(
            (dev.host, dev.port),
            &user,
            A::with_password("nope"),
            ServerCheckMethod::NoCheck,
        ),
    )
    .await;
    assert!(
        matches!(wrong, Err(async_ssh2_tokio::Error::PasswordWrong)),
        "got {:?}",
        wrong.err()
    );
    fleet.shutdown().await;
}
