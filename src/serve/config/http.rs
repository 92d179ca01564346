//! The settings of the daemon's two HTTP endpoints (the intake and the metrics): where they
//! listen, TLS, who may call them, and the limits that keep slow or idle clients from
//! starving them. Tokens come only from a variable or a file, never inline.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `tls:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) cert_file: PathBuf,
    pub(super) key_file: PathBuf,
    /// Client certificates signed by this CA authenticate a client.
    pub(super) client_ca_file: Option<PathBuf>,
}

/// What both endpoints share, as written.
#[derive(Debug, Default)]
pub(super) struct RawAccess {
    pub(super) token_env: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) tls: Option<RawTls>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    pub(super) insecure: bool,
}

/// TLS files, checked to exist; read when the endpoint starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

/// The bearer tokens a client may present, kept as SHA-256 digests: the secrets themselves
/// never stay in memory past the check, and comparing digests takes the same time whatever
/// the token sent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens(pub(super) Vec<[u8; 32]>);

impl Tokens {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `presented` is one of the tokens.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        // Every digest is compared, so the time says nothing about which one matched.
        self.0
            .iter()
            .fold(false, |found, token| found | (*token == digest))
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens({} redacted)", self.0.len())
    }
}

/// Limits that keep one client from holding the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most (lowered at start to what the file-descriptor limit allows);
    /// beyond, the oldest idle connection is closed to make room.
    pub max_connections: usize,
    /// From connection (or the end of the previous request) to the end of a request's headers,
    /// TLS handshake included.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
}

impl Limits {
    pub const METRICS: Limits = Limits {
        max_connections: 32,
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
    };
}

/// One HTTP endpoint, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenConfig {
    pub address: SocketAddr,
    pub tls: Option<TlsConfig>,
    /// Empty: no token is asked for (client certificates may still be).
    pub tokens: Tokens,
    /// Host header values accepted (names, without the port); `None` for no check.
    pub allowed_hosts: Option<Vec<String>>,
    /// Reachable from other machines without TLS and authentication, as the operator asked.
    pub insecure: bool,
    pub limits: Limits,
}

impl ListenConfig {
    /// Whether a client must prove who it is (a token or a client certificate).
    pub fn authenticates(&self) -> bool {
        !self.tokens.is_empty()
            || self
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_ca_file.is_some())
    }

    /// Whether anyone who can reach the port may call it, on a non-loopback address.
    pub fn is_exposed(&self) -> bool {
        let protected = self.tls.is_some() && self.authenticates();
        !(self.address.ip().is_loopback() || protected)
    }
}

/// Host names accepted on a loopback address when none are configured: a browser tricked by
/// DNS rebinding sends the attacker's name, never these.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];
