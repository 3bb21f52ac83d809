//! Operations: every role's `/metrics`, `/healthz` and `/readyz` over HTTP; a real
//! Prometheus scraping a running fleet; the alert rules under promtool; the Grafana
//! dashboard against what the fleet exports; and the deploy files against the binary.

mod alerts;
mod deploy_files;
pub(crate) mod probes;
mod scrape;
