//! [`Latency`]: how slowly a device answers, as one across a real network with a real AAA
//! server would. Every knob is zero by default (answers at once, as on loopback).
//!
//! | knob | what waits | models |
//! |---|---|---|
//! | `rtt_ms` | the connection's acceptance, then every byte the client sends, this long before the device reads it | the network's round trip: each exchange of the SSH handshake, the login and every command costs one |
//! | `aaa_accept_ms` | the answer to a login the device accepts (password, keyboard-interactive, a signed key) | the TACACS+/RADIUS server's accept |
//! | `aaa_reject_ms` | the answer to a login it rejects | the same server's reject, often slower (OpenSSH adds its own ~1 s) |
//! | `prompt_ms` | each answer to a command (and the first prompt) | the device's own think time |
//! | `output_bytes_per_s` | that answer, until its bytes would have left at this rate | a device printing a large configuration: 20 KB of `show running-config` in about 1 s is 20,000 |
//!
//! The round trip is a delay line on what the client sends: the device's side of the
//! connection reads each chunk `rtt_ms` after it arrived, in order, and what it writes
//! leaves at once. One request and its answer then take one round trip, as on a real
//! network, whichever side's clock one reads. The answer to a command leaves whole once
//! its time is up (`prompt_ms` + bytes ÷ rate), which is what a client waiting for the
//! prompt sees of a slowly printing device.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How slowly a device answers; see the module's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Latency {
    pub rtt_ms: u32,
    pub aaa_accept_ms: u32,
    pub aaa_reject_ms: u32,
    pub prompt_ms: u32,
    /// 0: no limit.
    pub output_bytes_per_s: u32,
}

impl Latency {
    /// True when the device answers at once (nothing to wait for).
    pub fn is_zero(&self) -> bool {
        *self == Latency::default()
    }

    pub fn rtt(&self) -> Option<Duration> {
        nonzero(self.rtt_ms)
    }

    /// The AAA server's delay before it answers a login.
    pub fn aaa(&self, accepted: bool) -> Option<Duration> {
        nonzero(if accepted {
            self.aaa_accept_ms
        } else {
            self.aaa_reject_ms
        })
    }

    /// How long an answer of `bytes` takes to leave: the think time, then the bytes at
    /// the output rate.
    pub fn answer(&self, bytes: usize) -> Option<Duration> {
        let think = Duration::from_millis(u64::from(self.prompt_ms));
        let print = match self.output_bytes_per_s {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(bytes as f64 / f64::from(rate)),
        };
        Some(think + print).filter(|d| !d.is_zero())
    }
}

fn nonzero(ms: u32) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(u64::from(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_waits_for_its_think_time_and_its_bytes() {
        let l = Latency {
            prompt_ms: 50,
            output_bytes_per_s: 20_000,
            ..Latency::default()
        };
        assert_eq!(l.answer(20_000), Some(Duration::from_millis(1_050)));
        assert_eq!(l.answer(0), Some(Duration::from_millis(50)));
        assert_eq!(Latency::default().answer(20_000), None);
        assert!(Latency::default().is_zero() && !l.is_zero());
    }

    #[test]
    fn accept_and_reject_wait_apart() {
        let l = Latency {
            aaa_accept_ms: 300,
            aaa_reject_ms: 1_000,
            ..Latency::default()
        };
        assert_eq!(l.aaa(true), Some(Duration::from_millis(300)));
        assert_eq!(l.aaa(false), Some(Duration::from_secs(1)));
        assert_eq!(l.rtt(), None);
    }

    #[test]
    fn unknown_knobs_are_refused() {
        let e = serde_yaml_ng::from_str::<Latency>("{ rtt: 40 }").expect_err("rtt is no knob");
        assert!(e.to_string().contains("rtt"), "{e}");
        let l: Latency = serde_yaml_ng::from_str("{ rtt_ms: 40 }").expect("a latency");
        assert_eq!(l.rtt(), Some(Duration::from_millis(40)));
    }
}
