//! `netraven bench`: what the fleet costs, measured on this machine, against a baseline
//! measured in the same run. Each part writes its figures as JSON under `bench/results/`.

pub mod ingest;
pub mod publish;
pub mod resolution;
pub mod scratch;

use serde::Serialize;
use std::time::Duration;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// What it was measured on (sizes, concurrency).
    pub detail: String,
}

impl Figure {
    pub fn rate(name: &str, count: usize, took: Duration, unit: &str, detail: String) -> Figure {
        Figure {
            name: name.into(),
            value: count as f64 / took.as_secs_f64().max(1e-9),
            unit: unit.into(),
            detail,
        }
    }

    pub fn seconds(name: &str, took: Duration, detail: String) -> Figure {
        Figure {
            name: name.into(),
            value: took.as_secs_f64(),
            unit: "s".into(),
            detail,
        }
    }
}
