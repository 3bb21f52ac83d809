//! `netraven api` and `netraven token`.

use super::connect::connect;
use crate::args::{ApiCommand, OutputArgs, TokenCommand};
use crate::views::{self, Style};
use anyhow::{bail, Context, Result};
use netraven_api::auth::{store, NewToken, Scope, TokenRow};
use netraven_shared::config::Settings;
use netraven_shared::shutdown;

pub(super) async fn api(settings: Settings, command: Option<ApiCommand>) -> Result<()> {
    match command {
        Some(ApiCommand::Openapi) => Ok(crate::output::data(&netraven_api::rest::openapi_json())?),
        None => Ok(netraven_api::run(settings, shutdown::on_signal()).await?),
    }
}

pub(super) async fn token(settings: &Settings, command: TokenCommand) -> Result<()> {
    let client = connect(settings).await?;
    match command {
        TokenCommand::Create {
            name,
            scope,
            submitter,
            expires,
        } => {
            let scope: Scope = scope.parse().map_err(anyhow::Error::msg)?;
            let expires_at = expires
                .map(|d| chrono::Duration::from_std(d.into()).map(|d| chrono::Utc::now() + d))
                .transpose()
                .context("--expires is too long")?;
            let new = NewToken {
                submitter: submitter.unwrap_or_else(|| format!("token:{name}")),
                name,
                scope,
                expires_at,
            };
            let (_, token) = store::create(&client, &new).await?;
            crate::note!(
                "token {:?}: scope {}, submitter {:?}; shown once, keep it now",
                new.name,
                new.scope,
                new.submitter
            );
            Ok(crate::output::data(&format!("{}\n", token.reveal()))?)
        }
        TokenCommand::List { output } => {
            let rows = store::list(&client).await?;
            print_list(&output, &rows)
        }
        TokenCommand::Revoke { name } => {
            if !store::revoke(&client, &name).await? {
                bail!("no token {name:?} to revoke (or it is revoked already)");
            }
            crate::note!("token {name:?} revoked");
            Ok(())
        }
    }
}

fn print_list(output: &OutputArgs, rows: &[TokenRow]) -> Result<()> {
    output.print(&rows, |rows, style: Style| {
        if rows.is_empty() {
            return "no tokens\n".into();
        }
        let mut table = style.table([
            "NAME",
            "PREFIX",
            "SCOPE",
            "SUBMITTER",
            "CREATED",
            "LAST USED",
            "EXPIRES",
            "REVOKED",
        ]);
        for t in rows.iter() {
            table.add_row(vec![
                views::text(&t.name),
                views::text(&format!("{}…", t.prefix)),
                views::text(t.scope.as_str()),
                views::text(&t.submitter),
                comfy_table::Cell::new(views::ago(Some(t.created_at))),
                comfy_table::Cell::new(views::ago(t.last_used_at)),
                comfy_table::Cell::new(t.expires_at.map_or("never".into(), |e| {
                    e.format("%Y-%m-%d %H:%M UTC").to_string()
                })),
                comfy_table::Cell::new(views::ago(t.revoked_at)),
            ]);
        }
        format!("{table}\n")
    })
}
