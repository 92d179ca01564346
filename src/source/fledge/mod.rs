//! Fledge's REST API: the client the daemon polls the audit log with.

mod client;

pub use client::{AuditQuery, Client, ClientError, Credentials, Settings};
