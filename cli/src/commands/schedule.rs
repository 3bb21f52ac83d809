//! `netraven schedule add`, `list`, `show`, `pause`, `resume`, `remove`, `apply` and
//! `export`: schedules in Postgres, run by the dispatchers.

use super::connect::connect;
use crate::args::{AddArgs, ScheduleCommand};
use crate::{output, say, views};
use anyhow::Result;
use chrono::{DateTime, Utc};
use netraven_schedules::{self as schedules, Action, Applied};
use netraven_shared::config::Settings;
use netraven_shared::messages::{Limits, Targets};
use netraven_shared::schedule::{Calendar, ScheduleSpec};

pub async fn run(settings: &Settings, cmd: ScheduleCommand) -> Result<()> {
    match cmd {
        ScheduleCommand::Add(args) => {
            let spec = spec_of(*args)?;
            let client = connect(settings).await?;
            let next = schedules::add(&client, &spec).await?;
            let calendar = schedules::check(&spec)?;
            let state = if spec.paused == Some(true) {
                " (paused: `netraven schedule resume` starts it)"
            } else {
                ""
            };
            say!(
                "added schedule {}; next tick {}{state}",
                spec.name,
                tick(&calendar, next)
            )?;
        }
        ScheduleCommand::List { out } => {
            let client = connect(settings).await?;
            let rows = views::schedules::list(&client, None, None).await?;
            out.print(&rows, |r: &Vec<_>, s| views::schedules::render_list(r, s))?;
        }
        ScheduleCommand::Show { name, runs, out } => {
            let client = connect(settings).await?;
            let spread = chrono::Duration::milliseconds(
                i64::try_from(settings.dispatcher.schedule_spread_ms).unwrap_or(i64::MAX),
            );
            let detail = views::schedules::show(&client, &name, runs, spread).await?;
            out.print(&detail, views::schedules::render_show)?;
        }
        ScheduleCommand::Pause { name } => {
            let mut client = connect(settings).await?;
            let c = schedules::set_paused(&mut client, &name, true).await?;
            if c.changed {
                say!("paused schedule {name}: its ticks are not taken until `netraven schedule resume {name}`")?;
            } else {
                say!("schedule {name} was already paused")?;
            }
        }
        ScheduleCommand::Resume { name } => {
            let mut client = connect(settings).await?;
            let c = schedules::set_paused(&mut client, &name, false).await?;
            let next = tick(&c.calendar, c.next_tick_at);
            if c.changed {
                say!(
                    "resumed schedule {name}; next tick {next} (ticks that came due while it \
                     was paused are not run)"
                )?;
            } else {
                say!("schedule {name} was already running; next tick {next}")?;
            }
        }
        ScheduleCommand::Remove { name } => {
            let mut client = connect(settings).await?;
            let runs = schedules::remove(&mut client, &name).await?;
            say!("removed schedule {name} and its {runs} runs (the jobs it started are kept)")?;
        }
        ScheduleCommand::Apply {
            file,
            prune,
            dry_run,
        } => {
            let parsed = schedules::read_file(&file)?;
            let mut client = connect(settings).await?;
            let applied = schedules::apply(&mut client, &parsed, prune, dry_run).await?;
            output::data(&render_applied(&applied))?;
        }
        ScheduleCommand::Export { names } => {
            let client = connect(settings).await?;
            let file = schedules::export(&client, &names).await?;
            output::data(&schedules::to_yaml(&file)?)?;
        }
    }
    Ok(())
}

/// `2026-12-06 02:00:00 CET (2026-12-06 01:00:00 UTC)`, or `none` when the expression
/// has no future tick.
fn tick(calendar: &Calendar, t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => {
            let utc = t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
            let local = calendar.local(t);
            if local == utc {
                utc
            } else {
                format!("{local} ({utc})")
            }
        }
        None => "none: the expression has no future tick".into(),
    }
}

/// The schedule `add`'s flags describe.
fn spec_of(a: AddArgs) -> Result<ScheduleSpec> {
    let ms = |d: Option<std::time::Duration>| {
        d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    Ok(ScheduleSpec {
        name: a.name,
        description: a.description,
        cron: a.cron,
        time_zone: a.time_zone,
        job_type: a.job_type,
        targets: Targets {
            devices: a.devices,
            device_ids: Vec::new(),
            tags: a.tags,
        },
        commands: a.commands,
        limits: Limits {
            job_deadline_ms: ms(a.job_deadline),
            device_deadline_ms: ms(a.device_deadline),
            max_credentials_per_device: a.max_credentials,
            host_key_policy: a.host_key_policy,
            ..Limits::default()
        },
        overlap: a.overlap,
        catch_up: a.catch_up,
        paused: Some(a.paused),
    })
}

/// One line per schedule, then a summary.
fn render_applied(a: &Applied) -> String {
    let width = a.schedules.iter().map(|p| p.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for p in &a.schedules {
        let mut detail = match &p.action {
            Action::Updated { changed } => changed.join(", "),
            _ => String::new(),
        };
        if p.retick {
            if let Some(c) = &p.calendar {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!("next tick {}", tick(c, p.next_tick_at)));
            }
        }
        let line = format!("{:<9}  {:<width$}  {detail}", p.action.verb(), p.name);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !a.kept.is_empty() {
        out.push_str(&format!(
            "kept (not in the file; --prune removes them): {}\n",
            a.kept.join(", ")
        ));
    }
    out.push_str(&format!(
        "{} created, {} updated, {} unchanged, {} removed{}\n",
        a.count("created"),
        a.count("updated"),
        a.count("unchanged"),
        a.count("removed"),
        if a.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    ));
    out
}
