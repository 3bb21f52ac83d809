//! The caller of a request: the holder of its `Authorization: Bearer` token, checked
//! against the scope the handler asks for. Extractors: [`Read`], [`Submit`], [`Admin`].

use super::store::{self, Holder, Refused};
use super::token::Scope;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use netraven_shared::telemetry::metrics;
use std::sync::Arc;

/// A caller whose token holds at least scope `S`.
#[derive(Debug, Clone)]
pub struct Caller<const S: u8>(pub Holder);

pub type Read = Caller<0>;
pub type Submit = Caller<1>;
pub type Admin = Caller<2>;

const fn scope_of(s: u8) -> Scope {
    match s {
        0 => Scope::Read,
        1 => Scope::Submit,
        _ => Scope::Admin,
    }
}

fn refuse(reason: &str, problem: Problem) -> Problem {
    metrics::get()
        .api_auth_failures_total
        .with_label_values(&[reason])
        .inc();
    problem
}

impl<const S: u8> FromRequestParts<Arc<AppState>> for Caller<S> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(refuse(
                "missing",
                Problem::unauthorized("send an API token: Authorization: Bearer nrv_…"),
            ));
        };
        let client = state.pool.get().await.map_err(Problem::internal)?;
        let holder = match store::check(&client, presented)
            .await
            .map_err(Problem::internal)?
        {
            Ok(h) => h,
            Err(Refused::Expired) => {
                return Err(refuse(
                    Refused::Expired.as_str(),
                    Problem::unauthorized("the token has expired"),
                ))
            }
            // Unknown, revoked and malformed look alike to the client.
            Err(why) => {
                return Err(refuse(
                    why.as_str(),
                    Problem::unauthorized("the token is not valid"),
                ))
            }
        };
        let needed = scope_of(S);
        if holder.scope < needed {
            return Err(refuse(
                "scope",
                Problem::forbidden(format!(
                    "this needs a token of scope {needed}; token {:?} has {}",
                    holder.name, holder.scope
                )),
            ));
        }
        Ok(Caller(holder))
    }
}
