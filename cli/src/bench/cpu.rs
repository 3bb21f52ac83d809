//! Where a job's CPU goes: user + system time of each process taking part, read from
//! `/proc` before and after, grouped by what the process is. On two cores shared by
//! everything, CPU per device is what bounds the rate, so this is the profile that says
//! which part to make cheaper.

use std::collections::BTreeMap;

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds by group at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample(BTreeMap<String, f64>);

/// The processes of one job run, by group.
#[derive(Debug, Clone)]
pub struct Groups {
    /// Named processes: `("worker", pid)`, `("dispatcher", pid)`, …
    pub roles: Vec<(String, u32)>,
}

impl Groups {
    /// Reads every group's CPU time now. This process is `bench+simulator` (the
    /// simulated devices run in it); Postgres is every `postgres` process plus the CPU of
    /// backends that already exited (the postmaster's children's time); RabbitMQ is
    /// `beam.smp` and its helpers.
    pub fn sample(&self) -> Sample {
        let mut out = BTreeMap::new();
        let mut add = |group: &str, seconds: f64| {
            *out.entry(group.to_string()).or_insert(0.0) += seconds;
        };
        add(
            "bench+simulator",
            own_seconds(std::process::id()).unwrap_or(0.0),
        );
        for (group, pid) in &self.roles {
            add(group, own_seconds(*pid).unwrap_or(0.0));
        }
        for (pid, comm) in processes() {
            match comm.as_str() {
                "postgres" => {
                    add("postgres", own_seconds(pid).unwrap_or(0.0));
                    add("postgres", children_seconds(pid).unwrap_or(0.0));
                }
                "beam.smp" | "erl_child_setup" | "epmd" | "inet_gethost" => {
                    add("rabbitmq", own_seconds(pid).unwrap_or(0.0));
                }
                _ => {}
            }
        }
        Sample(out)
    }
}

impl Sample {
    /// CPU seconds spent by each group from `self` to `later`.
    pub fn until(&self, later: &Sample) -> BTreeMap<String, f64> {
        later
            .0
            .iter()
            .map(|(g, s)| (g.clone(), s - self.0.get(g).copied().unwrap_or(0.0)))
            .collect()
    }
}

/// User + system CPU seconds of this process so far.
pub fn this_process_seconds() -> f64 {
    process_seconds(std::process::id())
}

/// User + system CPU seconds of process `pid` so far (0 if it is gone).
pub fn process_seconds(pid: u32) -> f64 {
    own_seconds(pid).unwrap_or(0.0)
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain blanks: fields start after it.
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// utime + stime (fields 14 and 15 of `stat`; 12 and 13 after the name).
fn own_seconds(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / TICKS_PER_SECOND)
}

/// cutime + cstime: children that exited and were waited for.
fn children_seconds(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    let ticks: i64 = f.get(13)?.parse::<i64>().ok()? + f.get(14)?.parse::<i64>().ok()?;
    Some(ticks.max(0) as f64 / TICKS_PER_SECOND)
}

fn processes() -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        Some((pid, comm.trim().to_string()))
    })
    .collect()
}
