//! `netraven migrate`, `services ensure`, `sim`, `broker setup` and `dead ...`:
//! running and operating the fleet's machinery.

use crate::args::{BrokerCommand, DeadCommand, ServicesCommand, SimArgs};
use crate::{access, dead_letters, say, services};
use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_shared::{db, shutdown};

pub async fn migrate(settings: &Settings) -> Result<()> {
    let applied = db::migrate(&settings.database.url).await?;
    if applied.is_empty() {
        say!(
            "schema up to date ({} migrations)",
            db::migration_names().len()
        )?;
    } else {
        say!("applied {}", applied.join(", "))?;
    }
    Ok(())
}

pub fn services(settings: &Settings, cmd: ServicesCommand) -> Result<()> {
    let ServicesCommand::Ensure = cmd;
    services::ensure(&settings.database.url, &settings.amqp.url, |m| {
        crate::note!("{m}")
    })?;
    say!("PostgreSQL and RabbitMQ are up")?;
    Ok(())
}

pub async fn broker(settings: &Settings, cmd: BrokerCommand) -> Result<()> {
    let BrokerCommand::Setup(args) = cmd;
    let accounts = access::accounts(
        &settings.amqp.namespace,
        &access::SetupArgs {
            users: args.users,
            submitters: args.submitters,
            password_files: args.password_files,
            password_envs: args.password_envs,
        },
    )?;
    if args.print {
        let names = netraven_shared::broker::Names::new(&settings.amqp.namespace);
        let defs = access::definitions(&accounts, &names, &settings.amqp)?;
        say!("{}", serde_json::to_string_pretty(&defs)?)?;
    } else {
        access::setup(&settings.amqp, &args.rabbitmqctl, &accounts).await?;
        for a in &accounts {
            crate::note!("{} account {} ready", a.role.as_str(), a.user);
        }
        crate::note!(
            "topology of namespace {} declared; run the roles with \
             amqp.declare_topology = false",
            settings.amqp.namespace
        );
    }
    Ok(())
}

pub async fn dead(settings: &Settings, cmd: DeadCommand) -> Result<()> {
    match cmd {
        DeadCommand::List {
            source,
            offset,
            limit,
            out,
        } => {
            let filter = dead_letters::Filter {
                source,
                offset,
                limit,
            };
            let listing = dead_letters::list(&settings.amqp, "cli-dead", &filter).await?;
            out.print(&listing, dead_letters::render_list)
        }
        DeadCommand::Replay { source, limit, out } => {
            let what = dead_letters::Replay {
                source,
                limit,
                on_behalf: None,
            };
            let done = dead_letters::replay(&settings.amqp, "cli-dead", &what).await?;
            out.print(&done, dead_letters::render_replayed)
        }
    }
}

/// `netraven sim`: a simulated fleet until SIGINT/SIGTERM; what it serves goes to stderr.
pub async fn sim(args: SimArgs) -> Result<()> {
    use netraven_simulator::{scenario, serve_control, Fleet, FleetOptions};
    use std::sync::Arc;
    let (spec, name) = match &args.scenario_file {
        Some(path) => (
            netraven_simulator::scenario_file::load(path, args.devices, args.seed)?,
            path.display().to_string(),
        ),
        None => (
            scenario(&args.scenario, args.devices.unwrap_or(100), args.seed)?,
            args.scenario.clone(),
        ),
    };
    let fleet = Arc::new(
        Fleet::start(
            spec,
            FleetOptions {
                base_port: args.base_port,
                auth_rejection_ms: args.auth_rejection_ms,
                ..FleetOptions::default()
            },
        )
        .await?,
    );
    let devices = fleet.devices();
    let (first, last) = (
        devices.first().map_or(0, |d| d.port),
        devices.last().map_or(0, |d| d.port),
    );
    crate::note!(
        "serving {} {} devices on 127.0.0.1 ports {first}..={last}",
        devices.len(),
        name
    );
    if let Some(path) = &args.inventory {
        fleet.write_inventory(path)?;
        crate::note!("inventory written to {}", path.display());
    }
    let stop = shutdown::on_signal();
    if let Some(addr) = args.control_addr {
        let (f, s) = (fleet.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_control(f, addr, s).await {
                crate::note!("control endpoint stopped: {e}");
            }
        });
        crate::note!("ground truth on http://{addr}/attempts");
    }
    stop.cancelled().await;
    fleet.stop().await;
    Ok(())
}
