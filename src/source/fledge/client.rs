//! The Fledge REST client: one reqwest client (time limit, extra CA certificate), the token
//! header, and `GET /fledge/audit` pages checked and decoded into their entries. What to do
//! with the entries (decoding them as audits, the poll cursor) is the caller's.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::Value;

/// Where Fledge is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL: scheme, host, port (and a path prefix, if Fledge sits behind one), without
    /// a trailing `/`.
    pub url: String,
    /// Sent as the `authorization` header.
    pub token: Option<String>,
    /// For each request, from connecting to the end of the body.
    pub timeout: Duration,
    /// Extra trusted CA certificate (PEM) for HTTPS.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// One page of `GET /fledge/audit`: newest first, `limit` entries after the first `skip`.
#[derive(Debug, Clone, Copy)]
pub struct AuditQuery<'a> {
    pub limit: u32,
    pub skip: u32,
    /// Audit codes to keep; empty for all.
    pub source: &'a [String],
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a PEM certificate: {source}", path.display())]
    Certificate {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
    #[error("{url} is not a URL: {reason}")]
    Url { url: String, reason: String },
    #[error("the token cannot be sent in an HTTP header")]
    Token,
    /// No answer: `detail` is the error and its causes (connection refused, time-out…).
    #[error("GET {url}: {detail}")]
    Request { url: String, detail: String },
    #[error("GET {url}: reading the body: {detail}")]
    Body { url: String, detail: String },
    #[error("GET {url}: HTTP {status}: {excerpt}")]
    Status {
        url: String,
        status: StatusCode,
        /// The start of the body, which usually says why.
        excerpt: String,
    },
    #[error("GET {url}: the answer is not JSON: {source}")]
    NotJson {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("GET {url}: the answer has no \"audit\" list")]
    NoAuditList { url: String },
}

/// A client of one Fledge instance.
#[derive(Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    settings: Settings,
}

impl Client {
    /// Sets up the HTTP client (reading the CA file now, so a bad one stops the start).
    pub fn new(settings: Settings) -> Result<Client, ClientError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("monbridge/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).map_err(|source| ClientError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|source| {
                ClientError::Certificate {
                    path: path.clone(),
                    source,
                }
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder.build().map_err(ClientError::Setup)?;
        Ok(Client { http, settings })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// The entries of one page of the audit log, newest first, as Fledge sent them.
    pub fn audit(&self, query: &AuditQuery<'_>) -> Result<Vec<Value>, ClientError> {
        let url = format!("{}/fledge/audit", self.settings.url);
        let mut full_url = reqwest::Url::parse(&url).map_err(|e| ClientError::Url {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        {
            let mut pairs = full_url.query_pairs_mut();
            pairs
                .append_pair("limit", &query.limit.to_string())
                .append_pair("skip", &query.skip.to_string());
            if !query.source.is_empty() {
                pairs.append_pair("source", &query.source.join(","));
            }
        }
        let mut request = self.http.get(full_url).header(ACCEPT, "application/json");
        if let Some(token) = &self.settings.token {
            let mut value = HeaderValue::from_str(token).map_err(|_| ClientError::Token)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request.send().map_err(|e| ClientError::Request {
            url: url.clone(),
            detail: error_chain(&e),
        })?;
        let status = response.status();
        let body = response.bytes().map_err(|e| ClientError::Body {
            url: url.clone(),
            detail: error_chain(&e),
        })?;
        if !status.is_success() {
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(ClientError::Status {
                url,
                status,
                excerpt,
            });
        }
        let document: Value =
            serde_json::from_slice(&body).map_err(|source| ClientError::NotJson {
                url: url.clone(),
                source,
            })?;
        match document {
            Value::Object(mut fields) => match fields.remove("audit") {
                Some(Value::Array(entries)) => Ok(entries),
                _ => Err(ClientError::NoAuditList { url }),
            },
            _ => Err(ClientError::NoAuditList { url }),
        }
    }
}

/// A reqwest error with its causes, which say what actually went wrong ("connection
/// refused"), without repeating a cause the message already holds.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> Settings {
        Settings {
            url: url.to_owned(),
            token: Some("secret".into()),
            timeout: Duration::from_secs(1),
            ca_file: None,
        }
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let text = format!("{:?}", settings("http://127.0.0.1:1"));
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_missing_ca_file_stops_the_set_up() {
        let mut settings = settings("http://127.0.0.1:1");
        settings.ca_file = Some("/nonexistent/ca.pem".into());
        let error = Client::new(settings).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read /nonexistent/ca.pem: "),
            "{error}"
        );
    }

    #[test]
    fn a_bad_url_or_token_is_an_error_of_the_request() {
        let client = Client::new(settings("not a url")).unwrap();
        let query = AuditQuery {
            limit: 1,
            skip: 0,
            source: &[],
        };
        assert!(matches!(client.audit(&query), Err(ClientError::Url { .. })));
        let mut bad_token = settings("http://127.0.0.1:1");
        bad_token.token = Some("line\nbreak".into());
        let client = Client::new(bad_token).unwrap();
        assert!(matches!(client.audit(&query), Err(ClientError::Token)));
    }
}
