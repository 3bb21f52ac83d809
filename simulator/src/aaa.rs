//! What the AAA server behind a fleet would see: by username, how many authentication
//! requests carrying a secret were in progress at once (and the most at any time), and
//! when each arrived. The fleet-wide login budget is tested against this record.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Every authentication request of the fleet's devices, by username.
#[derive(Debug)]
pub struct Aaa {
    started: Instant,
    users: Mutex<HashMap<String, User>>,
}

#[derive(Debug, Default)]
struct User {
    in_progress: u32,
    peak: u32,
    arrived_ms: Vec<u64>,
}

/// One username's record, as [`crate::Fleet::aaa`] and `GET /aaa` give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaaUser {
    /// The most requests of this username in progress at once, over every device.
    pub peak_concurrent: u32,
    /// When each request arrived, in milliseconds since the fleet started, in order.
    pub arrived_ms: Vec<u64>,
}

impl AaaUser {
    /// The most requests that arrived within any span of `window_ms`.
    pub fn most_within(&self, window_ms: u64) -> usize {
        let t = &self.arrived_ms;
        let mut most = 0;
        let mut first = 0;
        for last in 0..t.len() {
            while t[last] - t[first] >= window_ms {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }
}

/// A request in progress: it ends when dropped (answered, or its connection gone).
pub(crate) struct Request {
    aaa: Arc<Aaa>,
    user: String,
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(u) = self.aaa.lock().get_mut(&self.user) {
            u.in_progress = u.in_progress.saturating_sub(1);
        }
    }
}

impl Default for Aaa {
    fn default() -> Self {
        Aaa {
            started: Instant::now(),
            users: Mutex::new(HashMap::new()),
        }
    }
}

impl Aaa {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, User>> {
        match self.users.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A request of `user` arrives; it is in progress until the returned guard drops.
    pub(crate) fn begin(self: &Arc<Self>, user: &str) -> Request {
        let at = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut users = self.lock();
        let u = users.entry(user.to_string()).or_default();
        u.in_progress += 1;
        u.peak = u.peak.max(u.in_progress);
        u.arrived_ms.push(at);
        Request {
            aaa: self.clone(),
            user: user.to_string(),
        }
    }

    /// The record so far, by username.
    pub fn report(&self) -> BTreeMap<String, AaaUser> {
        self.lock()
            .iter()
            .map(|(name, u)| {
                (
                    name.clone(),
                    AaaUser {
                        peak_concurrent: u.peak,
                        arrived_ms: u.arrived_ms.clone(),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_progress_and_their_peak_are_counted_per_username() {
        let aaa = Arc::new(Aaa::default());
        let a = aaa.begin("netops");
        let b = aaa.begin("netops");
        let _other = aaa.begin("admin");
        drop(a);
        let _c = aaa.begin("netops");
        drop(b);
        let report = aaa.report();
        assert_eq!(report["netops"].peak_concurrent, 2);
        assert_eq!(report["netops"].arrived_ms.len(), 3);
        assert_eq!(report["admin"].peak_concurrent, 1);
    }

    #[test]
    fn the_busiest_window_is_found() {
        let u = AaaUser {
            peak_concurrent: 1,
            arrived_ms: vec![0, 100, 900, 1000, 1100, 1150, 3000],
        };
        // 900..=1150 holds four; 100 and 1100 are a whole window apart.
        assert_eq!(u.most_within(1000), 4);
        assert_eq!(u.most_within(251), 4);
        assert_eq!(u.most_within(250), 3);
        assert_eq!(u.most_within(1), 1);
    }
}
