//! A device's command outputs in a job over HTTP, as `netraven job outputs --device`
//! shows them: in command order, exact bytes beside the text; 404 for a device not in the
//! job and for a job that is not there.

use super::{start, token};
use netraven_api::auth::Scope;
use netraven_tests::TestEnv;

const JOB: &str = "0190a0a0-0000-7000-8000-000000000001";

#[tokio::test]
async fn a_devices_command_outputs_read_over_http() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    env.pool
        .get()
        .await?
        .batch_execute(&format!(
            "INSERT INTO devices (name, host, platform) VALUES
                 ('rtr-1', '10.0.0.1', 'cisco_ios'), ('rtr-2', '10.0.0.2', 'cisco_ios');
             INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               completed_devices, succeeded_devices, deadline_at)
             VALUES ('{JOB}', 'j', 'command', '{{}}', 'COMPLETED_SUCCESS', 2, 2, 2,
                     now() + interval '1 hour');
             INSERT INTO job_results (job_id, device_id, device_name, outcome)
             SELECT '{JOB}', id, name, 'SUCCESS' FROM devices;
             INSERT INTO command_outputs (job_id, device_id, seq, command, output, exit_status,
                                          output_bytes)
             SELECT '{JOB}', d.id, o.seq, o.cmd, o.out, o.status, o.bytes
             FROM devices d JOIN (VALUES
                 ('rtr-1', 1, 'show clock', E'% Invalid input\\n', 1, NULL::bytea),
                 ('rtr-1', 0, 'show version', E'Cisco IOS 15.2\\n', 0, NULL),
                 ('rtr-2', 0, 'show version', E'wiped\\uFFFD\\n', 0, '\\x776970656400'::bytea)
             ) AS o(name, seq, cmd, out, status, bytes) ON o.name = d.name;"
        ))
        .await?;
    let api = start(&env).await?;
    let http = api.http(Some(&token(&env, "noc", Scope::Read, "noc").await?));

    let one = http
        .get(&format!("/api/jobs/{JOB}/devices/rtr-1/output"))
        .await?;
    assert_eq!(one.status, 200, "{}", one.text);
    let body = one.json();
    let commands: Vec<&str> = body["outputs"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["command"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(commands, ["show version", "show clock"], "{body}");
    assert_eq!(body["outputs"][1]["exit_status"], 1, "{body}");
    let two = http
        .get(&format!("/api/jobs/{JOB}/devices/rtr-2/output"))
        .await?
        .json();
    assert_eq!(two["outputs"][0]["output_base64"], "d2lwZWQA", "{two}");

    http.get(&format!("/api/jobs/{JOB}/devices/sw-9/output"))
        .await?
        .problem(404);
    http.get("/api/jobs/0190a0a0-0000-7000-8000-0000000000ff/devices/rtr-1/output")
        .await?
        .problem(404);
    api.http(None)
        .get(&format!("/api/jobs/{JOB}/devices/rtr-1/output"))
        .await?
        .problem(401);
    Ok(())
}
