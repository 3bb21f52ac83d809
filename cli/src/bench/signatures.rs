//! What the signatures cost per device: the dispatcher signing realistic device tasks in
//! groups, workers checking them, and a worker signing a batch of results that the
//! aggregator checks (one signature per group or batch, its cost spread over its devices).

use super::publish::{devices, plan};
use super::Figure;
use anyhow::Result;
use chrono::Utc;
use netraven_shared::domain::Outcome;
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::signing::{Issuer, Purpose, SignedGroup, SigningKeys, TrustedKeys, GROUP};
use std::time::Instant;

/// Results in one batch, as a worker under load sends them.
const BATCH: usize = messages::MAX_RESULTS_PER_BATCH;

/// Signs and checks `count` device tasks and `count` results in batches; microseconds per
/// device for each side.
pub fn measure(count: usize) -> Result<Vec<Figure>> {
    let keys = SigningKeys::parse(&format!(
        "{}\n{}\n",
        SigningKeys::generate_line(Issuer::Dispatcher)?,
        SigningKeys::generate_line(Issuer::Worker)?
    ))?;
    let trusted = TrustedKeys::parse(&keys.public_lines())?;
    let ns = "bench";
    let plan = plan();
    let bodies: Vec<Vec<u8>> = devices(count)
        .iter()
        .map(|d| serde_json::to_vec(&plan.task(d)))
        .collect::<Result<_, _>>()?;
    let bytes = bodies.iter().map(Vec::len).sum::<usize>() / count.max(1);

    let signer = keys.signer(Purpose::DeviceTask, ns)?;
    let started = Instant::now();
    let groups: Vec<SignedGroup> = bodies
        .chunks(GROUP)
        .map(|g| signer.sign_group(&g.iter().map(Vec::as_slice).collect::<Vec<_>>()))
        .collect();
    let sign = started.elapsed();
    // Each worker checks each group's signature once: with the bench's two workers taking
    // turns, both meet every group.
    let verifiers = [
        trusted.verifier(Purpose::DeviceTask, ns)?,
        trusted.verifier(Purpose::DeviceTask, ns)?,
    ];
    let started = Instant::now();
    for (g, (bodies, group)) in bodies.chunks(GROUP).zip(&groups).enumerate() {
        for (i, (body, proof)) in bodies.iter().zip(&group.proofs).enumerate() {
            let worker = &verifiers[(g + i) % 2];
            worker.verify(body, Some(&group.signature), Some(proof))?;
        }
    }
    let verify = started.elapsed();

    let result = |i: usize| TaskResult {
        version: messages::RESULT_VERSION,
        job_id: plan.job_id,
        device_id: i as i64,
        device_name: format!("dev-{i:06}"),
        outcome: Outcome::Success,
        reason: "configuration backed up".into(),
        credential_id: Some(1),
        attempts: 1,
        duration_ms: 850,
        config_sha256: Some("ab".repeat(32)),
        config: None,
        worker: "bench:1".into(),
        finished_at: Utc::now(),
        try_number: None,
    };
    let batches: Vec<Vec<u8>> = (0..count.div_ceil(BATCH))
        .map(|b| {
            serde_json::to_vec(&TaskResults {
                version: messages::RESULT_VERSION,
                results: (b * BATCH..((b + 1) * BATCH).min(count))
                    .map(result)
                    .collect(),
            })
        })
        .collect::<Result<_, _>>()?;
    let results_signer = keys.signer(Purpose::TaskResults, ns)?;
    let results_verifier = trusted.verifier(Purpose::TaskResults, ns)?;
    let started = Instant::now();
    for body in &batches {
        results_verifier.verify(body, Some(&results_signer.sign(body)), None)?;
    }
    let results = started.elapsed();

    let per_device = |d: std::time::Duration| d.as_secs_f64() * 1e6 / count.max(1) as f64;
    let figure = |name: &str, d, detail: String| Figure {
        name: name.into(),
        value: per_device(d),
        unit: "us".into(),
        detail,
    };
    Ok(vec![
        figure(
            "task_sign_us_per_device",
            sign,
            format!("dispatcher, Ed25519 over groups of {GROUP} of {count} tasks of {bytes} bytes"),
        ),
        figure(
            "task_verify_us_per_device",
            verify,
            format!("two workers taking turns, the same {count} tasks"),
        ),
        figure(
            "results_sign_verify_us_per_device",
            results,
            format!("worker signs, aggregator checks, batches of {BATCH} results"),
        ),
    ])
}
