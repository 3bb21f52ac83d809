//! The deploy files are safe by default: the Kubernetes base as `kubectl kustomize` builds
//! it, compose, the systemd units, and concurrent `netraven migrate` runs against a real
//! Postgres, as every pod's migration init container does.

mod compose;
mod kubernetes;
mod manifests;
mod migrations;
mod systemd;
