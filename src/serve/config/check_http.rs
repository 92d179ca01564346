//! Checking the settings of an HTTP endpoint ([`http`](super::http)) as written.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::check::{Checker, secret_from_env};
use super::http::{LOOPBACK_HOSTS, Limits, ListenConfig, RawAccess, TlsConfig, Tokens};

impl Checker {
    /// Checks one endpoint's settings; `field` names it in problems (`intakes.http`).
    pub(super) fn listen(
        &mut self,
        field: &str,
        listen: &str,
        access: RawAccess,
        limits: Limits,
    ) -> Option<ListenConfig> {
        let before = self.problems.len();
        let address = self.socket_address(&format!("{field}.listen"), listen);
        let tls = access.tls.map(|tls| TlsConfig {
            cert_file: self.file(&format!("{field}.tls.cert_file"), &tls.cert_file),
            key_file: self.file(&format!("{field}.tls.key_file"), &tls.key_file),
            client_ca_file: tls
                .client_ca_file
                .as_deref()
                .map(|path| self.file(&format!("{field}.tls.client_ca_file"), path)),
        });
        let tokens = self.tokens(
            field,
            access.token_env.as_deref(),
            access.token_file.as_deref(),
        );
        let allowed_hosts = match access.allowed_hosts {
            Some(hosts) => {
                for host in &hosts {
                    if host.is_empty() || (host.contains([':', '/', ' ']) && !host.starts_with('['))
                    {
                        self.problem(format!(
                            "{field}.allowed_hosts: {host:?} is not a host name (give it \
                             without scheme or port)"
                        ));
                    }
                }
                Some(hosts.iter().map(|h| h.to_ascii_lowercase()).collect())
            }
            None => address
                .filter(|a| a.ip().is_loopback())
                .map(|_| LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect()),
        };
        if limits.max_connections == 0
            || limits.header_timeout.is_zero()
            || limits.body_timeout.is_zero()
        {
            self.problem(format!(
                "{field}: max_connections, header_timeout_ms and body_timeout_ms must be at \
                 least 1"
            ));
        }
        let config = ListenConfig {
            address: address?,
            tls,
            tokens: tokens?,
            allowed_hosts,
            insecure: access.insecure,
            limits,
        };
        if config.is_exposed() && !config.insecure {
            self.problem(format!(
                "{field}.listen: {} is reachable from other machines, where anyone could post: \
                 give tls (cert_file, key_file) and a token (token_env or token_file) or client \
                 certificates (tls.client_ca_file); or listen on 127.0.0.1; or set insecure: \
                 true to accept that",
                config.address
            ));
        }
        (self.problems.len() == before).then_some(config)
    }

    fn file(&mut self, field: &str, path: &Path) -> PathBuf {
        let path = self.path(path);
        if !path.is_file() {
            self.problem(format!("{field}: {} is not a file", path.display()));
        }
        path
    }

    /// The tokens of `token_env` (one) or `token_file` (one per line; blank lines and lines
    /// starting with `#` skipped, so tokens can be rotated one at a time).
    fn tokens(&mut self, field: &str, env: Option<&str>, file: Option<&Path>) -> Option<Tokens> {
        let texts: Vec<String> = match (env, file) {
            (Some(_), Some(_)) => {
                self.problem(format!("{field}: give token_env or token_file, not both"));
                return None;
            }
            (None, None) => return Some(Tokens::default()),
            (Some(name), None) => {
                vec![self.or_problem(secret_from_env(&format!("{field}.token_env"), name))?]
            }
            (None, Some(path)) => {
                let path = self.path(path);
                let text = match std::fs::read_to_string(&path) {
                    Ok(text) => text,
                    Err(error) => {
                        self.problem(format!(
                            "{field}.token_file: cannot read {}: {error}",
                            path.display()
                        ));
                        return None;
                    }
                };
                let tokens: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty() && !line.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
                if tokens.is_empty() {
                    self.problem(format!(
                        "{field}.token_file: {} holds no token",
                        path.display()
                    ));
                    return None;
                }
                tokens
            }
        };
        let source = if env.is_some() {
            "token_env"
        } else {
            "token_file"
        };
        let mut digests = Vec::with_capacity(texts.len());
        for (index, token) in texts.iter().enumerate() {
            // Said by position, never by value.
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                self.problem(format!(
                    "{field}.{source}: token {} must be at least 16 printable characters without \
                     spaces",
                    index + 1
                ));
                return None;
            }
            digests.push(Sha256::digest(token.as_bytes()).into());
        }
        Some(Tokens(digests))
    }
}
