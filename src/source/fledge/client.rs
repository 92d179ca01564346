//! The Fledge REST client: one reqwest client (time limit, extra CA certificate, a cap on
//! the size of an answer), the credentials (a fixed token, or a user who logs in again when
//! Fledge forgets the token), `GET /fledge/audit` pages checked and split into their entries,
//! and `GET /fledge/audit/logcode`. What to do with the entries (decoding them as audits, the
//! poll cursor) is the caller's.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::{Value, json};

/// Where Fledge is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL: scheme, host, port (and a path prefix, if Fledge sits behind one), without
    /// a trailing `/`.
    pub url: String,
    pub credentials: Credentials,
    /// For each request, from connecting to the end of the body.
    pub timeout: Duration,
    /// Extra trusted CA certificate (PEM) for HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Largest answer read; a larger one fails the request unread.
    pub max_body_bytes: u64,
}

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// Fledge without authentication.
    #[default]
    None,
    /// Sent as the `authorization` header as given.
    Token(String),
    /// `POST /fledge/login`, and again whenever Fledge refuses the token (it deletes every
    /// token when it stops).
    Login { username: String, password: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::Login { username, .. } => f
                .debug_struct("Login")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .field("max_body_bytes", &self.max_body_bytes)
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
    #[error("{method} {url}: {detail}")]
    Request {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error("{method} {url}: reading the body: {detail}")]
    Body {
        method: &'static str,
        url: String,
        detail: String,
    },
    #[error(
        "{method} {url}: the answer is larger than {limit} bytes; \
         lower page_size or raise max_page_mb"
    )]
    TooLarge {
        method: &'static str,
        url: String,
        limit: u64,
    },
    #[error("{method} {url}: HTTP {status}: {excerpt}")]
    /// `excerpt` never holds the credentials (see `Client::excerpt`).
    Status {
        method: &'static str,
        url: String,
        status: StatusCode,
        /// The start of the body, which usually says why.
        excerpt: String,
    },
    #[error("{method} {url}: the answer is not JSON: {source}")]
    NotJson {
        method: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("GET {url}: the answer has no \"audit\" list")]
    NoAuditList { url: String },
    #[error("GET {url}: the answer has no \"logCode\" list of codes")]
    NoLogCodes { url: String },
    #[error("POST {url}: the answer has no \"token\"")]
    NoToken { url: String },
}

impl ClientError {
    /// Whether Fledge answered and refused (HTTP 4xx), as opposed to not answering or failing
    /// on its side: a refusal will not go away by itself.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Status { status, .. } if status.is_client_error())
    }
}

/// Bytes of an error answer read, for its excerpt.
const ERROR_BODY_BYTES: u64 = 4096;
/// Characters of an error answer kept in the error.
const EXCERPT_CHARS: usize = 200;

/// A client of one Fledge instance.
#[derive(Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    settings: Settings,
    /// The token of the last login; `None` before the first and after a refusal.
    session: Option<String>,
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
        Ok(Client {
            http,
            settings,
            session: None,
        })
    }

    /// The start of an error answer, as it may be logged: every secret of ours it holds
    /// (a Fledge or a proxy may echo the request's token or the login's password) replaced,
    /// and control characters escaped so it stays one log line.
    fn excerpt(&self, body: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(body).into_owned();
        let secrets = match &self.settings.credentials {
            Credentials::None => vec![],
            Credentials::Token(token) => vec![token.as_str()],
            Credentials::Login { password, .. } => vec![password.as_str()],
        };
        for secret in secrets.into_iter().chain(self.session.as_deref()) {
            if !secret.is_empty() {
                text = text.replace(secret, "<redacted>");
            }
        }
        let mut excerpt = String::new();
        for c in text.chars().take(EXCERPT_CHARS) {
            if c.is_control() {
                excerpt.extend(c.escape_default());
            } else {
                excerpt.push(c);
            }
        }
        excerpt
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Whether the client logs in (rather than sending a fixed token or none).
    pub fn logs_in(&self) -> bool {
        matches!(self.settings.credentials, Credentials::Login { .. })
    }

    /// `POST /fledge/login` with the user's name and password, keeping the token it returns.
    /// Does nothing for other credentials.
    pub fn login(&mut self) -> Result<(), ClientError> {
        let Credentials::Login { username, password } = &self.settings.credentials else {
            return Ok(());
        };
        self.session = None;
        let url = format!("{}/fledge/login", self.settings.url);
        let body = json!({"username": username, "password": password});
        let request = self
            .http
            .post(&url)
            .header(ACCEPT, "application/json")
            .json(&body);
        let document = self.send("POST", &url, request)?;
        match document.get("token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => {
                self.session = Some(token.to_owned());
                Ok(())
            }
            _ => Err(ClientError::NoToken { url }),
        }
    }

    /// The entries of one page of the audit log, newest first, as Fledge sent them.
    pub fn audit(&mut self, query: &AuditQuery<'_>) -> Result<Vec<Value>, ClientError> {
        let url = format!("{}/fledge/audit", self.settings.url);
        let mut pairs = vec![
            ("limit", query.limit.to_string()),
            ("skip", query.skip.to_string()),
        ];
        if !query.source.is_empty() {
            pairs.push(("source", query.source.join(",")));
        }
        match self.get(&url, &pairs)? {
            Value::Object(mut fields) => match fields.remove("audit") {
                Some(Value::Array(entries)) => Ok(entries),
                _ => Err(ClientError::NoAuditList { url }),
            },
            _ => Err(ClientError::NoAuditList { url }),
        }
    }

    /// The audit codes Fledge knows (`GET /fledge/audit/logcode`).
    pub fn log_codes(&mut self) -> Result<Vec<String>, ClientError> {
        let url = format!("{}/fledge/audit/logcode", self.settings.url);
        let document = self.get(&url, &[])?;
        let codes = document
            .get("logCode")
            .and_then(Value::as_array)
            .ok_or_else(|| ClientError::NoLogCodes { url: url.clone() })?;
        codes
            .iter()
            .map(|entry| {
                entry
                    .get("code")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| ClientError::NoLogCodes { url: url.clone() })
            })
            .collect()
    }

    /// A GET with the credentials; logged in first if needed, and once more (then asked again)
    /// when Fledge refuses the token.
    fn get(&mut self, url: &str, pairs: &[(&str, String)]) -> Result<Value, ClientError> {
        let mut full_url = reqwest::Url::parse(url).map_err(|e| ClientError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !pairs.is_empty() {
            let mut query = full_url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
        }
        if self.logs_in() && self.session.is_none() {
            self.login()?;
        }
        let first = self.get_once(url, &full_url);
        match first {
            Err(ClientError::Status { status, .. })
                if status == StatusCode::UNAUTHORIZED && self.logs_in() =>
            {
                tracing::info!(
                    "fledge: the token was refused (Fledge restarted?); logging in again"
                );
                self.login()?;
                self.get_once(url, &full_url)
            }
            other => other,
        }
    }

    fn get_once(&self, url: &str, full_url: &reqwest::Url) -> Result<Value, ClientError> {
        let mut request = self
            .http
            .get(full_url.clone())
            .header(ACCEPT, "application/json");
        let token = match &self.settings.credentials {
            Credentials::Token(token) => Some(token),
            Credentials::Login { .. } => self.session.as_ref(),
            Credentials::None => None,
        };
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token).map_err(|_| ClientError::Token)?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        self.send("GET", url, request)
    }

    /// Sends a request and reads its answer as JSON, at most `max_body_bytes` of it.
    fn send(
        &self,
        method: &'static str,
        url: &str,
        request: reqwest::blocking::RequestBuilder,
    ) -> Result<Value, ClientError> {
        let response = request.send().map_err(|e| ClientError::Request {
            method,
            url: url.to_owned(),
            detail: crate::source::error_chain(&e),
        })?;
        let status = response.status();
        // An error's body is only excerpted: a little of it is enough.
        let limit = if status.is_success() {
            self.settings.max_body_bytes
        } else {
            self.settings.max_body_bytes.min(ERROR_BODY_BYTES)
        };
        let too_large = || ClientError::TooLarge {
            method,
            url: url.to_owned(),
            limit,
        };
        if status.is_success()
            && response
                .content_length()
                .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        // One byte past the limit tells a body of exactly the limit from a larger one.
        response
            .take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| ClientError::Body {
                method,
                url: url.to_owned(),
                detail: crate::source::error_chain(&e),
            })?;
        if !status.is_success() {
            return Err(ClientError::Status {
                method,
                url: url.to_owned(),
                status,
                excerpt: self.excerpt(&body),
            });
        }
        if body.len() as u64 > limit {
            return Err(too_large());
        }
        serde_json::from_slice(&body).map_err(|source| ClientError::NotJson {
            method,
            url: url.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> Settings {
        Settings {
            url: url.to_owned(),
            credentials: Credentials::Token("secret".into()),
            timeout: Duration::from_secs(1),
            ca_file: None,
            max_body_bytes: 1024,
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
        let mut client = Client::new(settings("not a url")).unwrap();
        let query = AuditQuery {
            limit: 1,
            skip: 0,
            source: &[],
        };
        assert!(matches!(client.audit(&query), Err(ClientError::Url { .. })));
        let mut bad_token = settings("http://127.0.0.1:1");
        bad_token.credentials = Credentials::Token("line\nbreak".into());
        let mut client = Client::new(bad_token).unwrap();
        assert!(matches!(client.audit(&query), Err(ClientError::Token)));
    }

    const QUERY: AuditQuery<'static> = AuditQuery {
        limit: 10,
        skip: 0,
        source: &[],
    };

    fn login_settings(url: &str) -> Settings {
        Settings {
            credentials: Credentials::Login {
                username: "monbridge".into(),
                password: "pa55word".into(),
            },
            max_body_bytes: 16 * 1024,
            ..settings(url)
        }
    }

    fn login_mock<'a>(server: &'a httpmock::MockServer, token: &str) -> httpmock::Mock<'a> {
        server.mock(|when, then| {
            when.method(httpmock::Method::POST)
                .path("/fledge/login")
                .json_body(json!({"username": "monbridge", "password": "pa55word"}));
            then.status(200)
                .json_body(json!({"message": "Logged in successfully.", "token": token}));
        })
    }

    fn audit_mock<'a>(
        server: &'a httpmock::MockServer,
        token: &str,
        status: u16,
    ) -> httpmock::Mock<'a> {
        server.mock(|when, then| {
            when.method(httpmock::Method::GET)
                .path("/fledge/audit")
                .header("authorization", token);
            then.status(status)
                .json_body(json!({"audit": [{"source": "STLNK"}], "totalCount": 1}));
        })
    }

    #[test]
    fn logs_in_first_and_again_when_fledge_forgets_the_token() {
        let server = httpmock::MockServer::start();
        let mut first_login = login_mock(&server, "t1");
        let mut first_audit = audit_mock(&server, "t1", 200);
        let mut client = Client::new(login_settings(&server.base_url())).unwrap();
        assert_eq!(client.audit(&QUERY).unwrap().len(), 1);
        assert_eq!(client.audit(&QUERY).unwrap().len(), 1);
        assert_eq!(first_login.calls(), 1);
        assert_eq!(first_audit.calls(), 2);
        // Fledge restarted: the old token is refused; a new login gives a new one.
        first_login.delete();
        first_audit.delete();
        let second_login = login_mock(&server, "t2");
        let refused = audit_mock(&server, "t1", 401);
        let second_audit = audit_mock(&server, "t2", 200);
        assert_eq!(client.audit(&QUERY).unwrap().len(), 1);
        assert_eq!(
            (refused.calls(), second_login.calls(), second_audit.calls()),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_refused_login_is_a_refusal_that_names_no_secret() {
        let server = httpmock::MockServer::start();
        server.mock(|when, then| {
            when.method(httpmock::Method::POST).path("/fledge/login");
            then.status(401).body("Username or Password do not match");
        });
        let mut client = Client::new(login_settings(&server.base_url())).unwrap();
        let error = client.audit(&QUERY).unwrap_err();
        assert!(error.is_refusal(), "{error}");
        let text = error.to_string();
        assert!(text.starts_with("POST http://"), "{text}");
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(!text.contains("pa55word"), "{text}");
    }

    #[test]
    fn an_answer_larger_than_the_cap_fails_unread() {
        let server = httpmock::MockServer::start();
        server.mock(|when, then| {
            when.method(httpmock::Method::GET).path("/fledge/audit");
            then.status(200)
                .body(format!("{{\"audit\": [\"{}\"]}}", "x".repeat(2000)));
        });
        let mut client = Client::new(settings(&server.base_url())).unwrap();
        let error = client.audit(&QUERY).unwrap_err();
        assert!(
            matches!(error, ClientError::TooLarge { limit: 1024, .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("larger than 1024 bytes"),
            "{error}"
        );
    }

    #[test]
    fn an_error_answer_that_echoes_the_token_is_excerpted_without_it() {
        let server = httpmock::MockServer::start();
        let token = "tok-3c1d9e-fledge";
        server.mock(|when, then| {
            when.method(httpmock::Method::GET).path("/fledge/audit");
            then.status(401).body(format!(
                "{{\"message\": \"token {token} is not valid\"}}\nAuthorization: {token}"
            ));
        });
        let mut echoing = settings(&server.base_url());
        echoing.credentials = Credentials::Token(token.into());
        let error = Client::new(echoing).unwrap().audit(&QUERY).unwrap_err();
        let text = error.to_string();
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(text.contains("token <redacted> is not valid"), "{text}");
        // One line, whatever the body held.
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn log_codes_are_read_from_the_logcode_list() {
        let server = httpmock::MockServer::start();
        server.mock(|when, then| {
            when.method(httpmock::Method::GET)
                .path("/fledge/audit/logcode");
            then.status(200).json_body(json!({"logCode": [
                {"code": "CONCH", "description": "Configuration Change"},
                {"code": "STLNK", "description": "Link state"}
            ]}));
        });
        let mut client = Client::new(settings(&server.base_url())).unwrap();
        assert_eq!(client.log_codes().unwrap(), ["CONCH", "STLNK"]);
    }
}
