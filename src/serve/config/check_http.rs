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

#[cfg(test)]
mod tests {
    use crate::serve::config::{Config, LOOPBACK_HOSTS};

    fn parse(http: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokens"),
            "# rotate by adding the new one first\nfirst-token-0123456789\n\nsecond-token-0123456789\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("short"), "abc\n").unwrap();
        let text = format!(
            "state_dir: s\nintakes:\n  http:\n{http}destinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n"
        );
        Config::from_text(&dir.path().join("monbridge.yaml"), &text).map_err(|e| e.to_string())
    }

    #[test]
    fn tokens_come_from_a_file_one_per_line_and_are_kept_as_digests() {
        let config = parse("    listen: 127.0.0.1:8611\n    token_file: tokens\n").unwrap();
        let http = config.intakes.http.unwrap();
        assert!(http.tokens.accepts(b"first-token-0123456789"));
        assert!(http.tokens.accepts(b"second-token-0123456789"));
        assert!(!http.tokens.accepts(b"# rotate by adding the new one first"));
        assert!(!http.tokens.accepts(b"third-token-0123456789"));
        assert!(!format!("{http:?}").contains("first-token"));
        assert_eq!(
            http.allowed_hosts.unwrap(),
            LOOPBACK_HOSTS.map(str::to_owned).to_vec()
        );
    }

    #[test]
    fn weak_missing_or_doubled_tokens_are_refused_without_saying_them() {
        let error = parse("    listen: 127.0.0.1:8611\n    token_file: short\n").unwrap_err();
        assert!(
            error.contains("token_file: token 1 must be at least 16"),
            "{error}"
        );
        assert!(!error.contains("abc"), "{error}");
        let error = parse(
            "    listen: 127.0.0.1:8611\n    token_file: tokens\n    token_env: MONBRIDGE_TEST_UNSET_TOKEN\n",
        )
        .unwrap_err();
        assert!(
            error.contains("give token_env or token_file, not both"),
            "{error}"
        );
        let error =
            parse("    listen: 127.0.0.1:8611\n    token_env: MONBRIDGE_TEST_UNSET_TOKEN\n")
                .unwrap_err();
        assert!(
            error.contains("MONBRIDGE_TEST_UNSET_TOKEN is not set"),
            "{error}"
        );
        let error = parse("    listen: 127.0.0.1:8611\n    max_connections: 0\n").unwrap_err();
        assert!(error.contains("max_connections"), "{error}");
    }

    #[test]
    fn other_addresses_need_tls_and_authentication_or_insecure() {
        let error = parse("    listen: 0.0.0.0:8611\n    token_file: tokens\n").unwrap_err();
        assert!(error.contains("reachable from other machines"), "{error}");
        let config = parse("    listen: 0.0.0.0:8611\n    insecure: true\n").unwrap();
        let http = config.intakes.http.unwrap();
        assert!(http.is_exposed());
        assert_eq!(http.allowed_hosts, None);
    }
}
