//! Delivery over UDP: one socket, one uptime clock, unique request-ids, and one outcome per
//! destination. Traps are fire-and-forget; informs wait for the manager's Response and are
//! retransmitted (same request-id, RFC 3416 §4.2.7) until it comes or the retries run out.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{
    DecodedMessage, Destination, DestinationError, EncodeError, Envelope, PduKind, SnmpVersion,
    decode, encode_into,
};
use crate::record::Trap;

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
}

impl Default for SenderConfig {
    fn default() -> SenderConfig {
        SenderConfig {
            version: SnmpVersion::V2c,
            inform: false,
            community: Community::new("public"),
            retries: 3,
            timeout: Duration::from_secs(1),
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
        if config.inform && config.version == SnmpVersion::V1 {
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
            next_request_id: initial_request_id(),
            agent_addr,
            message: Vec::with_capacity(1500),
            inbox: vec![0; MAX_DATAGRAM],
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
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return None;
            }
            // A zero read timeout means "block forever" to the OS, hence the floor.
            if let Err(error) = self
                .socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            {
                tracing::warn!("cannot wait for Responses: {error}");
                std::thread::sleep(wait);
                return None;
            }
            match self.socket.recv_from(&mut self.inbox) {
                Ok((length, from)) => match decode(&self.inbox[..length]) {
                    Ok(message) if message.pdu == PduKind::Response => {
                        return Some((from, message));
                    }
                    Ok(message) => {
                        tracing::debug!(%from, pdu = message.pdu.name(), "ignoring a datagram that is not a Response");
                    }
                    Err(error) => {
                        tracing::debug!(%from, "ignoring an undecodable datagram: {error}");
                    }
                },
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
                    tracing::debug!("receiving Responses: {error}");
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
