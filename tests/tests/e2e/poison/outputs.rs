//! Hostile output among 200 healthy devices: a configuration with a NUL byte, one with
//! bytes that are not UTF-8, one with terminal escapes. The job completes, each is stored
//! byte for byte as the simulator sent it (as a snapshot, and as a `command` job's
//! output), every device is logged into once; and no view of the job prints a raw
//! control byte, whatever its rows hold.

use super::{fleet_with, one_of_everything, JOB_TIMEOUT};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{Fault, LINUX_CONFIG_COMMAND};
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::process::Stdio;

const NUL: &str = "dev-00001";
const LATIN1: &str = "dev-00004";
const ESCAPES: &str = "dev-00007";

/// Text a view must never print raw: a window title, clear screen, colour, backspace, a
/// bare CR, DEL, a C1 CSI and a right-to-left override.
const HOSTILE: &str =
    "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31mred\u{1b}[0m back\u{8}\u{8}\rover\u{7f}\u{9b}1m\u{202e}end";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_output_is_stored_byte_for_byte_and_no_neighbour_pays() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let spec = fleet_with(
        19,
        &[
            (NUL, Fault::OutputNul),
            (LATIN1, Fault::OutputInvalidUtf8),
            (ESCAPES, Fault::OutputEscapes),
        ],
    )?;
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    // Unredacted, so that what is stored can be compared with what was sent byte for byte
    // (redaction of such bytes has its unit tests in the worker).
    let mut settings = env.settings.clone();
    settings.worker.redact_secrets = false;
    let roles = Roles::start(&settings, 2);
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess, "{job:?}");
    let outcomes = one_of_everything(&env, &fleet, job.id).await?;
    assert!(outcomes.values().all(|(o, _)| *o == Outcome::Success));
    // The same bytes through a `command` job: stored in command_outputs as exactly.
    let mut command = request("command", &[], &[NUL, LATIN1, ESCAPES]);
    command.commands = vec![LINUX_CONFIG_COMMAND.into()];
    let commanded = env.run_job(&command, JOB_TIMEOUT).await?;
    roles.stop().await?;
    assert_eq!(commanded.counts.status, JobStatus::CompletedSuccess);

    let client = env.pool.get().await?;
    for name in [NUL, LATIN1, ESCAPES] {
        let sent = fleet.expected_config_bytes(name).expect("a device");
        let row = client
            .query_one(
                "SELECT c.content, c.content_bytes, c.size_bytes,
                        c.sha256 = encode(sha256(coalesce(c.content_bytes, convert_to(c.content, 'UTF8'))), 'hex'),
                        c.sha256 = r.config_sha256
                 FROM device_configs c JOIN devices d ON d.id = c.device_id
                 JOIN job_results r ON r.device_id = d.id AND r.job_id = $2
                 WHERE d.name = $1",
                &[&name, &job.id],
            )
            .await?;
        let (text, exact): (String, Option<Vec<u8>>) = (row.get(0), row.get(1));
        let stored = exact.clone().unwrap_or_else(|| text.clone().into_bytes());
        assert_eq!(
            stored, sent,
            "{name}: stored bytes differ from what was sent"
        );
        assert_eq!(row.get::<_, i32>(2) as usize, sent.len(), "{name}: size");
        assert!(row.get::<_, bool>(3), "{name}: sha256 is not of the bytes");
        assert!(
            row.get::<_, bool>(4),
            "{name}: the result names another hash"
        );
        if name == ESCAPES {
            // Valid UTF-8 without NUL: text as it came, escapes and all.
            assert!(exact.is_none(), "{name}: text kept as bytes");
            assert!(text.contains("\u{1b}]0;owned title\u{7}"), "{text:?}");
        } else {
            assert!(exact.is_some(), "{name}: no exact bytes");
            assert!(
                text.contains('\u{fffd}') && !text.contains('\0'),
                "{text:?}"
            );
        }
    }
    for name in [NUL, LATIN1, ESCAPES] {
        let row = client
            .query_one(
                "SELECT coalesce(o.output_bytes, convert_to(o.output, 'UTF8')),
                        (o.output_bytes IS NULL) = (position('\\xefbfbd'::bytea IN convert_to(o.output, 'UTF8')) = 0)
                 FROM command_outputs o JOIN devices d ON d.id = o.device_id
                 WHERE o.job_id = $1 AND d.name = $2",
                &[&commanded.id, &name],
            )
            .await?;
        assert_eq!(
            row.get::<_, Vec<u8>>(0),
            fleet.expected_config_bytes(name).expect("a device"),
            "{name}: command output stored differs from what was sent"
        );
        assert!(
            row.get::<_, bool>(1),
            "{name}: U+FFFD exactly when bytes are kept"
        );
    }
    // Every other linux device: plain text, as the simulator generated it.
    for d in fleet.devices() {
        if d.platform != netraven_simulator::Platform::Linux || d.fault.is_some() {
            continue;
        }
        let row = client
            .query_one(
                "SELECT c.content, c.content_bytes IS NULL FROM device_configs c
                 JOIN devices d ON d.id = c.device_id WHERE d.name = $1",
                &[&d.name],
            )
            .await?;
        assert_eq!(
            Some(row.get::<_, String>(0)),
            fleet.expected_config(&d.name)
        );
        assert!(row.get::<_, bool>(1));
    }

    views_print_no_raw_control(&env, job.id).await
}

/// Rows holding raw control characters (as an older worker, or any writer, may have left
/// them): every text view prints them escaped, `--json` carries them exactly.
async fn views_print_no_raw_control(env: &TestEnv, job: uuid::Uuid) -> anyhow::Result<()> {
    let client = env.pool.get().await?;
    client
        .execute(
            // Every job of the device: `device show` reads its latest.
            "UPDATE job_results SET reason = $2 WHERE device_name = $1",
            &[&ESCAPES, &HOSTILE],
        )
        .await?;
    client
        .execute(
            "INSERT INTO job_logs (job_id, device_id, level, message, data)
             SELECT $1, id, 'WARN', $3, jsonb_build_object('said', $3::text)
             FROM devices WHERE name = $2",
            &[&job, &ESCAPES, &HOSTILE],
        )
        .await?;
    let id = job.to_string();
    let views: [&[&str]; 5] = [
        &["job", "results", &id],
        &["job", "show", &id, "--devices", "--limit", "0"],
        &["job", "logs", &id],
        &["device", "show", ESCAPES],
        &["job", "list"],
    ];
    for args in views {
        let out = env.command()?.args(args).stdin(Stdio::null()).output()?;
        let stdout = &out.stdout;
        anyhow::ensure!(
            out.status.success(),
            "netraven {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = String::from_utf8(stdout.clone())?;
        let raw: Vec<char> = shown
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert!(
            raw.is_empty(),
            "netraven {args:?} printed raw {raw:?}:\n{shown}"
        );
        if args[1] != "list" {
            assert!(
                shown.contains("\\e]0;owned\\x07\\e[2J"),
                "netraven {args:?} does not show the escaped text:\n{shown}"
            );
        }
        // The lines that matter, not 200 rows of each view.
        let escaped: Vec<&str> = shown.lines().filter(|l| l.contains("\\e]")).collect();
        eprintln!("$ netraven {}\n{}", args.join(" "), escaped.join("\n"));
    }
    // Scripts get the text exactly, JSON-escaped.
    let out = env
        .command()?
        .args(["job", "results", &id, "--json"])
        .stdin(Stdio::null())
        .output()?;
    let results: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let reason = results
        .as_array()
        .and_then(|a| a.iter().find(|r| r["device_name"] == ESCAPES))
        .map(|r| r["reason"].clone());
    assert_eq!(reason, Some(serde_json::Value::from(HOSTILE)));
    assert!(!out.stdout.contains(&0x1b), "JSON escapes ESC");
    Ok(())
}
