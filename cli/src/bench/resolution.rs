//! Credential resolution at fleet scale: N devices, 1,000 tags, 200 credentials; each
//! device carries 3 tags and each credential 5, so a device matches a few credentials.

use super::scratch::Scratch;
use super::Figure;
use anyhow::Result;
use netraven_dispatcher::dispatch::resolve;
use netraven_shared::messages::Targets;
use std::time::Instant;

pub const TAGS: i64 = 1_000;
pub const CREDENTIALS: i64 = 200;

/// Fills the scratch inventory with `devices` devices, in a few set-based statements.
pub async fn populate(scratch: &Scratch, devices: i64) -> Result<()> {
    let client = scratch.pool.get().await?;
    client
        .batch_execute(&format!(
            "INSERT INTO tags (name) SELECT 'tag-' || g FROM generate_series(1, {TAGS}) g;
             INSERT INTO credentials (name, username, priority, sealed_secret)
               SELECT 'cred-' || g, 'user' || g, (g * 7919) % 100, 'nrv1:bench:AAAA'
               FROM generate_series(1, {CREDENTIALS}) g;
             INSERT INTO credential_tags (credential_id, tag_id)
               SELECT c.id, t.id FROM credentials c
               CROSS JOIN generate_series(0, 4) k
               JOIN tags t ON t.name = 'tag-' || (((c.id * 5 + k) % {TAGS}) + 1)
               ON CONFLICT DO NOTHING;
             INSERT INTO devices (name, host, port, platform)
               SELECT 'dev-' || g, '10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256), 22,
                      (ARRAY['linux', 'cisco_ios', 'juniper_junos'])[1 + g % 3]
               FROM generate_series(1, {devices}) g;
             INSERT INTO device_tags (device_id, tag_id)
               SELECT d.id, t.id FROM devices d
               CROSS JOIN generate_series(0, 2) k
               JOIN tags t ON t.name = 'tag-' || (((d.id * 7 + k * 331) % {TAGS}) + 1)
               ON CONFLICT DO NOTHING;
             ANALYZE;"
        ))
        .await?;
    Ok(())
}

/// Resolves every device (targeted by all tags) and returns the figure: the best of a
/// few runs, as a dispatcher with a warm cache would see it.
pub async fn measure(scratch: &Scratch, devices: i64, runs: usize) -> Result<Figure> {
    let client = scratch.pool.get().await?;
    let targets = Targets {
        tags: (1..=TAGS).map(|g| format!("tag-{g}")).collect(),
        ..Targets::default()
    };
    let mut best = None;
    let mut resolved = 0;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let r = resolve::resolve(&client, &targets, 5).await?;
        let took = started.elapsed();
        resolved = r.devices.len();
        best = Some(best.map_or(took, |b: std::time::Duration| b.min(took)));
        anyhow::ensure!(
            r.resolved_count() == resolved,
            "every device should match a credential"
        );
    }
    anyhow::ensure!(
        resolved as i64 == devices,
        "resolved {resolved} of {devices} devices"
    );
    Ok(Figure::seconds(
        &format!("resolution_{devices}"),
        best.unwrap_or_default(),
        format!("{devices} devices, {TAGS} tags, {CREDENTIALS} credentials, 3 tags per device, best of {runs}"),
    ))
}
