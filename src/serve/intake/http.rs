//! The HTTP intake: `POST /audit` with a JSON body (a notification delivery `triggerReason`, a
//! Fledge REST entry or list, a storage payload, a list, or JSON lines). The answer comes only
//! once every audit of the body is durably queued (or dead-lettered): `200` with the counts.
//! A body that is not audits gets a `4xx` with the reason and queues nothing; a full queue
//! gets `503` with `Retry-After`. `GET /health` answers `200 ok`.
//!
//! Requests are read by two threads; the queue's writer hands each finished append to a
//! responder thread, so a slow client never holds up a commit.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use super::{Intake, Outcome, Processor};
use crate::serve::listen::ListenError;
use crate::serve::metrics::add;
use crate::serve::queue::{QueueError, Receipt};
use crate::source::audit::{MAX_INPUT_BYTES, decode_input};

/// Threads reading requests.
const RECEIVERS: usize = 2;
/// How often the receivers look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

type Finished = (Request, Outcome, Result<Receipt, QueueError>);

/// A running HTTP intake.
pub struct HttpIntake {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    receivers: Vec<JoinHandle<()>>,
    responder: Option<JoinHandle<()>>,
    finished: Option<mpsc::Sender<Finished>>,
}

impl HttpIntake {
    pub fn start(
        address: SocketAddr,
        processor: Arc<Processor>,
    ) -> Result<HttpIntake, ListenError> {
        let server = Server::http(address).map_err(|e| ListenError {
            address,
            reason: e.to_string(),
        })?;
        let bound = server.server_addr().to_ip().unwrap_or(address);
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let (finished_sender, finished) = mpsc::channel::<Finished>();
        let responder_processor = Arc::clone(&processor);
        let responder = std::thread::Builder::new()
            .name("http-responder".into())
            .spawn(move || {
                for (request, outcome, result) in finished {
                    responder_processor.appended(&result);
                    respond_appended(request, outcome, result);
                }
            })
            .map_err(|e| ListenError {
                address,
                reason: e.to_string(),
            })?;
        let mut receivers = Vec::with_capacity(RECEIVERS);
        for index in 0..RECEIVERS {
            let server = Arc::clone(&server);
            let stop = Arc::clone(&stop);
            let processor = Arc::clone(&processor);
            let finished = finished_sender.clone();
            let thread = std::thread::Builder::new()
                .name(format!("http-intake-{index}"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match server.recv_timeout(POLL) {
                            Ok(Some(request)) => handle(request, &processor, &finished),
                            Ok(None) => {}
                            Err(error) => {
                                tracing::warn!("http intake: {error}");
                                std::thread::sleep(POLL);
                            }
                        }
                    }
                })
                .map_err(|e| ListenError {
                    address,
                    reason: e.to_string(),
                })?;
            receivers.push(thread);
        }
        tracing::info!("http intake listening on {bound}");
        Ok(HttpIntake {
            address: bound,
            stop,
            receivers,
            responder: Some(responder),
            finished: Some(finished_sender),
        })
    }

    /// The address it listens on (the port chosen when the configuration said 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    fn stop_receivers(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for receiver in self.receivers.drain(..) {
            let _ = receiver.join();
        }
    }
}

impl Intake for HttpIntake {
    fn name(&self) -> &'static str {
        "http"
    }

    /// Stops taking requests; those already read are still answered (once the queue commits
    /// or closes). The listening socket closes when the last receiver ends.
    fn stop_accepting(&mut self) {
        self.stop_receivers();
    }

    /// Waits until every request read has been answered.
    fn finish(mut self: Box<Self>) {
        self.stop_receivers();
        self.finished.take();
        if let Some(responder) = self.responder.take() {
            let _ = responder.join();
        }
    }
}

impl Drop for HttpIntake {
    fn drop(&mut self) {
        self.stop_receivers();
    }
}

fn json_response(status: u16, body: &Value) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_string(body.to_string()).with_status_code(status);
    if let Ok(header) = Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]) {
        response.add_header(header);
    }
    response
}

fn reply(request: Request, status: u16, body: &Value) {
    if let Err(error) = request.respond(json_response(status, body)) {
        tracing::debug!("http intake: cannot answer: {error}");
    }
}

fn refuse(request: Request, processor: &Processor, status: u16, reason: &str) {
    add(&processor.metrics.rejected, 1);
    tracing::warn!(
        "http intake: {} {} refused with {status}: {reason}",
        request.method(),
        request.url()
    );
    reply(request, status, &json!({ "error": reason }));
}

fn handle(mut request: Request, processor: &Processor, finished: &mpsc::Sender<Finished>) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    match (request.method(), path.as_str()) {
        (Method::Get, "/health") => {
            let _ = request.respond(Response::from_string("ok\n"));
            return;
        }
        (Method::Post, "/audit") => {}
        (_, "/audit") => {
            let mut response = json_response(
                405,
                &json!({ "error": "use POST with a JSON body of audits" }),
            );
            if let Ok(header) = Header::from_bytes(&b"Allow"[..], &b"POST"[..]) {
                response.add_header(header);
            }
            add(&processor.metrics.rejected, 1);
            let _ = request.respond(response);
            return;
        }
        _ => {
            return refuse(
                request,
                processor,
                404,
                "unknown path: audits are posted to /audit",
            );
        }
    }
    let content_type = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    if let Some(content_type) = content_type
        && !content_type.contains("json")
    {
        return refuse(
            request,
            processor,
            415,
            &format!("content type {content_type:?} is not JSON"),
        );
    }
    if request
        .body_length()
        .is_some_and(|len| len > MAX_INPUT_BYTES)
    {
        return refuse(
            request,
            processor,
            413,
            &format!("the body is larger than {MAX_INPUT_BYTES} bytes"),
        );
    }
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut body);
    if let Err(error) = read {
        return refuse(
            request,
            processor,
            400,
            &format!("cannot read the body: {error}"),
        );
    }
    if body.len() > MAX_INPUT_BYTES {
        return refuse(
            request,
            processor,
            413,
            &format!("the body is larger than {MAX_INPUT_BYTES} bytes"),
        );
    }
    // All or nothing: a body with one bad audit queues none of them, so the caller can fix
    // and resend it whole without duplicates.
    let mut audits = Vec::new();
    let mut problems = Vec::new();
    for item in decode_input(&body) {
        match item {
            Ok(audit) => audits.push(audit),
            Err(error) => problems.push(error.to_string()),
        }
    }
    if !problems.is_empty() {
        return refuse(request, processor, 400, &problems.join("; "));
    }
    let prepared = match processor.prepare(audits, "http") {
        Ok(prepared) => prepared,
        Err(error) => {
            tracing::error!("http intake: {error}");
            return reply(request, 500, &json!({ "error": error.to_string() }));
        }
    };
    if prepared.payloads.is_empty() {
        return reply(request, 200, &json!(prepared.outcome));
    }
    let outcome = prepared.outcome;
    let finished = finished.clone();
    // The completion only moves the request to the responder: the writer must not block.
    processor.queue.append(
        prepared.payloads,
        Box::new(move |result| {
            let _ = finished.send((request, outcome, result));
        }),
    );
}

fn respond_appended(request: Request, outcome: Outcome, result: Result<Receipt, QueueError>) {
    match result {
        Ok(_) => reply(request, 200, &json!(outcome)),
        Err(error @ QueueError::Full { .. }) => {
            tracing::warn!("http intake: refused with 503: {error}");
            let mut response = json_response(503, &json!({ "error": error.to_string() }));
            if let Ok(header) = Header::from_bytes(&b"Retry-After"[..], &b"1"[..]) {
                response.add_header(header);
            }
            let _ = request.respond(response);
        }
        Err(error) => {
            tracing::error!("http intake: cannot queue: {error}");
            reply(request, 503, &json!({ "error": error.to_string() }));
        }
    }
}
