//! The daemon's HTTP server, under both the intake and the metrics endpoint: hyper (HTTP/1.0
//! and 1.1, keep-alive) on a small tokio runtime of its own, optionally behind rustls.
//!
//! Nothing a client does can starve it: every connection is a task, so a slow one blocks only
//! itself; headers (TLS handshake included) and bodies have time limits; connections are
//! bounded (below the file-descriptor limit), and at the bound the oldest connection with no
//! request in progress is closed to make room; an accept that fails for want of file
//! descriptors closes an idle connection, waits a moment and tries again, instead of ending
//! the listener.

pub mod access;
mod tls;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::serve::config::ListenConfig;
use crate::serve::listen::ListenError;
pub use access::{Access, Body, Peer};

/// File descriptors kept for everything else (queue segments, sockets to managers, logs).
const RESERVED_FDS: u64 = 64;
/// Fewest connections allowed, whatever the file-descriptor limit says.
const MIN_CONNECTIONS: usize = 8;
/// How long an evicted or stopped connection may take to finish the request it is in.
const GRACE: Duration = Duration::from_secs(2);
/// Longest wait before accepting again after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

pub type Answer = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// What an endpoint does with a request once the server has checked its Host.
pub trait Handler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, request: Request<Incoming>, peer: Peer) -> Answer;
}

/// One open connection, as the accept loop sees it.
struct Connection {
    /// A request is being read or answered.
    busy: AtomicBool,
    close: Notify,
}

#[derive(Default)]
struct Connections {
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
    next: std::sync::atomic::AtomicU64,
    /// Signalled whenever a connection ends.
    ended: Notify,
}

impl Connections {
    fn add(self: &Arc<Self>) -> (u64, Arc<Connection>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            busy: AtomicBool::new(false),
            close: Notify::new(),
        });
        self.lock().insert(id, Arc::clone(&connection));
        (id, connection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.ended.notify_waiters();
    }

    /// Asks the oldest connection without a request in progress to close; whether there was
    /// one.
    fn evict_oldest_idle(&self) -> bool {
        let open = self.lock();
        match open.iter().find(|(_, c)| !c.busy.load(Ordering::Relaxed)) {
            Some((_, connection)) => {
                // Marked busy so the next eviction picks another one.
                connection.busy.store(true, Ordering::Relaxed);
                connection.close.notify_one();
                true
            }
            None => false,
        }
    }

    fn close_all(&self) {
        for connection in self.lock().values() {
            connection.close.notify_one();
        }
    }

    fn count(&self) -> usize {
        self.lock().len()
    }
}

/// What the accept loop and the connections share.
struct Shared {
    name: &'static str,
    handler: Arc<dyn Handler>,
    access: Access,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: crate::serve::config::Limits,
    connections: Arc<Connections>,
    slots: Arc<Semaphore>,
    stop: Notify,
}

/// A running endpoint.
pub struct Server {
    address: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

/// Reads the TLS files of every endpoint of a configuration, as their start will: a key or
/// certificate that cannot be used is found by `--check-config`, not at the start.
pub fn check_tls(config: &crate::serve::Config) -> Result<(), String> {
    let endpoints = [
        ("intakes.http.tls", config.intakes.http.as_ref()),
        ("metrics.tls", config.metrics.listen.as_ref()),
    ];
    for (field, endpoint) in endpoints {
        if let Some(listen) = endpoint
            && let Some(files) = &listen.tls
        {
            tls::server_config(files, listen.tokens.is_empty())
                .map_err(|e| format!("{}: {field}: {e}", config.path.display()))?;
        }
    }
    Ok(())
}

/// How many connections the file-descriptor limit leaves room for.
fn connection_bound(configured: usize) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let room = limit.saturating_sub(RESERVED_FDS);
    configured
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(MIN_CONNECTIONS)
}

impl Server {
    /// Binds `config.address` and serves it with `handler` on `threads` runtime threads;
    /// `blocking` bounds the threads handlers may block on (`spawn_blocking`).
    pub fn start(
        name: &'static str,
        config: &ListenConfig,
        threads: usize,
        blocking: usize,
        handler: Arc<dyn Handler>,
    ) -> Result<Server, ListenError> {
        let address = config.address;
        let listen_error = |reason: String| ListenError { address, reason };
        let tls = match &config.tls {
            Some(files) => {
                let server_config =
                    tls::server_config(files, config.tokens.is_empty()).map_err(listen_error)?;
                Some(tokio_rustls::TlsAcceptor::from(server_config))
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .max_blocking_threads(blocking.max(1))
            .thread_name(name.replace(' ', "-"))
            .enable_all()
            .build()
            .map_err(|e| listen_error(e.to_string()))?;
        let std_listener =
            std::net::TcpListener::bind(address).map_err(|e| listen_error(e.to_string()))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| listen_error(e.to_string()))?;
        let bound = std_listener.local_addr().unwrap_or(address);
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener).map_err(|e| listen_error(e.to_string()))?
        };
        let max_connections = connection_bound(config.limits.max_connections);
        if max_connections < config.limits.max_connections {
            tracing::info!(
                "{name}: at most {max_connections} connections (the file-descriptor limit \
                 leaves no room for {})",
                config.limits.max_connections
            );
        }
        let shared = Arc::new(Shared {
            name,
            handler,
            access: Access::new(config.clone(), bound.port()),
            tls,
            limits: config.limits,
            connections: Arc::default(),
            slots: Arc::new(Semaphore::new(max_connections)),
            stop: Notify::new(),
        });
        let accept = runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Server {
            address: bound,
            runtime: Some(runtime),
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on (the port chosen when the configuration said 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Closes the listening socket; open connections go on.
    pub fn stop_accepting(&mut self) {
        if let (Some(runtime), Some(accept)) = (&self.runtime, self.accept.take()) {
            self.shared.stop.notify_one();
            let _ = runtime.block_on(accept);
        }
    }

    /// Stops accepting, lets every connection finish the request it is in (for a bounded
    /// time) and closes them.
    pub fn finish(&mut self) {
        self.stop_accepting();
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        let connections = Arc::clone(&self.shared.connections);
        runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + GRACE;
            loop {
                let ended = connections.ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                connections.close_all();
                if connections.count() == 0 {
                    break;
                }
                if tokio::time::timeout_at(deadline, ended).await.is_err() {
                    break;
                }
            }
        });
        runtime.shutdown_timeout(Duration::from_millis(100));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.finish();
    }
}

fn out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(error),
        Some(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE | rustix::io::Errno::NOBUFS)
            | Some(rustix::io::Errno::NOMEM)
    )
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.stop.notified() => return,
        };
        let (stream, address) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if out_of_descriptors(&error) => {
                if last_warning.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(
                        "{}: cannot accept a connection ({error}); closing idle ones and \
                         trying again",
                        shared.name
                    );
                    last_warning = Some(Instant::now());
                }
                // Resume as soon as the connection closed has given its descriptor back; at
                // most the back-off when there was none to close.
                let ended = shared.connections.ended.notified();
                tokio::pin!(ended);
                ended.as_mut().enable();
                if shared.connections.evict_oldest_idle() {
                    let _ = tokio::time::timeout(ACCEPT_BACKOFF, ended).await;
                } else {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
            Err(error) => {
                // A connection reset before it was accepted, and the like: that one only.
                tracing::debug!("{}: accept: {error}", shared.name);
                continue;
            }
        };
        let slot = match Arc::clone(&shared.slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Full: make room by closing an idle connection, or wait for one to end.
                shared.connections.evict_oldest_idle();
                let slot = tokio::select! {
                    slot = Arc::clone(&shared.slots).acquire_owned() => slot,
                    () = shared.stop.notified() => return,
                };
                match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let (id, connection) = shared.connections.add();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve(stream, address, &shared, &connection).await;
            shared.connections.remove(id);
            drop(slot);
        });
    }
}

/// One connection: the TLS handshake if any, then HTTP until either side closes.
async fn serve(
    stream: tokio::net::TcpStream,
    address: SocketAddr,
    shared: &Arc<Shared>,
    connection: &Arc<Connection>,
) {
    let Some(acceptor) = &shared.tls else {
        let peer = Peer {
            address,
            client_certificate: false,
            authorized: false,
        };
        return http(stream, peer, shared, connection).await;
    };
    let handshake = tokio::time::timeout(shared.limits.header_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!("{}: TLS handshake with {address}: {error}", shared.name);
                return;
            }
            Err(_) => return,
        },
        () = connection.close.notified() => return,
    };
    let peer = Peer {
        address,
        client_certificate: stream.get_ref().1.peer_certificates().is_some(),
        authorized: false,
    };
    http(stream, peer, shared, connection).await;
}

async fn http<I>(io: I, peer: Peer, shared: &Arc<Shared>, connection: &Arc<Connection>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let shared = Arc::clone(shared);
        let connection = Arc::clone(connection);
        service_fn(move |request: Request<Incoming>| {
            connection.busy.store(true, Ordering::Relaxed);
            let peer = Peer {
                authorized: shared.access.authorized(&request, &peer),
                ..peer
            };
            let answer = if shared.access.host_allowed(&request) {
                Arc::clone(&shared.handler).handle(request, peer)
            } else {
                tracing::warn!(
                    "{}: {} {} from {} refused with 403: Host {:?} is not an allowed name",
                    shared.name,
                    request.method(),
                    request.uri().path(),
                    peer.address,
                    request.headers().get(hyper::header::HOST)
                );
                Box::pin(async {
                    access::error(
                        StatusCode::FORBIDDEN,
                        "the Host header does not name this server (allowed_hosts)",
                    )
                })
            };
            let connection = Arc::clone(&connection);
            async move {
                let mut response = answer.await;
                // Every 503 says when to come back.
                if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                    response
                        .headers_mut()
                        .entry(RETRY_AFTER)
                        .or_insert(HeaderValue::from_static("1"));
                }
                connection.busy.store(false, Ordering::Relaxed);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_timeout)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!("{}: connection from {}: {error}", shared.name, peer.address);
            }
        }
        () = connection.close.notified() => {
            // An idle connection closes at once; one in a request finishes it first.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(GRACE, conn).await;
        }
    }
}
