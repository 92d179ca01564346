//! The HTTP intake: `POST /audit` with a JSON body (a notification delivery `triggerReason`, a
//! Fledge REST entry or list, a storage payload, a list, or JSON lines). The answer comes only
//! once every audit of the body is durably queued (or dead-lettered): `200` with the counts.
//! A body that is not audits gets a `4xx` with the reason and queues nothing; a full queue
//! gets `503` with `Retry-After`. `GET /health` answers `200 ok`.
//!
//! The server ([`crate::serve::http`]) reads requests on its own tasks; decoding, the rules and
//! dead letters (which may `fdatasync`) run on its bounded blocking threads, and the queue's
//! writer completes each append through a channel the request's task waits on, so a slow
//! client never holds up a commit and a commit never holds up another client.

use std::sync::{Arc, Mutex, RwLock};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::oneshot;

use super::{Intake, Outcome, Processor};
use crate::serve::config::ListenConfig;
use crate::serve::http::access::{self, Body};
use crate::serve::http::{Answer, Handler, Peer, Server};
use crate::serve::listen::ListenError;
use crate::serve::metrics::add;
use crate::serve::queue::{QueueError, Receipt, Throttle};
use crate::source::audit::{MAX_INPUT_BYTES, decode_input};

/// Runtime threads reading and answering requests.
const THREADS: usize = 2;
/// Threads decoding bodies and running the rules (and writing dead letters) at once.
const WORKERS: usize = 4;

/// A running HTTP intake.
pub struct HttpIntake {
    server: Server,
    intake: Arc<AuditHandler>,
}

struct AuditHandler {
    processor: Arc<Processor>,
    body_timeout: std::time::Duration,
    /// False once the intake stops accepting; held (read) across each queue append, so that
    /// once stopping has taken it (write) no append can follow.
    accepting: RwLock<bool>,
    /// Refusals for a storage failure (full disk, dead-letter file not writable) repeat on
    /// every request until space returns: logged at most once per `LOG_EVERY`.
    storage_failures: Mutex<Throttle>,
    /// Refusals for a full queue repeat the same way while the destinations catch up.
    full_refusals: Mutex<Throttle>,
}

impl HttpIntake {
    pub fn start(
        config: &ListenConfig,
        processor: Arc<Processor>,
    ) -> Result<HttpIntake, ListenError> {
        let intake = Arc::new(AuditHandler {
            processor,
            body_timeout: config.limits.body_timeout,
            accepting: RwLock::new(true),
            storage_failures: Mutex::new(Throttle::default()),
            full_refusals: Mutex::new(Throttle::default()),
        });
        let server = Server::start(
            "http intake",
            config,
            THREADS,
            WORKERS,
            Arc::clone(&intake) as Arc<dyn Handler>,
        )?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(
            "http intake listening on {scheme}://{}{}",
            server.address(),
            if config.authenticates() {
                ", clients authenticated"
            } else {
                ""
            }
        );
        if config.is_exposed() {
            tracing::warn!(
                "http intake: {} is reachable from other machines without TLS and \
                 authentication (insecure: true): anyone who can reach it can post audits",
                server.address()
            );
        }
        Ok(HttpIntake { server, intake })
    }

    /// The address it listens on (the port chosen when the configuration said 0).
    pub fn address(&self) -> std::net::SocketAddr {
        self.server.address()
    }
}

impl Intake for HttpIntake {
    fn name(&self) -> &'static str {
        "http"
    }

    /// Stops taking requests: the listening socket closes, and requests still arriving on
    /// open connections are answered 503. Those already queued are answered once the queue
    /// commits or closes.
    fn stop_accepting(&mut self) {
        self.server.stop_accepting();
        *self
            .intake
            .accepting
            .write()
            .unwrap_or_else(|e| e.into_inner()) = false;
    }

    /// Waits until every request read has been answered.
    fn finish(mut self: Box<Self>) {
        self.stop_accepting();
        self.server.finish();
    }
}

impl Handler for AuditHandler {
    fn handle(self: Arc<Self>, request: Request<Incoming>, peer: Peer) -> Answer {
        Box::pin(async move { self.answer(request, peer).await })
    }
}

/// What the blocking part of a post decided.
enum Step {
    Answer(Response<Body>),
    /// Queued: the outcome, once the append completes.
    Wait(Outcome, oneshot::Receiver<Result<Receipt, QueueError>>),
}

impl AuditHandler {
    fn refuse(
        &self,
        request: &Request<Incoming>,
        status: StatusCode,
        reason: &str,
    ) -> Response<Body> {
        add(&self.processor.metrics.rejected, 1);
        tracing::warn!(
            "http intake: {} {} refused with {}: {reason}",
            request.method(),
            request.uri().path(),
            status.as_u16()
        );
        access::error(status, reason)
    }

    async fn answer(self: Arc<Self>, request: Request<Incoming>, peer: Peer) -> Response<Body> {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/health") => {
                return access::text(StatusCode::OK, "text/plain", "ok\n".into());
            }
            (&Method::POST, "/audit") => {}
            (_, "/audit") => {
                add(&self.processor.metrics.rejected, 1);
                return access::method_not_allowed("POST", "use POST with a JSON body of audits");
            }
            _ => {
                return self.refuse(
                    &request,
                    StatusCode::NOT_FOUND,
                    "unknown path: audits are posted to /audit",
                );
            }
        }
        if !peer.authorized {
            add(&self.processor.metrics.rejected, 1);
            tracing::warn!(
                "http intake: POST /audit from {} refused with 401: no valid token or client \
                 certificate",
                peer.address
            );
            return access::unauthorized();
        }
        match access::content_type(&request) {
            Some(content_type) if access::is_json_media_type(content_type) => {}
            other => {
                let reason = match other {
                    Some(content_type) => format!(
                        "content type {:?} is not application/json or application/x-ndjson",
                        content_type.to_ascii_lowercase()
                    ),
                    None => {
                        "no content type: send application/json or application/x-ndjson".to_owned()
                    }
                };
                return self.refuse(&request, StatusCode::UNSUPPORTED_MEDIA_TYPE, &reason);
            }
        }
        let too_large = format!("the body is larger than {MAX_INPUT_BYTES} bytes");
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_INPUT_BYTES as u64) {
            return self.refuse(&request, StatusCode::PAYLOAD_TOO_LARGE, &too_large);
        }
        let (parts, body) = request.into_parts();
        let head = Request::from_parts(parts, ());
        let read = tokio::time::timeout(
            self.body_timeout,
            Limited::new(body, MAX_INPUT_BYTES).collect(),
        )
        .await;
        let body = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                return self.refuse_head(&head, StatusCode::PAYLOAD_TOO_LARGE, &too_large);
            }
            Ok(Err(error)) => {
                return self.refuse_head(
                    &head,
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the body: {error}"),
                );
            }
            Err(_) => {
                return self.refuse_head(
                    &head,
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the body did not arrive within {} ms",
                        self.body_timeout.as_millis()
                    ),
                );
            }
        };
        let worker = Arc::clone(&self);
        let step = tokio::task::spawn_blocking(move || worker.take(&body)).await;
        match step {
            Ok(Step::Answer(response)) => response,
            Ok(Step::Wait(outcome, done)) => {
                let result = done.await.unwrap_or(Err(QueueError::Closed));
                self.processor.appended(&result);
                self.appended(outcome, result)
            }
            Err(error) => {
                tracing::error!("http intake: {error}");
                access::error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed")
            }
        }
    }

    fn refuse_head(&self, head: &Request<()>, status: StatusCode, reason: &str) -> Response<Body> {
        add(&self.processor.metrics.rejected, 1);
        tracing::warn!(
            "http intake: {} {} refused with {}: {reason}",
            head.method(),
            head.uri().path(),
            status.as_u16()
        );
        access::error(status, reason)
    }

    /// Decodes, runs the rules and appends: on a blocking thread.
    fn take(&self, body: &[u8]) -> Step {
        let refuse = |status: StatusCode, reason: &str| {
            add(&self.processor.metrics.rejected, 1);
            tracing::warn!(
                "http intake: POST /audit refused with {}: {reason}",
                status.as_u16()
            );
            Step::Answer(access::error(status, reason))
        };
        // All or nothing: a body with one bad audit queues none of them, so the caller can fix
        // and resend it whole without duplicates.
        let mut audits = Vec::new();
        let mut problems = Vec::new();
        for item in decode_input(body) {
            match item {
                Ok(audit) => audits.push(audit),
                Err(error) => problems.push(error.to_string()),
            }
        }
        if !problems.is_empty() {
            return refuse(StatusCode::BAD_REQUEST, &problems.join("; "));
        }
        let accepting = self.accepting.read().unwrap_or_else(|e| e.into_inner());
        if !*accepting {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
        }
        let prepared = match self.processor.prepare(audits, "http") {
            Ok(prepared) => prepared,
            Err(error) => {
                // The dead-letter file could not be written: nothing was acknowledged, so the
                // client is told to send the same body again later.
                self.storage_failed(&format!("http intake: refused with 503: {error}"));
                return Step::Answer(access::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &error.to_string(),
                ));
            }
        };
        if prepared.payloads.is_empty() {
            return Step::Answer(access::json(StatusCode::OK, &json!(prepared.outcome)));
        }
        let (sender, receiver) = oneshot::channel();
        // The completion only hands the result over: the writer must not block.
        self.processor.queue.append(
            prepared.payloads,
            Box::new(move |result| {
                let _ = sender.send(result);
            }),
        );
        drop(accepting);
        Step::Wait(prepared.outcome, receiver)
    }
}

impl AuditHandler {
    fn appended(&self, outcome: Outcome, result: Result<Receipt, QueueError>) -> Response<Body> {
        match result {
            Ok(_) => {
                let recovered = self
                    .storage_failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .succeeded();
                if let Some(failures) = recovered {
                    tracing::info!("http intake: accepting again after {failures} refusal(s)");
                }
                self.full_refusals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .succeeded();
                access::json(StatusCode::OK, &json!(outcome))
            }
            Err(error @ QueueError::Full { .. }) => {
                let note = self
                    .full_refusals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .failed();
                if let Some(note) = note {
                    tracing::warn!("http intake: refused with 503: {error}{note}");
                }
                access::error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
            }
            Err(error) => {
                self.storage_failed(&format!("http intake: cannot queue: {error}"));
                access::error(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
            }
        }
    }

    /// Logs a storage failure at ERROR, rate-limited: a full disk refuses every request.
    fn storage_failed(&self, line: &str) {
        let note = self
            .storage_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed();
        if let Some(note) = note {
            tracing::error!("{line}{note}");
        }
    }
}
