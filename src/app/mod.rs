//! The process: what is built once at start-up and shared by every request and command.
//!
//! - `state`: `AppState`, every shared handle (pool, caches, verifiers, limits), and the
//!   background tasks it starts.
//! - `listener`: keeps this replica's caches (tenants, API keys, users) coherent with changes
//!   made by any replica, through Postgres `LISTEN`.
//! - `telemetry`: logging.
//!
//! Not here: settings (`crate::config`, which every layer reads), the HTTP server and router
//! (`crate::http`, which sits above `AppState`).

pub mod listener;
pub mod state;
pub mod telemetry;
