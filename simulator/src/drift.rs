//! Drift: a share of the fleet changes its configuration at each epoch, deterministically,
//! and the ground truth of who changed what.
//!
//! At epoch `e` the devices that change are the `round(share × devices)` whose label
//! `(seed, e, name)` hashes lowest. Each device always changes the same way, chosen from
//! `(seed, name)`: a line added (a static route before the last line), a line removed or a
//! line changed (an interface description; a device without one adds a line instead).
//! Changes accumulate: a device's configuration at epoch 2 holds its change of epoch 1.
//! Secret-bearing lines are never touched, so [`crate::Fleet::config_secrets`] stays true.

use serde::{Deserialize, Serialize};

use crate::seed::Rng;
use crate::{Fleet, Platform, SimError};

/// How one device's configuration changed at one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftChange {
    LineAdded,
    LineRemoved,
    LineChanged,
}

/// One device that changed at an epoch, with the size of its change: what a line diff of
/// its configuration before and after counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDrift {
    pub name: String,
    pub change: DriftChange,
    pub lines_added: u32,
    pub lines_removed: u32,
}

/// One epoch: its number (from 1), the share it was asked for, and the devices changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftEpoch {
    pub epoch: u64,
    pub share: f64,
    pub devices: Vec<DeviceDrift>,
}

/// A share must be a number in 0..=1.
pub(crate) fn check_share(share: f64) -> Result<(), SimError> {
    if (0.0..=1.0).contains(&share) {
        Ok(())
    } else {
        Err(SimError::InvalidSpec(format!(
            "drift {share} is not a share in 0..=1"
        )))
    }
}

/// The change `name` makes whenever it drifts.
fn change_of(seed: u64, name: &str) -> DriftChange {
    match Rng::new(seed, &format!("drift-change/{name}")).below(3) {
        0 => DriftChange::LineAdded,
        1 => DriftChange::LineRemoved,
        _ => DriftChange::LineChanged,
    }
}

/// The indexes in `names` of the devices that change at `epoch`.
fn chosen(seed: u64, epoch: u64, names: &[&str], share: f64) -> Vec<usize> {
    let count = ((share * names.len() as f64).round() as usize).min(names.len());
    let mut ranked: Vec<(u64, usize)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (Rng::new(seed, &format!("drift/{epoch}/{n}")).next_u64(), i))
        .collect();
    ranked.sort_unstable();
    let mut picked: Vec<usize> = ranked.into_iter().take(count).map(|(_, i)| i).collect();
    picked.sort_unstable();
    picked
}

fn is_description(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("description ")
        || (t.starts_with("set interfaces ") && t.contains(" description "))
}

/// Applies `name`'s change of `epoch` to its configuration `text` (`\n` line ends).
pub(crate) fn apply(
    text: &mut String,
    seed: u64,
    name: &str,
    platform: Platform,
    epoch: u64,
) -> DeviceDrift {
    let mut rng = Rng::new(seed, &format!("drift-line/{name}/{epoch}"));
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let descriptions: Vec<usize> = (0..lines.len())
        .filter(|&i| is_description(&lines[i]))
        .collect();
    let mut change = change_of(seed, name);
    if descriptions.is_empty() {
        change = DriftChange::LineAdded;
    }
    let (lines_added, lines_removed) = match change {
        DriftChange::LineAdded => {
            let (a, b) = (rng.below(256), rng.below(256));
            let route = match platform {
                Platform::CiscoIos | Platform::CiscoXe => {
                    format!("ip route 10.{a}.{b}.0 255.255.255.0 Null0\n")
                }
                Platform::CiscoXr => {
                    format!("router static address-family ipv4 unicast 10.{a}.{b}.0/24 Null0\n")
                }
                Platform::CiscoAsa => format!("route seg0 10.{a}.{b}.0 255.255.255.0 10.0.0.1 1\n"),
                Platform::HuaweiVrp => format!("ip route-static 10.{a}.{b}.0 24 NULL0\n"),
                Platform::HpProcurve => {
                    format!("ip route 10.{a}.{b}.0 255.255.255.0 blackhole\n")
                }
                Platform::Linux => format!("ip route 10.{a}.{b}.0/24 blackhole\n"),
                Platform::JuniperJunos => {
                    format!("set routing-options static route 10.{a}.{b}.0/24 discard\n")
                }
                Platform::Fortinet => format!("        set dst 10.{a}.{b}.0 255.255.255.0\n"),
                Platform::ArubaAoscx => format!("ip route 10.{a}.{b}.0/24 blackhole\n"),
                Platform::CiscoNxos | Platform::AristaEos => {
                    format!("ip route 10.{a}.{b}.0/24 Null0\n")
                }
                Platform::MikrotikRouteros => format!(
                    "add blackhole dst-address=10.{a}.{b}.0/24\n"
                ),
                Platform::PaloaltoPanos => format!(
                    "      <entry name=\"net-10-{a}-{b}\"><ip-netmask>10.{a}.{b}.0/24</ip-netmask></entry>\n"
                ),
            };
            // FortiOS: into the last `edit` (the blackhole route), before `next` and `end`;
            // PAN-OS: into the shared address list, before its closing tags.
            let back = match platform {
                Platform::Fortinet => 2,
                Platform::PaloaltoPanos => 3,
                _ => 1,
            };
            lines.insert(lines.len().saturating_sub(back), route);
            (1, 0)
        }
        DriftChange::LineRemoved => {
            let i = *rng.pick(&descriptions);
            lines.remove(i);
            (0, 1)
        }
        DriftChange::LineChanged => {
            let i = *rng.pick(&descriptions);
            let line = &mut lines[i];
            let end = line.trim_end_matches('\n').len();
            line.insert_str(end, &format!("-rev{epoch}"));
            (1, 1)
        }
    };
    *text = lines.concat();
    DeviceDrift {
        name: name.to_string(),
        change,
        lines_added,
        lines_removed,
    }
}

impl Fleet {
    /// The drift share the fleet was started with ([`crate::FleetSpec::drift`]).
    pub fn drift_share(&self) -> f64 {
        self.drift_share
    }

    /// Starts the next epoch with the fleet's drift share: which devices changed, and how.
    pub fn advance_drift(&self) -> DriftEpoch {
        self.drift_epoch(self.drift_share)
    }

    /// [`Fleet::advance_drift`] with another share (0..=1) for this epoch.
    pub fn advance_drift_by(&self, share: f64) -> Result<DriftEpoch, SimError> {
        check_share(share)?;
        Ok(self.drift_epoch(share))
    }

    fn drift_epoch(&self, share: f64) -> DriftEpoch {
        let mut history = crate::ground_truth::lock(&self.drift);
        let epoch = history.len() as u64 + 1;
        let names: Vec<&str> = self.devices.iter().map(|d| d.name()).collect();
        let devices = chosen(self.seed, epoch, &names, share)
            .into_iter()
            .map(|i| self.devices[i].drift(epoch))
            .collect();
        let record = DriftEpoch {
            epoch,
            share,
            devices,
        };
        history.push(record.clone());
        tracing::info!(
            epoch,
            changed = record.devices.len(),
            "simulated fleet drifted"
        );
        record
    }

    /// Every epoch so far, oldest first (empty before the first).
    pub fn drift_epochs(&self) -> Vec<DriftEpoch> {
        crate::ground_truth::lock(&self.drift).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_gen::generate;

    #[test]
    fn the_chosen_share_is_exact_and_depends_on_the_epoch() {
        let names: Vec<String> = (1..=50).map(|i| format!("dev-{i:05}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let one = chosen(7, 1, &refs, 0.2);
        assert_eq!(one.len(), 10);
        assert_eq!(one, chosen(7, 1, &refs, 0.2), "deterministic");
        assert_ne!(one, chosen(7, 2, &refs, 0.2), "another epoch, others");
        assert!(chosen(7, 1, &refs, 0.0).is_empty());
        assert_eq!(chosen(7, 1, &refs, 1.0).len(), 50);
        assert!(check_share(1.5).is_err() && check_share(f64::NAN).is_err());
    }

    #[test]
    fn each_change_is_one_line_and_keeps_every_secret() {
        for (i, platform) in Platform::ALL.into_iter().enumerate() {
            for n in 0..12 {
                let name = format!("d{i}-{n}");
                let base = generate(3, &name, platform, 4096);
                let mut text = base.text.clone();
                let d1 = apply(&mut text, 3, &name, platform, 1);
                let after_one = text.clone();
                let d2 = apply(&mut text, 3, &name, platform, 2);
                assert_eq!(d1.change, d2.change, "a device changes one way");
                for (before, after, d) in [(&base.text, &after_one, &d1), (&after_one, &text, &d2)]
                {
                    let (old, new): (Vec<&str>, Vec<&str>) =
                        (before.lines().collect(), after.lines().collect());
                    assert_eq!(
                        new.len() as i64 - old.len() as i64,
                        i64::from(d.lines_added) - i64::from(d.lines_removed),
                        "{name}"
                    );
                    let gone = old.iter().filter(|l| !new.contains(l)).count();
                    let came = new.iter().filter(|l| !old.contains(l)).count();
                    assert!(gone <= d.lines_removed as usize && came <= d.lines_added as usize);
                    assert_ne!(before, after);
                }
                for secret in &base.secrets {
                    assert!(text.contains(secret.as_str()), "{name}: {secret} lost");
                }
            }
        }
    }
}
