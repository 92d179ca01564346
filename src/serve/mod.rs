//! `monbridge serve`: the gateway daemon. Audits come in (Fledge REST polling, an HTTP
//! endpoint, stdin JSON lines), go through the rules, and the notifications they make are
//! appended to a durable queue on disk before any intake acknowledges them; one delivery
//! worker per destination (or one per failover group) reads the queue at its own pace and
//! moves its cursor only once a trap is sent or an inform acknowledged.

pub mod config;
pub mod queue;

pub use config::{Config, ConfigError};
