//! Tests of loading and validating settings.

use super::*;
use crate::domain::{HostKeyPolicy, JobType};
use std::io::Write;

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environment_overrides_file_overrides_defaults() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        f,
        "[worker]\nmax_in_flight = 64\nconnect_timeout_ms = 1234\n[amqp]\nnamespace = \"file\""
    )
    .expect("write");
    let s = Settings::load_from(
        Some(f.path()),
        env(&[
            ("NETRAVEN__WORKER__MAX_IN_FLIGHT", "32"),
            ("UNRELATED", "x"),
        ]),
    )
    .expect("loads");
    assert_eq!(s.worker.max_in_flight, 32);
    assert_eq!(s.worker.connect_timeout_ms, 1234);
    assert_eq!(s.amqp.namespace, "file");
    assert_eq!(s.aggregator.batch_size, 500);
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let err = Settings::load_from(None, env(&[("NETRAVEN__WORKER__PREFETCHH", "1")]))
        .expect_err("unknown key");
    assert!(err.to_string().contains("prefetchh"), "{err}");
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(f, "[databse]\nurl = \"postgres://x/y\"").expect("write");
    let err = Settings::load_from(Some(f.path()), env(&[])).expect_err("unknown section");
    assert!(err.to_string().contains("databse"), "{err}");
}

#[test]
fn invalid_values_are_errors_that_name_the_key() {
    let err = Settings::load_from(None, env(&[("NETRAVEN__WORKER__MAX_IN_FLIGHT", "0")]))
        .expect_err("zero");
    assert!(err.to_string().contains("worker.max_in_flight"), "{err}");
    let err = Settings::load_from(None, env(&[("NETRAVEN__AMQP__NAMESPACE", "a b")]))
        .expect_err("bad namespace");
    assert!(err.to_string().contains("amqp.namespace"), "{err}");
    let err = Settings::load_from(None, env(&[("NETRAVEN__WORKER__AUTH_TIMEOUT_MS", "soon")]))
        .expect_err("not a number");
    assert!(err.to_string().contains("auth_timeout_ms"), "{err}");
}

#[test]
fn retention_defaults_to_90_days_and_must_be_positive() {
    let s = Settings::load_from(None, env(&[])).expect("defaults");
    assert_eq!(s.aggregator.retention_days, 90);
    assert_eq!(s.aggregator.prune_batch_size, 10_000);
    assert_eq!(s.aggregator.config_retention_versions, 10);
    assert_eq!(s.aggregator.config_retention_days, 90);
    for key in [
        "RETENTION_DAYS",
        "CONFIG_RETENTION_VERSIONS",
        "CONFIG_RETENTION_DAYS",
        "PRUNE_INTERVAL_MS",
        "PRUNE_BATCH_SIZE",
    ] {
        let var = format!("NETRAVEN__AGGREGATOR__{key}");
        let err = Settings::load_from(None, env(&[(var.as_str(), "0")])).expect_err("zero");
        let name = format!("aggregator.{}", key.to_lowercase());
        assert!(err.to_string().contains(&name), "{err}");
    }
}

#[test]
fn config_retention_reads_from_environment_and_is_bounded() {
    let s = Settings::load_from(
        None,
        env(&[
            ("NETRAVEN__AGGREGATOR__CONFIG_RETENTION_VERSIONS", "3"),
            ("NETRAVEN__AGGREGATOR__CONFIG_RETENTION_DAYS", "30"),
        ]),
    )
    .expect("set");
    assert_eq!(s.aggregator.config_retention_versions, 3);
    assert_eq!(s.aggregator.config_retention_days, 30);
    for key in ["RETENTION_DAYS", "CONFIG_RETENTION_DAYS"] {
        let var = format!("NETRAVEN__AGGREGATOR__{key}");
        let err =
            Settings::load_from(None, env(&[(var.as_str(), "36501")])).expect_err("past a century");
        let name = format!("aggregator.{}", key.to_lowercase());
        assert!(err.to_string().contains(&name), "{err}");
        assert!(err.to_string().contains("at most 36500"), "{err}");
    }
}

#[test]
fn submitters_read_from_toml_and_environment() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        f,
        "[dispatcher.submitters.noc-bot]\n\
         job_types = [\"config_backup\", \"command\"]\n\
         command_patterns = [\"show .*\", \"ping [0-9.]+\"]\n\
         weakest_host_key_policy = \"off\"\n\
         [dispatcher.submitters.backup]\n\
         weakest_host_key_policy = \"strict\""
    )
    .expect("write");
    let s = Settings::load_from(
        Some(f.path()),
        env(&[
            (
                "NETRAVEN__DISPATCHER__SUBMITTERS__ALICE__JOB_TYPES",
                r#"["command"]"#,
            ),
            (
                "NETRAVEN__DISPATCHER__SUBMITTERS__ALICE__COMMAND_PATTERNS",
                r#"["show version", "show ip .*"]"#,
            ),
        ]),
    )
    .expect("loads");
    let subs = &s.dispatcher.submitters;
    let bot = &subs["noc-bot"];
    assert_eq!(bot.job_types, vec![JobType::ConfigBackup, JobType::Command]);
    assert_eq!(bot.weakest_host_key_policy, HostKeyPolicy::Off);
    assert_eq!(
        subs["backup"],
        SubmitterSettings {
            weakest_host_key_policy: HostKeyPolicy::Strict,
            ..SubmitterSettings::default()
        }
    );
    let alice = &subs["alice"];
    assert_eq!(alice.job_types, vec![JobType::Command]);
    assert_eq!(alice.command_patterns, vec!["show version", "show ip .*"]);
    assert_eq!(alice.weakest_host_key_policy, HostKeyPolicy::AcceptNew);
}

#[test]
fn submitter_names_keep_their_case_in_the_file() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(
        f,
        "[dispatcher.submitters.NocBot]\nweakest_host_key_policy = \"strict\""
    )
    .expect("write");
    let s = Settings::load_from(Some(f.path()), env(&[])).expect("loads");
    let names: Vec<&String> = s.dispatcher.submitters.keys().collect();
    assert_eq!(names, vec!["NocBot"]);
}

#[test]
fn bad_submitter_settings_name_the_key() {
    for (var, value, key) in [
        (
            "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__COMMAND_PATTERNS",
            r#"["show (unclosed"]"#,
            "dispatcher.submitters.bob.command_patterns",
        ),
        (
            "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
            r#"["reboot"]"#,
            "job_types",
        ),
        (
            "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
            "command",
            "job_types",
        ),
        (
            "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__WEAKEST_HOST_KEY_POLICY",
            "none",
            "weakest_host_key_policy",
        ),
    ] {
        let mut vars = vec![(var, value)];
        if !var.ends_with("JOB_TYPES") {
            vars.push((
                "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
                r#"["command"]"#,
            ));
        }
        let err = Settings::load_from(None, env(&vars)).expect_err("refused");
        assert!(err.to_string().contains(key), "{var}={value}: {err}");
    }
    let err = Settings::load_from(
        None,
        env(&[(
            "NETRAVEN__DISPATCHER__SUBMITTERS__BOB__JOB_TYPES",
            r#"["command"]"#,
        )]),
    )
    .expect_err("command without patterns");
    assert!(
        err.to_string()
            .contains("dispatcher.submitters.bob.command_patterns"),
        "{err}"
    );
}

#[test]
fn command_patterns_match_whole_commands() {
    let show = anchored("show .*").expect("compiles");
    assert!(show.is_match("show running-config"));
    assert!(!show.is_match("reload"));
    assert!(!show.is_match("x; show version"));
    let either = anchored("show version|ping .*").expect("compiles");
    assert!(!either.is_match("show version; reload"));
    assert!(either.is_match("ping 10.0.0.1"));
    // Balanced only inside the anchors' group: it would match anything.
    assert!(anchored("show version)|(.*").is_err());
}

#[test]
fn a_default_device_deadline_past_the_broker_consumer_timeout_is_refused() {
    let err = Settings::load_from(
        None,
        env(&[(
            "NETRAVEN__DISPATCHER__DEFAULT_DEVICE_DEADLINE_MS",
            "1790000",
        )]),
    )
    .expect_err("past the consumer timeout");
    let text = err.to_string();
    assert!(
        text.contains("dispatcher.default_device_deadline_ms"),
        "{text}"
    );
    assert!(
        text.contains("amqp.consumer_timeout_ms is 1800000 ms"),
        "{text}"
    );
    // Raised together with the broker's, it fits.
    let s = Settings::load_from(
        None,
        env(&[
            (
                "NETRAVEN__DISPATCHER__DEFAULT_DEVICE_DEADLINE_MS",
                "1790000",
            ),
            ("NETRAVEN__AMQP__CONSUMER_TIMEOUT_MS", "3600000"),
        ]),
    )
    .expect("fits a longer consumer timeout");
    assert_eq!(s.amqp.consumer_timeout_ms, 3_600_000);
}

#[test]
fn lane_settings_are_checked() {
    let s = Settings::load_from(None, env(&[])).expect("defaults load");
    assert_eq!(s.dispatcher.interactive_max_devices, 20);
    assert_eq!(s.dispatcher.max_high_priority_devices, 1_000);
    assert_eq!(s.worker.interactive_in_flight, 8);
    let err = Settings::load_from(
        None,
        env(&[("NETRAVEN__WORKER__INTERACTIVE_IN_FLIGHT", "0")]),
    )
    .expect_err("zero slots would be an unbounded prefetch");
    assert!(
        err.to_string().contains("worker.interactive_in_flight"),
        "{err}"
    );
    let err = Settings::load_from(
        None,
        env(&[("NETRAVEN__DISPATCHER__MAX_HIGH_PRIORITY_DEVICES", "0")]),
    )
    .expect_err("zero");
    assert!(
        err.to_string()
            .contains("dispatcher.max_high_priority_devices"),
        "{err}"
    );
    let err = Settings::load_from(
        None,
        env(&[
            ("NETRAVEN__DISPATCHER__INTERACTIVE_MAX_DEVICES", "50"),
            ("NETRAVEN__DISPATCHER__MAX_HIGH_PRIORITY_DEVICES", "40"),
        ]),
    )
    .expect_err("a size cap over the high cap");
    assert!(
        err.to_string()
            .contains("dispatcher.interactive_max_devices"),
        "{err}"
    );
    let only_high = Settings::load_from(
        None,
        env(&[("NETRAVEN__DISPATCHER__INTERACTIVE_MAX_DEVICES", "0")]),
    )
    .expect("0: only high jobs take the interactive lane");
    assert_eq!(only_high.dispatcher.interactive_max_devices, 0);
}
