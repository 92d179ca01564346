//! The HTTP client: token header, time budget, 429 handling, one debug line per request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::Value;

use super::body::Body;
use super::error::MistError;
use super::host::BaseUrl;
use super::project::{Projection, parse_array, parse_devices};
use super::token::ApiToken;

/// At most this many retries after a 429, as the Mist SDK does.
pub const MAX_429_RETRIES: u32 = 3;

/// Waits after a 429 without `Retry-After`: short, because the plugin server kills a plugin
/// after 12-20 s and failing fast beats being killed.
const BACKOFF: [Duration; MAX_429_RETRIES as usize] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// A wall-clock allowance for the whole run, shared by every request.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
    total: Duration,
}

impl Budget {
    pub fn start(total: Duration) -> Budget {
        Budget::until(Instant::now() + total, total)
    }

    /// A budget ending at `deadline`, which was `total` after the run started.
    pub fn until(deadline: Instant, total: Duration) -> Budget {
        Budget { deadline, total }
    }

    pub fn total(&self) -> Duration {
        self.total
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// How long to wait before retrying a 429, or why not to retry. `retries_done` counts the
/// retries already made for this request.
pub fn retry_delay(
    retry_after: Option<Duration>,
    retries_done: u32,
    remaining: Duration,
) -> Result<Duration, String> {
    if retries_done >= MAX_429_RETRIES {
        return Err(format!("still refused after {MAX_429_RETRIES} retries"));
    }
    let (wait, origin) = match retry_after {
        Some(wait) => (wait, "Retry-After"),
        None => (BACKOFF[retries_done as usize], "back-off"),
    };
    // The retry itself needs time too, so waiting until the very end is pointless.
    if wait < remaining {
        Ok(wait)
    } else {
        Err(format!(
            "{origin} of {} s does not fit in the {:.1} s left of the run; failing now rather than sleeping past it",
            wait.as_secs(),
            remaining.as_secs_f64()
        ))
    }
}

/// One successful response: its path (for messages), headers and body bytes.
#[derive(Debug)]
pub struct RawResponse {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Body,
}

impl RawResponse {
    /// Gives the body's buffer back for the next response on this thread; the path stays.
    pub fn recycle(self) -> String {
        self.body.recycle();
        self.path
    }

    /// The body as a JSON array.
    pub fn json_array(&self) -> Result<Vec<Value>, MistError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(other) => Err(MistError::Shape {
                path: self.path.clone(),
                expected: "a JSON array",
                found: json_kind(&other).to_owned(),
            }),
            Err(e) => Err(MistError::Json {
                path: self.path.clone(),
                message: e.to_string(),
            }),
        }
    }
}

impl RawResponse {
    /// The body as a JSON array of records, each parsed into `each` only (see
    /// [`super::project`]).
    pub fn projected_array(&self, each: &Projection) -> Result<Vec<Value>, MistError> {
        self.projected_with(parse_array, each)
    }

    /// [`Self::projected_array`] of device records, written over this thread's spent
    /// device values (see [`super::project::spent`]).
    pub fn projected_devices(&self, each: &Projection) -> Result<Vec<Value>, MistError> {
        self.projected_with(parse_devices, each)
    }

    fn projected_with(
        &self,
        parse: fn(&[u8], &Projection) -> Result<Vec<Value>, serde_json::Error>,
        each: &Projection,
    ) -> Result<Vec<Value>, MistError> {
        parse(&self.body, each).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => MistError::Shape {
                path: self.path.clone(),
                expected: "a JSON array",
                found: e.to_string(),
            },
            _ => MistError::Json {
                path: self.path.clone(),
                message: e.to_string(),
            },
        })
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Settings of [`MistClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base: BaseUrl,
    pub token: ApiToken,
    /// The whole run's budget; no request outlives it.
    pub budget: Duration,
    /// When the budget ends (by default `budget` after the client is built).
    pub deadline: Option<Instant>,
    pub connect_timeout: Duration,
    /// Bytes a response body may have at most.
    pub max_response_bytes: u64,
}

/// A Mist API client, shared by the fetching threads.
pub struct MistClient {
    http: Client,
    base: BaseUrl,
    token: ApiToken,
    authorization: HeaderValue,
    budget: Budget,
    calls: AtomicUsize,
    /// Requests this run may make at most (see [`MistClient::set_call_cap`]).
    call_cap: AtomicUsize,
    max_response_bytes: u64,
}

impl MistClient {
    /// Builds the client and starts the budget clock.
    pub fn new(config: &ClientConfig) -> Result<MistClient, MistError> {
        let mut authorization = HeaderValue::from_str(&format!("Token {}", config.token.expose()))
            .map_err(|_| {
                MistError::Client("the token cannot be sent in an HTTP header".to_owned())
            })?;
        // Keeps the value out of reqwest's and hyper's debug output.
        authorization.set_sensitive(true);
        let http = Client::builder()
            .connect_timeout(config.connect_timeout.min(config.budget))
            .timeout(config.budget)
            .user_agent(concat!("monbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MistError::Client(error_chain(&e.without_url(), &config.token)))?;
        Ok(MistClient {
            http,
            base: config.base.clone(),
            token: config.token.clone(),
            authorization,
            budget: match config.deadline {
                Some(deadline) => Budget::until(deadline, config.budget),
                None => Budget::start(config.budget),
            },
            calls: AtomicUsize::new(0),
            call_cap: AtomicUsize::new(usize::MAX),
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Requests made so far, retries included.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Caps the requests of the whole run (those made so far included): a request beyond
    /// it fails with [`MistError::CallCap`] instead of being sent.
    pub fn set_call_cap(&self, cap: usize) {
        self.call_cap.store(cap, Ordering::Relaxed);
    }

    pub fn call_cap(&self) -> usize {
        self.call_cap.load(Ordering::Relaxed)
    }

    /// Requests the run may still make.
    pub fn calls_left(&self) -> usize {
        self.call_cap().saturating_sub(self.calls())
    }

    /// Takes one call out of the cap, or says why not.
    fn take_call(&self, path: &str) -> Result<(), MistError> {
        let cap = self.call_cap();
        let taken = self
            .calls
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |made| {
                (made < cap).then_some(made + 1)
            });
        match taken {
            Ok(_) => Ok(()),
            Err(_) => Err(MistError::CallCap {
                path: path.to_owned(),
                cap,
            }),
        }
    }

    /// `GET` of `segments` with `query`: a 2xx response, or a typed error. A 429 is retried
    /// only while the wait fits in the budget; nothing else is retried.
    pub fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<RawResponse, MistError> {
        let url = self.base.url(segments, query);
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut retries = 0;
        loop {
            let remaining = self.budget.remaining();
            if remaining.is_zero() {
                return Err(MistError::BudgetSpent {
                    path,
                    budget: self.budget.total(),
                });
            }
            self.take_call(&path)?;
            let started = Instant::now();
            let sent = self
                .http
                .get(url.clone())
                .header(AUTHORIZATION, self.authorization.clone())
                .header(ACCEPT, "application/json")
                // Capped by what is left, so no request outlives the run's budget.
                .timeout(remaining)
                .send();
            let mut response = match sent {
                Ok(response) => response,
                Err(e) => {
                    tracing::debug!(
                        "GET {path} -> failed after {} ms",
                        started.elapsed().as_millis()
                    );
                    return Err(self.transport_error(&path, e));
                }
            };
            let status = response.status();
            // Taken, not cloned: a header map's clone is an allocation per request.
            let headers = std::mem::take(response.headers_mut());
            let body = self.read_body(response, &path);
            tracing::debug!(
                "GET {path} -> {} in {} ms",
                status.as_u16(),
                started.elapsed().as_millis()
            );
            let body = body?;
            if status.is_success() {
                return Ok(RawResponse {
                    path,
                    headers,
                    body,
                });
            }
            let detail = self.detail(&body);
            match status {
                StatusCode::UNAUTHORIZED => return Err(MistError::Unauthorized { path, detail }),
                StatusCode::FORBIDDEN => return Err(MistError::Forbidden { path, detail }),
                StatusCode::NOT_FOUND => return Err(MistError::NotFound { path }),
                StatusCode::TOO_MANY_REQUESTS => {
                    let retry_after = headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match retry_delay(retry_after, retries, self.budget.remaining()) {
                        Ok(wait) => {
                            retries += 1;
                            tracing::warn!(
                                "GET {path}: rate limited (HTTP 429); retry {retries} of {MAX_429_RETRIES} in {} s",
                                wait.as_secs()
                            );
                            std::thread::sleep(wait);
                        }
                        Err(reason) => {
                            return Err(MistError::RateLimited {
                                path,
                                detail,
                                reason,
                            });
                        }
                    }
                }
                other => {
                    return Err(MistError::Status {
                        path,
                        status: other.to_string(),
                        detail,
                    });
                }
            }
        }
    }

    /// The body, read up to the size cap: a larger one fails as soon as it is known to be
    /// larger (from `Content-Length`, or once one byte more than the cap has come), so a
    /// hostile or broken server cannot make the run hold more than the cap.
    fn read_body(
        &self,
        mut response: reqwest::blocking::Response,
        path: &str,
    ) -> Result<Body, MistError> {
        let cap = self.max_response_bytes;
        let too_large = || MistError::TooLarge {
            path: path.to_owned(),
            cap_bytes: cap,
        };
        let announced = response.content_length();
        if announced.is_some_and(|length| length > cap) {
            return Err(too_large());
        }
        let limit = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
        let expected = announced.map_or(0, |length| usize::try_from(length).unwrap_or(0));
        let read = Body::read(&mut response, expected, limit);
        let body = match read {
            Ok(body) => body,
            Err(e) => {
                // reqwest's error comes back wrapped in an io::Error.
                let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                    || e.get_ref()
                        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                        .is_some_and(reqwest::Error::is_timeout);
                return Err(if timed_out {
                    self.timeout_error(path)
                } else {
                    MistError::Body {
                        path: path.to_owned(),
                        message: error_chain(&e, &self.token),
                    }
                });
            }
        };
        if body.len() as u64 > cap {
            body.recycle();
            return Err(too_large());
        }
        Ok(body)
    }

    fn timeout_error(&self, path: &str) -> MistError {
        MistError::Timeout {
            path: path.to_owned(),
            budget: self.budget.total(),
        }
    }

    fn transport_error(&self, path: &str, error: reqwest::Error) -> MistError {
        if error.is_timeout() {
            return self.timeout_error(path);
        }
        MistError::Transport {
            path: path.to_owned(),
            message: error_chain(&error.without_url(), &self.token),
        }
    }

    /// The `detail` of a DRF-style error body, or a short excerpt of any other text.
    fn detail(&self, body: &[u8]) -> Option<String> {
        let text = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => match map.get("detail") {
                Some(Value::String(detail)) => detail.clone(),
                _ => return None,
            },
            Ok(_) => return None,
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        };
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        let clean = clean.trim();
        (!clean.is_empty()).then(|| self.token.redact(clean))
    }
}

/// The error and its causes on one line, without the URL, with the token redacted.
fn error_chain(error: &dyn std::error::Error, token: &ApiToken) -> String {
    token.redact(&crate::source::error_chain(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn retry_after_is_honoured_only_if_it_fits() {
        assert_eq!(retry_delay(Some(S(2)), 0, S(10)), Ok(S(2)));
        let refused = retry_delay(Some(S(73)), 0, S(15)).unwrap_err();
        assert!(
            refused.contains("Retry-After of 73 s does not fit"),
            "{refused}"
        );
        assert!(retry_delay(Some(S(10)), 0, S(10)).is_err());
    }

    #[test]
    fn back_off_doubles_and_stops_after_three_retries() {
        assert_eq!(retry_delay(None, 0, S(15)), Ok(S(1)));
        assert_eq!(retry_delay(None, 1, S(15)), Ok(S(2)));
        assert_eq!(retry_delay(None, 2, S(15)), Ok(S(4)));
        assert!(
            retry_delay(None, 3, S(15))
                .unwrap_err()
                .contains("after 3 retries")
        );
        assert!(retry_delay(Some(S(1)), 3, S(15)).is_err());
        assert!(
            retry_delay(None, 2, S(3))
                .unwrap_err()
                .contains("back-off of 4 s")
        );
    }

    #[test]
    fn budget_counts_down_and_never_goes_negative() {
        let budget = Budget::start(Duration::ZERO);
        assert_eq!(budget.remaining(), Duration::ZERO);
        let budget = Budget::start(S(60));
        assert!(budget.remaining() <= S(60) && budget.remaining() > S(50));
    }
}
