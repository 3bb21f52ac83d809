//! What every handler shares (REST now, the console later): the pool, the gateway to the
//! dispatchers, the settings.

use crate::gateway::Gateway;
use deadpool_postgres::Pool;
use netraven_shared::config::ApiSettings;

pub struct AppState {
    pub pool: Pool,
    pub gateway: Gateway,
    pub settings: ApiSettings,
    /// `dispatcher.schedule_spread_ms`: when a schedule's next tick is really due.
    pub schedule_spread: chrono::Duration,
    /// Held while this replica goes round the dead-letter queue (a listing or a replay):
    /// two rounds at once would each see only the messages the other had not taken.
    pub dead_letters: tokio::sync::Mutex<()>,
    /// Live progress streams open, by session: each reads Postgres every second for up
    /// to an hour, so one session may hold a few ([`crate::console::live`]), not hundreds.
    pub live_streams: std::sync::Mutex<std::collections::HashMap<Vec<u8>, usize>>,
}

impl AppState {
    /// A page size: the request's `limit`, or the default; at most `api.max_page_size`.
    pub fn page_size(&self, limit: Option<u32>) -> Result<usize, crate::problem::Problem> {
        let limit = limit.unwrap_or(self.settings.default_page_size);
        if limit == 0 || limit > self.settings.max_page_size {
            return Err(crate::problem::Problem::bad_request(format!(
                "limit must be 1 to {}",
                self.settings.max_page_size
            )));
        }
        Ok(limit as usize)
    }
}
