//! The error both of the daemon's HTTP endpoints (the intake and the metrics) give when they
//! cannot start; its own module so neither endpoint imports the other.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {reason}")]
pub struct ListenError {
    pub address: SocketAddr,
    pub reason: String,
}
