//! Dangerous requests need permission: command jobs, their commands and host-key policy
//! `off` only for submitters listed in `dispatcher.submitters`; commands with control
//! characters never. Real RabbitMQ, Postgres and SSH devices.

use netraven_shared::broker;
use netraven_shared::config::SubmitterSettings;
use netraven_shared::domain::{HostKeyPolicy, JobStatus, JobType};
use netraven_shared::messages::{JobReply, JobRequest};
use netraven_tests::{request, FleetBuilder, Roles, Spy, TestEnv};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// Publishes `r` (as `user_id`, or anonymously) asking for a reply; returns the reply.
async fn submit(
    env: &TestEnv,
    inbox: &mut Spy,
    r: &JobRequest,
    user_id: Option<&str>,
) -> anyhow::Result<JobReply> {
    let mut props = broker::json_properties().with_reply_to(inbox.name.clone().into());
    match user_id {
        Some(u) => {
            props = props.with_user_id(u.into());
            env.publish_raw(serde_json::to_vec(r)?, props).await?;
        }
        None => {
            env.publish_as(&env.settings.amqp, serde_json::to_vec(r)?, props)
                .await?
        }
    }
    Ok(serde_json::from_slice(&inbox.next().await?.data)?)
}

/// Tasks published for the job, and log rows with `message` containing `needle`.
async fn published_and_logs(
    env: &TestEnv,
    job: uuid::Uuid,
    needle: &str,
) -> anyhow::Result<(i32, i64, Option<String>)> {
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT published_tasks, submitted_by FROM jobs WHERE id = $1",
            &[&job],
        )
        .await?;
    let logs: i64 = client
        .query_one(
            "SELECT count(*) FROM job_logs WHERE job_id = $1 AND message LIKE '%' || $2 || '%'",
            &[&job, &needle],
        )
        .await?
        .get(0);
    Ok((row.get(0), logs, row.get(1)))
}

fn refused(reply: &JobReply, needle: &str) {
    assert!(reply.accepted, "well-formed, so accepted: {reply:?}");
    assert_eq!(
        reply.status,
        Some(JobStatus::FailedNotPermitted),
        "{reply:?}"
    );
    let error = reply.error.clone().unwrap_or_default();
    assert!(error.contains(needle), "{error:?} should say {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_requests_need_the_operators_permission() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let user = broker::user(&env.settings.amqp)?;
    // The tests' broker user is unlisted here: it has the default permissions only.
    env.settings.dispatcher.submitters.clear();
    // "noc" may run `show …` and `hostname` commands, with host-key checking off.
    env.settings.dispatcher.submitters.insert(
        "noc".into(),
        SubmitterSettings {
            job_types: vec![JobType::ConfigBackup, JobType::Command],
            command_patterns: vec!["show .*".into(), "hostname".into()],
            weakest_host_key_policy: HostKeyPolicy::Off,
            cancel_any_job: false,
        },
    );
    let fleet = FleetBuilder::scenario("all-good", 1, 5)?
        .base_port(25700)
        .start()
        .await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    let mut inbox = Spy::new(&env, None).await?;

    // An unlisted submitter (the broker user) and an anonymous one: no command job, no
    // host-key policy off. Each is answered with its reason and recorded, no task goes
    // out and no device sees a login.
    let mut command = request("command", &["fleet"], &[]);
    command.commands = vec!["hostname".into()];
    let reply = submit(&env, &mut inbox, &command, Some(&user)).await?;
    refused(
        &reply,
        &format!("submitter {user} may not run command jobs"),
    );
    let job = reply.job_id.expect("a job");
    let view = env.wait_final(job, TIMEOUT).await?;
    assert_eq!(view.counts.status, JobStatus::FailedNotPermitted);
    assert!(view
        .counts
        .error
        .unwrap_or_default()
        .contains("may not run command jobs"));
    let (published, logs, by) = published_and_logs(&env, job, "not permitted").await?;
    assert_eq!((published, logs), (0, 1), "no task, one log row");
    assert_eq!(
        by.as_deref(),
        Some(user.as_str()),
        "recorded as its broker user"
    );

    // `netraven job submit` (as the broker user) says why and exits 3.
    let out = env
        .command()?
        .args([
            "job",
            "submit",
            "--type",
            "command",
            "--command",
            "uptime",
            "--tag",
            "fleet",
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "FAILED_NOT_PERMITTED: submitter {user} may not run command jobs"
        )),
        "{stderr}"
    );

    let mut off = request("config_backup", &["fleet"], &[]);
    off.limits.host_key_policy = Some(HostKeyPolicy::Off);
    let reply = submit(&env, &mut inbox, &off, None).await?;
    refused(
        &reply,
        "submitter (anonymous) may not use host_key_policy off",
    );
    let (published, _, by) = published_and_logs(&env, reply.job_id.expect("job"), "").await?;
    assert_eq!(
        (published, by),
        (0, None),
        "anonymous: no submitter recorded"
    );

    // The body's submitted_by is no identity: naming someone else is refused.
    let mut claim = request("config_backup", &["fleet"], &[]);
    claim.submitted_by = Some("noc".into());
    let reply = submit(&env, &mut inbox, &claim, Some(&user)).await?;
    refused(&reply, "is not the broker user that published the request");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(fleet.all_attempts().is_empty(), "no device saw a login");

    // A listed submitter: its commands, and policy off, which is logged as weakening.
    // (user_id "noc" is refused by the broker on the guest connection, so the listed
    // submitter is tried with the tests' user listed in its place.)
    roles.stop().await?;
    env.settings.dispatcher.submitters.insert(
        user.clone(),
        env.settings.dispatcher.submitters["noc"].clone(),
    );
    let roles = Roles::start(&env.settings, 1);
    let mut allowed = request("command", &["fleet"], &[]);
    allowed.commands = vec!["hostname".into(), "show version".into()];
    allowed.limits.host_key_policy = Some(HostKeyPolicy::Off);
    let reply = submit(&env, &mut inbox, &allowed, Some(&user)).await?;
    let job = env.wait_final(reply.job_id.expect("job"), TIMEOUT).await?;
    assert_ne!(
        job.counts.status,
        JobStatus::FailedNotPermitted,
        "{:?}",
        job.counts
    );
    assert_eq!(job.counts.total_devices, 1);
    let (published, logs, _) =
        published_and_logs(&env, job.id, "host-key checking weakened").await?;
    assert_eq!(
        (published, logs),
        (1, 1),
        "the task went out, the weakening logged"
    );
    let before = fleet.all_attempts().values().map(Vec::len).sum::<usize>();
    assert!(before > 0, "the allowed job logged in");

    // A command no pattern matches, and commands with control characters, are refused
    // even for the listed submitter.
    for (cmds, needle) in [
        (vec!["show version", "reload"], "commands[1] \"reload\""),
        (vec!["show version\nreload"], "control character U+000A"),
        (vec!["show version\r"], "control character U+000D"),
        (vec!["show \u{1b}[2J"], "control character U+001B"),
        (
            vec!["show version\u{202E}daolery"],
            "invisible formatting character U+202E",
        ),
        (
            vec!["show\u{2028}reload"],
            "invisible formatting character U+2028",
        ),
    ] {
        let mut r = request("command", &["fleet"], &[]);
        r.commands = cmds.iter().map(|c| c.to_string()).collect();
        let reply = submit(&env, &mut inbox, &r, Some(&user)).await?;
        refused(&reply, needle);
        let (published, _, _) = published_and_logs(&env, reply.job_id.expect("job"), "").await?;
        assert_eq!(published, 0, "{cmds:?}: no task");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = fleet.all_attempts().values().map(Vec::len).sum::<usize>();
    assert_eq!(before, after, "refused jobs logged in nowhere");

    roles.stop().await?;
    fleet.stop().await;
    Ok(())
}
