//! Tests of masking: URLs, settings trees and [`Settings::show`].

use super::load_tests::env;
use super::mask::{mask_tree, MASK};
use super::{mask_url, Settings};

#[test]
fn show_masks_every_secret() {
    let s = Settings::load_from(
        None,
        env(&[
            ("NETRAVEN__SECRETS__KEY", "k1 c2VjcmV0LWtleS1tYXRlcmlhbA=="),
            (
                "NETRAVEN__DATABASE__URL",
                "postgres://app:hunter2@db:5432/netraven",
            ),
        ]),
    )
    .expect("loads");
    let shown = s.show().expect("shows");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    assert!(!shown.contains("guest:guest"), "{shown}");
    assert!(shown.contains("app:********@db"), "{shown}");
    assert!(shown.contains("metrics_addr"), "{shown}");
}

/// `mask_url` hides `secret` and keeps `kept`.
fn masks(input: &str, secret: &str, kept: &str) {
    let masked = mask_url(input);
    assert!(!masked.contains(secret), "{input} -> {masked}");
    assert!(masked.contains(kept), "{input} -> {masked}: lost {kept}");
    assert!(masked.contains(MASK), "{input} -> {masked}");
}

#[test]
fn mask_url_hides_a_userinfo_password() {
    masks(
        "postgres://app:hunter2@db:5432/netraven",
        "hunter2",
        "postgres://app:********@db:5432/netraven",
    );
    masks(
        "amqp://worker:s3cret@mq:5672/%2f",
        "s3cret",
        "amqp://worker:********@mq:5672/%2f",
    );
    masks(
        "amqps://worker:s3cret@mq.example.net:5671/prod",
        "s3cret",
        "amqps://worker:********@mq.example.net:5671/prod",
    );
}

#[test]
fn mask_url_hides_a_multi_host_password() {
    masks(
        "postgres://app:hunter2@db1:5432,db2:5433/netraven?target_session_attrs=read-write",
        "hunter2",
        "@db1:5432,db2:5433/netraven?target_session_attrs=read-write",
    );
}

#[test]
fn mask_url_hides_percent_encoded_and_awkward_passwords() {
    masks(
        "postgres://app:p%40ss%3Aw0rd@db/netraven",
        "w0rd",
        "app:********@db/netraven",
    );
    masks(
        "postgres://app:p%40ss@db/netraven",
        "p%40ss",
        "@db/netraven",
    );
    // Unencoded `@`, `/` and `?` in a password: every parser's reading is masked.
    masks("postgres://app:p@ss@db/netraven", "ss@db/n", "@db/netraven");
    masks("postgres://app:pa@ss@db/netraven", "pa", "@db/netraven");
    masks("postgres://app:pa/ss@db/netraven", "pa/ss", "@db/netraven");
    masks("amqp://app:pa?ss@mq/%2f", "pa?ss", "@mq/%2f");
}

#[test]
fn mask_url_hides_password_query_parameters() {
    masks(
        "postgres://db/netraven?user=app&password=hunter2&sslmode=verify-full",
        "hunter2",
        "&sslmode=verify-full",
    );
    masks(
        "postgres://db/netraven?password=hunter2",
        "hunter2",
        "postgres://db/netraven?password=",
    );
    masks(
        "postgres://db/netraven?sslpassword=keypass&user=app",
        "keypass",
        "&user=app",
    );
    masks(
        "postgres://db/netraven?pass%77ord=hunter2",
        "hunter2",
        "?pass%77ord=",
    );
    masks("postgres://u:p1@db/n?password=p2", "p2", "u:********@db/n");
    assert!(!mask_url("postgres://u:p1@db/n?password=p2").contains("p1"));
}

#[test]
fn mask_url_hides_libpq_key_value_passwords() {
    masks(
        "host=db user=app password=hunter2 dbname=netraven",
        "hunter2",
        "host=db user=app password=******** dbname=netraven",
    );
    masks(
        "host=db password = hunter2 dbname=netraven",
        "hunter2",
        "dbname=netraven",
    );
    masks(
        "host=db password='two words' dbname=netraven",
        "two words",
        "password='********' dbname=netraven",
    );
    masks(
        r"host=db password='it\'s here' dbname=netraven",
        "s here",
        "dbname=netraven",
    );
    masks("password=hunter2", "hunter2", "password=");
    masks("host=db sslpassword=keypass", "keypass", "host=db");
}

#[test]
fn mask_url_follows_where_libpq_and_tokio_postgres_end_a_password() {
    for (text, secret) in [
        ("host='db'password=hunter2", "hunter2"),
        ("host=db password=ab&cd dbname=n", "cd"),
        ("host=db password=ab\\ cd dbname=n", "cd"),
        ("postgres://db/n?password=ab#cd", "cd"),
        ("amqp://a:one@h1 amqp://b:two@h2", "two"),
    ] {
        let shown = mask_url(text);
        assert!(!shown.contains(secret), "{text} -> {shown}");
    }
    assert_eq!(
        mask_url("amqp://a:one@h1 amqp://b:two@h2"),
        "amqp://a:********@h1 amqp://b:********@h2"
    );
}

#[test]
fn mask_url_leaves_what_has_no_password() {
    for s in [
        "postgres://postgres@127.0.0.1:5432/netraven",
        "amqp://127.0.0.1:5672/%2f",
        "host=db user=app dbname=netraven sslmode=verify-full",
        "/etc/netraven/key/secret.key",
        "info,netraven_worker=debug",
    ] {
        assert_eq!(mask_url(s), s);
    }
}

#[test]
fn show_masks_passwords_in_every_url_and_inline_key() {
    // An amqps:// URL needs a CA file that exists (validated at start-up).
    let ca = tempfile::NamedTempFile::new().expect("temp file");
    let ca_path = ca.path().display().to_string();
    let s = Settings::load_from(
        None,
        env(&[
            ("NETRAVEN__AMQP__TLS_CA_FILE", ca_path.as_str()),
            (
                "NETRAVEN__DATABASE__URL",
                "postgres://app@db1,db2/n?sslmode=require&password=p%20g",
            ),
            (
                "NETRAVEN__AMQP__URL",
                "amqps://dispatcher:b%40nny@mq1:5671/prod?heartbeat=10",
            ),
            ("NETRAVEN__SECRETS__KEY", "k1 c2VjcmV0LWtleS1tYXRlcmlhbA=="),
        ]),
    )
    .expect("loads");
    let shown = s.show().expect("shows");
    for secret in ["p%20g", "b%40nny", "c2VjcmV0"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("amqps://dispatcher:********@mq1:5671/prod?heartbeat=10"),
        "{shown}"
    );
    assert!(
        shown.contains("postgres://app@db1,db2/n?sslmode=require&password=********"),
        "{shown}"
    );
    // Still TOML, every section there, in the settings' order.
    assert!(shown.starts_with("[database]"), "{shown}");
    let back: toml::Table = toml::from_str(&shown).expect("TOML");
    for section in [
        "database",
        "amqp",
        "secrets",
        "dispatcher",
        "worker",
        "aggregator",
    ] {
        assert!(back.contains_key(section), "no {section} in {shown}");
    }
}

#[test]
fn mask_tree_hides_settings_named_as_secrets_and_inline_private_keys() {
    let mut tree: toml::Value = toml::from_str(
        "[tls]\nclient_key = \"MC4CAQAwBQYDK2VwBCIEI\"\nclient_key_file = \"/etc/k.pem\"\n\
         ca = \"-----BEGIN PRIVATE KEY-----\\nMC4C\\n-----END PRIVATE KEY-----\"\n\
         [x]\ntoken = \"t0k\"\nbroker_password = \"pw\"\nurls = [\"amqp://u:pw2@h/\"]\n",
    )
    .expect("TOML");
    mask_tree(None, &mut tree);
    let shown = toml::to_string(&tree).expect("TOML");
    for secret in ["MC4C", "t0k", "\"pw\"", "pw2"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("/etc/k.pem"), "{shown}");
    assert!(shown.contains("amqp://u:********@h/"), "{shown}");
}
