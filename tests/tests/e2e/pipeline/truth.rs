//! What the pipeline tests check against: each device's expected end and the simulator's ground truth.

use netraven_shared::domain::Outcome;
use netraven_simulator::{AuthMethod, Fleet, FleetSpec};
use std::collections::HashMap;
use std::time::Duration;

pub(super) const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// What a device must end as, from its spec: orphans have no credential, a device that
/// accepts nothing rejects all three, others log in with the credential they accept.
pub(super) fn expected(spec: &FleetSpec) -> HashMap<String, (Outcome, Option<String>, usize)> {
    let mut creds = spec.credentials.clone();
    creds.sort_by_key(|c| c.priority);
    spec.devices
        .iter()
        .map(|d| {
            let e = if d.tags == ["orphan"] {
                (Outcome::NoCredentials, None, 0)
            } else {
                match creds.iter().position(|c| {
                    d.accepts
                        .contains(&(c.username.clone(), c.password.clone()))
                }) {
                    Some(i) => (Outcome::Success, Some(creds[i].name.clone()), i + 1),
                    None => (Outcome::AuthFailed, None, creds.len()),
                }
            };
            (d.name.clone(), e)
        })
        .collect()
}

/// Password logins the simulator saw per device: (attempts, accepted username).
pub(super) fn ground_truth(fleet: &Fleet) -> HashMap<String, (usize, Option<String>)> {
    fleet
        .all_attempts()
        .into_iter()
        .map(|(device, attempts)| {
            let pw: Vec<_> = attempts
                .iter()
                .filter(|a| a.method == AuthMethod::Password)
                .collect();
            let accepted = pw.iter().find(|a| a.accepted).map(|a| a.username.clone());
            (device, (pw.len(), accepted))
        })
        .collect()
}
