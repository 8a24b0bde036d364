//! feegate: fee payment integration middleware for government service portals.
//!
//! Where things are:
//! - [`config`]: layered configuration (built-in defaults < file < `FEEGATE_*`).
//! - [`domain`]: pure types and rules: money, ids, agencies, payments and their states,
//!   and the one table of error codes (`domain::code`).
//! - [`store`]: SQLite / PostgreSQL persistence behind one `Store`.
//! - [`service`]: orchestration: create, attempts, callbacks, expiry, webhook outbox, admin,
//!   staff sign-in and sessions (`service::staff`), what the console reads (`service::console`);
//!   its error (`service::error`) and the caller (`service::caller`). No HTTP.
//! - [`api`]: axum routers, reading the key, the status and JSON of each error code,
//!   operations endpoints, OpenAPI (`api::schema` describes the service's types).
//! - [`web`]: the hosted checkout pages and the finance console (`/console`).
//! - [`connectors`]: the registry of gateway kinds (one line each).
//! - [`app`]: shared state and [`app::launch`] (serve on a bound listener until shutdown).
//! - [`cli`]: the command line.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod domain;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod web;
