//! Delivery over UDP: one socket, one uptime clock, unique request-ids, and one outcome per
//! destination. Traps are fire-and-forget; informs wait for the manager's Response and are
//! retransmitted (same request-id, RFC 3416 §4.2.7) until it comes or the retries run out.
//!
//! SNMPv3 ([`SenderConfig::v3`]): traps are encoded once, with our engine authoritative.
//! Informs go to one destination after the other: the manager's engine is discovered first
//! (and cached), each attempt is a new message, and the manager's Reports are acted on
//! (time window: resynchronise and resend; unknown engine: rediscover; authentication
//! failures: reported as such).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::usm::crypto::CryptoError;
use super::usm::{
    DecodedV3, LocalizedKeys, ReportKind, SecurityLevel, V3Body, V3Config, V3Session, decode_v3,
    peek_header,
};
use super::{
    DecodedMessage, Destination, DestinationError, EncodeError, Envelope, PduKind, SnmpVersion,
    decode, encode_into,
};
use crate::record::Trap;

/// SNMPv3 informs: how many time-window or engine-ID Reports one inform may answer with a
/// resend; a manager that keeps sending them must not keep us busy forever.
const MAX_RESYNCHRONISATIONS: u32 = 2;

/// Largest datagram read while waiting for Responses (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// An SNMP community: a shared secret, so it never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Community(Vec<u8>);

impl Community {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Community {
        Community(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Community(<redacted>)")
    }
}

/// How notifications are sent.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub version: SnmpVersion,
    /// Send InformRequests and wait for Responses (SNMPv2c only).
    pub inform: bool,
    pub community: Community,
    /// Informs: retransmissions after the first attempt.
    pub retries: u32,
    /// Informs: how long to wait for a Response to each attempt.
    pub timeout: Duration,
    /// SNMPv3 with USM instead of `version` and `community`.
    pub v3: Option<V3Config>,
}

impl Default for SenderConfig {
    fn default() -> SenderConfig {
        SenderConfig {
            version: SnmpVersion::V2c,
            inform: false,
            community: Community::new("public"),
            retries: 3,
            timeout: Duration::from_secs(1),
            v3: None,
        }
    }
}

/// A sender that could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("no destination to send to")]
    NoDestination,
    #[error("informs need SNMPv2c: SNMPv1 has no InformRequest")]
    InformNeedsV2c,
    #[error(transparent)]
    Destination(#[from] DestinationError),
    #[error("cannot localise the SNMPv3 keys: {0}")]
    Keys(#[from] CryptoError),
    #[error("cannot open a UDP socket on {bind}: {source}")]
    Socket {
        bind: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Why one notification did not reach one destination.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot send to {address}: {reason}")]
    Send { address: SocketAddr, reason: String },
    #[error("no Response after {attempts} attempts, {timeout_ms} ms apart")]
    NoResponse { attempts: u32, timeout_ms: u128 },
    #[error("the manager answered with error-status {status} (error-index {index})")]
    ErrorStatus { status: u32, index: u32 },
    #[error(
        "SNMPv3 engine discovery failed: no Report after {attempts} attempts, {timeout_ms} ms apart"
    )]
    Discovery { attempts: u32, timeout_ms: u128 },
    #[error("the manager rejected the inform for authentication reasons: {counter} ({meaning})")]
    AuthenticationRejected {
        counter: &'static str,
        meaning: &'static str,
    },
    #[error("the manager rejected the inform: {counter} ({meaning})")]
    Rejected {
        counter: &'static str,
        meaning: &'static str,
    },
    #[error("cannot encode the message: {0}")]
    Encode(String),
}

/// What happened to one notification at one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub destination: Destination,
    /// The request-id of the message (`None` for SNMPv1 traps, which have none).
    pub request_id: Option<i32>,
    /// Datagrams sent (1 for a trap; 1 + retransmissions for an inform).
    pub attempts: u32,
    /// `Ok` when a trap was handed to the network or an inform was acknowledged.
    pub result: Result<(), DeliveryError>,
}

struct Target {
    destination: Destination,
    /// The address as the socket sends to it and sees Responses come from.
    address: SocketAddr,
}

/// Sends notifications to a fixed list of destinations.
pub struct Sender {
    config: SenderConfig,
    targets: Vec<Target>,
    socket: UdpSocket,
    started: Instant,
    next_request_id: i32,
    agent_addr: [u8; 4],
    /// The encoded message, reused from one notification to the next.
    message: Vec<u8>,
    inbox: Vec<u8>,
    v3: Option<V3Session>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("config", &self.config)
            .field(
                "destinations",
                &self
                    .targets
                    .iter()
                    .map(|t| t.destination.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// Resolves every destination and opens the socket. The uptime clock starts here.
    pub fn new(config: SenderConfig, destinations: &[Destination]) -> Result<Sender, SenderError> {
        if destinations.is_empty() {
            return Err(SenderError::NoDestination);
        }
        if config.inform && config.version == SnmpVersion::V1 && config.v3.is_none() {
            return Err(SenderError::InformNeedsV2c);
        }
        let resolved = destinations
            .iter()
            .map(|destination| Ok((destination.clone(), destination.resolve()?)))
            .collect::<Result<Vec<_>, DestinationError>>()?;
        // One socket for every destination; an IPv6 one (dual-stack) only when needed, since
        // some hosts have IPv6 disabled.
        let dual_stack = resolved.iter().any(|(_, address)| address.is_ipv6());
        let bind = if dual_stack {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        };
        let socket =
            UdpSocket::bind(bind).map_err(|source| SenderError::Socket { bind, source })?;
        let agent_addr = match config.version {
            SnmpVersion::V1 => local_ipv4_towards(resolved.iter().map(|(_, a)| *a)),
            SnmpVersion::V2c => [0; 4],
        };
        let next_request_id = initial_request_id();
        // Keys are localised here, once, not per message.
        let v3 = match &config.v3 {
            Some(v3) => Some(V3Session::new(
                v3.clone(),
                next_request_id.rotate_left(11) as u32,
            )?),
            None => None,
        };
        let targets = resolved
            .into_iter()
            .map(|(destination, address)| Target {
                destination,
                address: if dual_stack {
                    to_ipv6(address)
                } else {
                    address
                },
            })
            .collect();
        Ok(Sender {
            config,
            targets,
            socket,
            started: Instant::now(),
            next_request_id,
            agent_addr,
            message: Vec::with_capacity(1500),
            inbox: vec![0; MAX_DATAGRAM],
            v3,
        })
    }

    pub fn destinations(&self) -> impl Iterator<Item = &Destination> {
        self.targets.iter().map(|target| &target.destination)
    }

    /// `sysUpTime.0`: hundredths of a second since the sender started, modulo 2^32 as
    /// TimeTicks wrap.
    pub fn uptime(&self) -> u32 {
        (self.started.elapsed().as_millis() / 10) as u32
    }

    /// The address the socket sends from.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Sends one notification to every destination and says what happened at each. The message
    /// is encoded once; every destination gets the same bytes (so the same request-id), and a
    /// Response counts only when it comes from the destination it answers for.
    pub fn send(&mut self, trap: &Trap) -> Result<Vec<Delivery>, EncodeError> {
        let request_id = self.take_request_id();
        if self.v3.is_some() {
            return self.send_v3(trap, request_id);
        }
        let pdu = if self.config.inform {
            PduKind::InformRequest
        } else {
            PduKind::Trap
        };
        let envelope = Envelope {
            version: self.config.version,
            pdu,
            community: self.config.community.as_bytes(),
            request_id,
            uptime: self.uptime(),
            agent_addr: self.agent_addr,
        };
        encode_into(trap, &envelope, &mut self.message)?;
        let request_id = (self.config.version == SnmpVersion::V2c).then_some(request_id);
        if self.config.inform {
            Ok(self.deliver_inform(request_id.unwrap_or_default()))
        } else {
            Ok(self
                .targets
                .iter()
                .map(|target| Delivery {
                    destination: target.destination.clone(),
                    request_id,
                    attempts: 1,
                    result: send_to(&self.socket, &self.message, target.address),
                })
                .collect())
        }
    }

    fn send_v3(&mut self, trap: &Trap, request_id: i32) -> Result<Vec<Delivery>, EncodeError> {
        let uptime = self.uptime();
        let Some(session) = self.v3.as_mut() else {
            return Ok(Vec::new());
        };
        if !self.config.inform {
            session.encode_trap(trap, request_id, uptime, &mut self.message)?;
            return Ok(self
                .targets
                .iter()
                .map(|target| Delivery {
                    destination: target.destination.clone(),
                    request_id: Some(request_id),
                    attempts: 1,
                    result: send_to(&self.socket, &self.message, target.address),
                })
                .collect());
        }
        // Fails early on a record that cannot be encoded, as v2c does, before any exchange.
        super::ber::v2_pdus(trap, PduKind::InformRequest, request_id, uptime)?;
        Ok((0..self.targets.len())
            .map(|target| {
                let (attempts, result) = self.deliver_v3_inform(target, trap, request_id, uptime);
                self.delivery(target, request_id, attempts, result)
            })
            .collect())
    }

    /// One v3 inform to one destination: discovery when its engine is unknown, then attempts
    /// until a Response, a final Report, or the retries run out. Returns the datagrams sent.
    fn deliver_v3_inform(
        &mut self,
        target: usize,
        trap: &Trap,
        request_id: i32,
        uptime: u32,
    ) -> (u32, Result<(), DeliveryError>) {
        let mut attempts = 0u32;
        let mut resynchronisations = 0u32;
        loop {
            if !self.v3.as_ref().is_some_and(|s| s.knows(target)) {
                match self.discover(target) {
                    Ok(sent) => attempts += sent,
                    Err((sent, error)) => return (attempts + sent, Err(error)),
                }
            }
            let mut sent_ids = Vec::new();
            let mut outcome = None;
            for _ in 0..=self.config.retries {
                let Some(session) = self.v3.as_mut() else {
                    return (attempts, Ok(()));
                };
                let message_id = match session.encode_inform(
                    target,
                    trap,
                    request_id,
                    uptime,
                    &mut self.message,
                ) {
                    Ok(id) => id,
                    Err(error) => {
                        return (attempts, Err(DeliveryError::Encode(error.to_string())));
                    }
                };
                sent_ids.push(message_id);
                attempts += 1;
                if let Err(error) =
                    send_to(&self.socket, &self.message, self.targets[target].address)
                {
                    return (attempts, Err(error));
                }
                let deadline = Instant::now() + self.config.timeout;
                if let Some(answer) =
                    self.receive_v3_until(target, &sent_ids, Some(request_id), deadline)
                {
                    outcome = Some(answer);
                    break;
                }
                tracing::debug!(
                    destination = %self.targets[target].destination,
                    request_id,
                    "no Response yet: retransmitting the inform as a new message"
                );
            }
            let Some(answer) = outcome else {
                return (
                    attempts,
                    Err(DeliveryError::NoResponse {
                        attempts,
                        timeout_ms: self.config.timeout.as_millis(),
                    }),
                );
            };
            match answer.body {
                // receive_v3_until passes only Responses to this request-id.
                V3Body::Pdu(response) => {
                    // An authenticated message from the authoritative engine refreshes our
                    // notion of its clock (RFC 3414 §3.2 step 7b).
                    if let Some(session) = self.v3.as_mut()
                        && let Err(error) = session.learn(target, &answer.header)
                    {
                        tracing::debug!("cannot refresh the manager's engine time: {error}");
                    }
                    return (
                        attempts,
                        match response.error_status {
                            0 => Ok(()),
                            status => Err(DeliveryError::ErrorStatus {
                                status,
                                index: response.error_index,
                            }),
                        },
                    );
                }
                V3Body::Report { kind, .. } => {
                    // Only an authenticated Report may move our notion of the manager's clock,
                    // or anyone could make us send stale messages.
                    let resynchronise = resynchronisations < MAX_RESYNCHRONISATIONS
                        && match kind {
                            ReportKind::NotInTimeWindow => {
                                answer.header.level != SecurityLevel::NoAuthNoPriv
                            }
                            ReportKind::UnknownEngineId => true,
                            _ => false,
                        };
                    if !resynchronise {
                        return (attempts, Err(rejection(kind)));
                    }
                    resynchronisations += 1;
                    tracing::info!(
                        destination = %self.targets[target].destination,
                        report = kind.counter_name(),
                        boots = answer.header.boots,
                        time = answer.header.time,
                        "resynchronising with the manager's engine"
                    );
                    let learnt = match self.v3.as_mut() {
                        Some(session) if kind == ReportKind::NotInTimeWindow => {
                            session.learn(target, &answer.header)
                        }
                        // Another engine ID answers there now: discover it again.
                        Some(session) => {
                            session.forget(target);
                            Ok(())
                        }
                        None => Ok(()),
                    };
                    if let Err(error) = learnt {
                        return (attempts, Err(DeliveryError::Encode(error.to_string())));
                    }
                }
            }
        }
    }

    /// Discovers destination `target`'s engine ID, boots and time (RFC 3414 §4). Returns the
    /// datagrams sent.
    fn discover(&mut self, target: usize) -> Result<u32, (u32, DeliveryError)> {
        let mut sent_ids = Vec::new();
        for attempt in 1..=self.config.retries + 1 {
            let Some(session) = self.v3.as_mut() else {
                return Ok(0);
            };
            let message_id = session
                .encode_discovery(&mut self.message)
                .map_err(|e| (attempt - 1, DeliveryError::Encode(e.to_string())))?;
            sent_ids.push(message_id);
            send_to(&self.socket, &self.message, self.targets[target].address)
                .map_err(|error| (attempt, error))?;
            let deadline = Instant::now() + self.config.timeout;
            if let Some(report) = self.receive_v3_until(target, &sent_ids, None, deadline) {
                if report.header.engine_id.is_empty() {
                    continue;
                }
                tracing::debug!(
                    destination = %self.targets[target].destination,
                    engine_id = %hex(&report.header.engine_id),
                    boots = report.header.boots,
                    time = report.header.time,
                    "discovered the manager's SNMP engine"
                );
                if let Some(session) = self.v3.as_mut() {
                    session
                        .learn(target, &report.header)
                        .map_err(|e| (attempt, DeliveryError::Encode(e.to_string())))?;
                }
                return Ok(attempt);
            }
        }
        let attempts = self.config.retries + 1;
        Err((
            attempts,
            DeliveryError::Discovery {
                attempts,
                timeout_ms: self.config.timeout.as_millis(),
            },
        ))
    }

    /// Waits until `deadline` for a v3 message from destination `target` answering one of
    /// `message_ids`, checked with the keys of its engine (unauthenticated Reports need none):
    /// a Report, or a Response to `request_id` when there is one.
    fn receive_v3_until(
        &mut self,
        target: usize,
        message_ids: &[i32],
        request_id: Option<i32>,
        deadline: Instant,
    ) -> Option<DecodedV3> {
        let expected_from = self.targets[target].address;
        loop {
            let (from, length) = self.receive_datagram(deadline)?;
            if !same_endpoint(expected_from, from) {
                tracing::debug!(%from, "ignoring a datagram from an address that was not asked");
                continue;
            }
            let bytes = &self.inbox[..length];
            let header = match peek_header(bytes) {
                Ok(header) => header,
                Err(error) => {
                    tracing::debug!(%from, "ignoring a datagram that is not SNMPv3: {error}");
                    continue;
                }
            };
            if !message_ids.contains(&header.message_id) {
                tracing::debug!(%from, "ignoring an answer to another message");
                continue;
            }
            let none = LocalizedKeys::none();
            let keys = match header.level {
                SecurityLevel::NoAuthNoPriv => &none,
                _ => match self.v3.as_ref().and_then(|s| s.remote_keys(target)) {
                    Some(keys) => keys,
                    None => {
                        tracing::debug!(%from, "ignoring an authenticated answer before discovery");
                        continue;
                    }
                },
            };
            match decode_v3(bytes, keys) {
                Ok(message) => match &message.body {
                    V3Body::Report { .. } => return Some(message),
                    V3Body::Pdu(pdu)
                        if pdu.pdu == PduKind::Response
                            && request_id.is_some()
                            && pdu.request_id == request_id =>
                    {
                        return Some(message);
                    }
                    V3Body::Pdu(pdu) => {
                        tracing::debug!(%from, pdu = pdu.pdu.name(), "ignoring a PDU that answers nothing we asked");
                    }
                },
                Err(error) => {
                    tracing::warn!(%from, "ignoring an SNMPv3 answer that does not check out: {error}");
                }
            }
        }
    }

    fn take_request_id(&mut self) -> i32 {
        let id = self.next_request_id;
        // Request-ids stay positive: some managers mishandle negative ones.
        self.next_request_id = if id == i32::MAX { 1 } else { id + 1 };
        id
    }

    /// Sends the encoded inform to every destination at once, then waits for their Responses,
    /// retransmitting to each one whose timeout expires.
    fn deliver_inform(&mut self, request_id: i32) -> Vec<Delivery> {
        struct Pending {
            target: usize,
            attempts: u32,
            deadline: Instant,
        }
        let timeout = self.config.timeout;
        let mut outcomes: Vec<Option<Delivery>> = vec![None; self.targets.len()];
        let mut pending = Vec::with_capacity(self.targets.len());
        for (index, target) in self.targets.iter().enumerate() {
            match send_to(&self.socket, &self.message, target.address) {
                Ok(()) => pending.push(Pending {
                    target: index,
                    attempts: 1,
                    deadline: Instant::now() + timeout,
                }),
                Err(error) => {
                    outcomes[index] = Some(self.delivery(index, request_id, 1, Err(error)));
                }
            }
        }
        while !pending.is_empty() {
            let now = Instant::now();
            let mut still_pending = Vec::with_capacity(pending.len());
            for mut waiting in pending.drain(..) {
                if waiting.deadline > now {
                    still_pending.push(waiting);
                    continue;
                }
                let target = &self.targets[waiting.target];
                if waiting.attempts > self.config.retries {
                    let error = DeliveryError::NoResponse {
                        attempts: waiting.attempts,
                        timeout_ms: timeout.as_millis(),
                    };
                    outcomes[waiting.target] = Some(self.delivery(
                        waiting.target,
                        request_id,
                        waiting.attempts,
                        Err(error),
                    ));
                    continue;
                }
                tracing::debug!(
                    destination = %target.destination,
                    request_id,
                    attempt = waiting.attempts + 1,
                    "no Response yet: retransmitting the inform"
                );
                waiting.attempts += 1;
                waiting.deadline = now + timeout;
                match send_to(&self.socket, &self.message, target.address) {
                    Ok(()) => still_pending.push(waiting),
                    Err(error) => {
                        outcomes[waiting.target] = Some(self.delivery(
                            waiting.target,
                            request_id,
                            waiting.attempts,
                            Err(error),
                        ));
                    }
                }
            }
            pending = still_pending;
            let Some(next_deadline) = pending.iter().map(|p| p.deadline).min() else {
                break;
            };
            let Some((from, response)) = self.receive_until(next_deadline) else {
                continue;
            };
            if response.request_id != Some(request_id) {
                tracing::debug!(%from, "ignoring a Response to another request");
                continue;
            }
            let Some(position) = pending
                .iter()
                .position(|p| same_endpoint(self.targets[p.target].address, from))
            else {
                tracing::debug!(%from, "ignoring a Response from an address that was not asked");
                continue;
            };
            let answered = pending.swap_remove(position);
            let result = match response.error_status {
                0 => Ok(()),
                status => Err(DeliveryError::ErrorStatus {
                    status,
                    index: response.error_index,
                }),
            };
            outcomes[answered.target] =
                Some(self.delivery(answered.target, request_id, answered.attempts, result));
        }
        outcomes.into_iter().flatten().collect()
    }

    /// Waits until `deadline` for one Response; anything else that arrives is skipped.
    fn receive_until(&mut self, deadline: Instant) -> Option<(SocketAddr, DecodedMessage)> {
        loop {
            let (from, length) = self.receive_datagram(deadline)?;
            match decode(&self.inbox[..length]) {
                Ok(message) if message.pdu == PduKind::Response => {
                    return Some((from, message));
                }
                Ok(message) => {
                    tracing::debug!(%from, pdu = message.pdu.name(), "ignoring a datagram that is not a Response");
                }
                Err(error) => {
                    tracing::debug!(%from, "ignoring an undecodable datagram: {error}");
                }
            }
        }
    }

    /// Waits until `deadline` for one datagram, read into `inbox`: its source and length.
    fn receive_datagram(&mut self, deadline: Instant) -> Option<(SocketAddr, usize)> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return None;
            }
            // A zero read timeout means "block forever" to the OS, hence the floor.
            if let Err(error) = self
                .socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            {
                tracing::warn!("cannot wait for answers: {error}");
                std::thread::sleep(wait);
                return None;
            }
            match self.socket.recv_from(&mut self.inbox) {
                Ok((length, from)) => return Some((from, length)),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(error) => {
                    // E.g. an ICMP error reported late: it does not end the wait, but must
                    // not spin either.
                    tracing::debug!("receiving answers: {error}");
                    std::thread::sleep(wait.min(Duration::from_millis(10)));
                }
            }
        }
    }

    fn delivery(
        &self,
        target: usize,
        request_id: i32,
        attempts: u32,
        result: Result<(), DeliveryError>,
    ) -> Delivery {
        Delivery {
            destination: self.targets[target].destination.clone(),
            request_id: Some(request_id),
            attempts,
            result,
        }
    }
}

/// What a Report that ends an inform's delivery means.
fn rejection(kind: ReportKind) -> DeliveryError {
    let counter = kind.counter_name();
    match kind {
        ReportKind::WrongDigest => DeliveryError::AuthenticationRejected {
            counter,
            meaning: "wrong authentication passphrase or protocol for this user",
        },
        ReportKind::UnknownUserName => DeliveryError::AuthenticationRejected {
            counter,
            meaning: "the manager has no such user for its engine ID",
        },
        ReportKind::UnsupportedSecLevel => DeliveryError::AuthenticationRejected {
            counter,
            meaning: "the user is not configured for this security level",
        },
        ReportKind::DecryptionError => DeliveryError::AuthenticationRejected {
            counter,
            meaning: "wrong privacy passphrase or protocol for this user",
        },
        ReportKind::NotInTimeWindow => DeliveryError::Rejected {
            counter,
            meaning: "still outside the manager's time window after resynchronising",
        },
        ReportKind::UnknownEngineId => DeliveryError::Rejected {
            counter,
            meaning: "the manager's engine ID keeps changing",
        },
        ReportKind::Other => DeliveryError::Rejected {
            counter,
            meaning: "a Report USM does not define",
        },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn send_to(socket: &UdpSocket, message: &[u8], address: SocketAddr) -> Result<(), DeliveryError> {
    match socket.send_to(message, address) {
        Ok(sent) if sent == message.len() => Ok(()),
        Ok(sent) => Err(DeliveryError::Send {
            address,
            reason: format!("only {sent} of {} bytes sent", message.len()),
        }),
        Err(error) => Err(DeliveryError::Send {
            address,
            reason: error.to_string(),
        }),
    }
}

/// An IPv4 address as a dual-stack IPv6 socket sees it (`::ffff:a.b.c.d`).
fn to_ipv6(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// SNMPv1 `agent-addr`: the local IPv4 address that routes to the first IPv4 destination
/// (found by connecting a UDP socket, which sends nothing), or 0.0.0.0 when there is none.
fn local_ipv4_towards(mut addresses: impl Iterator<Item = SocketAddr>) -> [u8; 4] {
    let Some(destination) = addresses.find(SocketAddr::is_ipv4) else {
        return [0; 4];
    };
    let local = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect(destination)?;
            socket.local_addr()
        })
        .map(|address| address.ip());
    match local {
        Ok(IpAddr::V4(ip)) => ip.octets(),
        _ => [0; 4],
    }
}

/// A positive starting request-id that differs from run to run, so that a manager does not
/// take the first messages of a restarted sender for retransmissions of old ones.
fn initial_request_id() -> i32 {
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos() ^ (elapsed.as_secs() as u32).rotate_left(7))
        .unwrap_or(0);
    let mixed = (clock ^ std::process::id().rotate_left(16)) & 0x7fff_ffff;
    mixed.max(1) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_is_redacted_in_debug() {
        let config = SenderConfig {
            community: Community::new("s3cret-community"),
            ..SenderConfig::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn request_ids_stay_positive_and_unique() {
        let destination: Destination = "udp:127.0.0.1:9".parse().unwrap();
        let mut sender = Sender::new(SenderConfig::default(), &[destination]).unwrap();
        sender.next_request_id = i32::MAX - 1;
        assert_eq!(sender.take_request_id(), i32::MAX - 1);
        assert_eq!(sender.take_request_id(), i32::MAX);
        assert_eq!(sender.take_request_id(), 1);
        assert!(initial_request_id() > 0);
    }

    #[test]
    fn informs_need_v2c() {
        let destination: Destination = "udp:127.0.0.1:9".parse().unwrap();
        let config = SenderConfig {
            version: SnmpVersion::V1,
            inform: true,
            ..SenderConfig::default()
        };
        assert!(matches!(
            Sender::new(config, &[destination]),
            Err(SenderError::InformNeedsV2c)
        ));
    }

    #[test]
    fn mapped_addresses_match_their_ipv4_form() {
        let v4: SocketAddr = "127.0.0.1:162".parse().unwrap();
        assert!(same_endpoint(to_ipv6(v4), v4));
        assert!(!same_endpoint(v4, "127.0.0.1:163".parse().unwrap()));
    }
}
