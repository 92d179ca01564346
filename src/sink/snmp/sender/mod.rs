//! Delivery over UDP: one socket, one uptime clock, unique request-ids, and one outcome per
//! destination. Traps are fire-and-forget; informs wait for the manager's Response and are
//! retransmitted until it comes or the retries run out ([`inform`], for SNMPv2c and SNMPv3
//! alike: to every destination at once).
//!
//! SNMPv3 ([`Security::V3`]): traps are encoded once, with our engine authoritative. Informs
//! are a new message per attempt and destination, for the manager's engine, discovered first
//! (and cached); the manager's Reports are acted on (time window: resynchronise and resend;
//! unknown engine: rediscover; authentication failures: reported as such).

mod inform;
mod link;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::usm::V3Session;
use super::usm::crypto::CryptoError;
use super::{
    Community, Destination, DestinationError, EncodeError, Envelope, NotificationKind, PduKind,
    Security, SenderConfig, SnmpVersion, encode_into,
};
use crate::record::Trap;
use inform::{Inform, Messages};
use link::{Link, local_ipv4_towards};

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
    /// Datagrams sent (1 for a trap; 1 + retransmissions for an inform, with SNMPv3's
    /// discovery probes).
    pub attempts: u32,
    /// `Ok` when a trap was handed to the network or an inform was acknowledged.
    pub result: Result<(), DeliveryError>,
    /// Whether the manager confirmed it (an inform answered by a Response). A trap that left
    /// is sent, never acknowledged: nobody answers traps.
    pub acknowledged: bool,
}

/// How messages are made, from the configuration's security.
enum Encoder {
    Community {
        version: SnmpVersion,
        community: Community,
        /// SNMPv1 `agent-addr` (0.0.0.0 for SNMPv2c, which has none).
        agent_addr: [u8; 4],
    },
    /// Our v3 state: keys, discovered engines, msgIDs and salts (large, hence boxed).
    Usm(Box<V3Session>),
}

/// The v1/v2c message header of one notification: the same for traps, queued traps and
/// informs but for the PDU type.
fn community_envelope(
    version: SnmpVersion,
    community: &Community,
    agent_addr: [u8; 4],
    pdu: PduKind,
    request_id: i32,
    uptime: u32,
) -> Envelope<'_> {
    Envelope {
        version,
        pdu,
        community: community.as_bytes(),
        request_id,
        uptime,
        agent_addr,
    }
}

/// Sends notifications to a fixed list of destinations.
pub struct Sender {
    config: SenderConfig,
    link: Link,
    encoder: Encoder,
    started: Instant,
    next_request_id: i32,
    /// The encoded message, reused from one notification to the next.
    message: Vec<u8>,
    /// Traps queued by [`queue_trap`](Sender::queue_trap), end to end, until
    /// [`flush`](Sender::flush).
    batch: Vec<u8>,
    /// Where each queued trap ends in `batch`.
    batch_ends: Vec<usize>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("config", &self.config)
            .field(
                "destinations",
                &self
                    .destinations()
                    .map(ToString::to_string)
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
        // `check` refuses this already; a configuration built by hand may still ask for it.
        if !config.security.version().carries(config.notification) {
            return Err(SenderError::InformNeedsV2c);
        }
        let resolved = destinations
            .iter()
            .map(|destination| Ok((destination.clone(), destination.resolve()?)))
            .collect::<Result<Vec<_>, DestinationError>>()?;
        let addresses: Vec<SocketAddr> = resolved.iter().map(|(_, address)| *address).collect();
        let link = Link::open(resolved)?;
        let next_request_id = initial_request_id();
        let encoder = match &config.security {
            Security::V1 { community } => Encoder::Community {
                version: SnmpVersion::V1,
                community: community.clone(),
                agent_addr: local_ipv4_towards(addresses.into_iter()),
            },
            Security::V2c { community } => Encoder::Community {
                version: SnmpVersion::V2c,
                community: community.clone(),
                agent_addr: [0; 4],
            },
            // Keys are localised here, once, not per message.
            Security::V3(v3) => Encoder::Usm(Box::new(V3Session::new(
                v3.clone(),
                next_request_id.rotate_left(11) as u32,
            )?)),
        };
        Ok(Sender {
            config,
            link,
            encoder,
            started: process_start(),
            next_request_id,
            message: Vec::with_capacity(1500),
            batch: Vec::new(),
            batch_ends: Vec::new(),
        })
    }

    pub fn destinations(&self) -> impl Iterator<Item = &Destination> {
        self.link.destinations()
    }

    /// `sysUpTime.0`: hundredths of a second since the process started (see
    /// [`process_start`]), modulo 2^32 as TimeTicks wrap.
    pub fn uptime(&self) -> u32 {
        (self.started.elapsed().as_millis() / 10) as u32
    }

    /// The address the socket sends from.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.link.local_addr()
    }

    /// Sends one notification to every destination and says what happened at each. A trap is
    /// encoded once and every destination gets the same bytes; an inform goes to every
    /// destination at once and counts only when the destination's own answer comes.
    pub fn send(&mut self, trap: &Trap) -> Result<Vec<Delivery>, EncodeError> {
        if !self.is_inform() {
            let request_id = self.encode_trap(trap)?;
            return Ok(self.send_trap(request_id));
        }
        let request_id = self.take_request_id();
        let uptime = self.uptime();
        let messages = match &mut self.encoder {
            Encoder::Community {
                version,
                community,
                agent_addr,
            } => {
                let envelope = community_envelope(
                    *version,
                    community,
                    *agent_addr,
                    PduKind::InformRequest,
                    request_id,
                    uptime,
                );
                encode_into(trap, &envelope, &mut self.message)?;
                Messages::Community(&self.message)
            }
            Encoder::Usm(session) => {
                // Fails early on a record that cannot be encoded, as v2c does, before any
                // exchange.
                super::ber::v2_pdus(trap, PduKind::InformRequest, request_id, uptime)?;
                Messages::Usm {
                    session,
                    trap,
                    uptime,
                    buffer: &mut self.message,
                }
            }
        };
        Ok(Inform {
            link: &mut self.link,
            messages,
            request_id,
            retries: self.config.retries,
            timeout: self.config.timeout,
        }
        .deliver())
    }

    /// Whether notifications are informs (each an exchange, sent by [`send`](Sender::send))
    /// rather than traps (which may also be queued and sent together).
    pub fn is_inform(&self) -> bool {
        self.config.notification == NotificationKind::Inform
    }

    /// Encodes a trap (not an inform) into `message`: its request-id, if the PDU has one.
    fn encode_trap(&mut self, trap: &Trap) -> Result<Option<i32>, EncodeError> {
        let request_id = self.take_request_id();
        let uptime = self.uptime();
        self.write_trap(trap, request_id, uptime)
    }

    /// Encodes a trap with the given request-id and uptime into `message`.
    fn write_trap(
        &mut self,
        trap: &Trap,
        request_id: i32,
        uptime: u32,
    ) -> Result<Option<i32>, EncodeError> {
        match &mut self.encoder {
            Encoder::Community {
                version,
                community,
                agent_addr,
            } => {
                let envelope = community_envelope(
                    *version,
                    community,
                    *agent_addr,
                    PduKind::Trap,
                    request_id,
                    uptime,
                );
                encode_into(trap, &envelope, &mut self.message)?;
                // SNMPv1 Trap-PDUs have no request-id.
                Ok((*version == SnmpVersion::V2c).then_some(request_id))
            }
            Encoder::Usm(session) => {
                session.encode_trap(trap, request_id, uptime, &mut self.message)?;
                Ok(Some(request_id))
            }
        }
    }

    /// Encodes a trap and queues it; nothing leaves before [`flush`](Sender::flush), which
    /// sends every queued trap with as few system calls as the platform allows. For traps
    /// only: an inform is an exchange, made by [`send`](Sender::send).
    pub fn queue_trap(&mut self, trap: &Trap) -> Result<(), EncodeError> {
        debug_assert!(!self.is_inform(), "informs are sent one by one");
        let request_id = self.take_request_id();
        let uptime = self.uptime();
        if let Encoder::Community {
            version: SnmpVersion::V2c,
            community,
            agent_addr,
        } = &self.encoder
        {
            // Written straight at the end of the batch, without a copy through `message`.
            let envelope = community_envelope(
                SnmpVersion::V2c,
                community,
                *agent_addr,
                PduKind::Trap,
                request_id,
                uptime,
            );
            let start = self.batch.len();
            if let Err(error) = super::ber::v2c::append(trap, &envelope, &mut self.batch) {
                self.batch.truncate(start);
                return Err(error);
            }
        } else {
            self.write_trap(trap, request_id, uptime)?;
            self.batch.extend_from_slice(&self.message);
        }
        self.batch_ends.push(self.batch.len());
        Ok(())
    }

    /// Traps queued and not flushed yet.
    pub fn queued(&self) -> usize {
        self.batch_ends.len()
    }

    /// Sends every queued trap to every destination, in order, and empties the queue: the
    /// result of trap `t` at destination `d` is at `t * destinations + d`.
    pub fn flush(&mut self) -> Vec<Result<(), DeliveryError>> {
        let mut starts = std::iter::once(0).chain(self.batch_ends.iter().copied());
        let messages: Vec<&[u8]> = self
            .batch_ends
            .iter()
            .map(|&end| &self.batch[starts.next().unwrap_or(end)..end])
            .collect();
        let targets = self.link.len();
        let mut results = vec![Ok(()); messages.len() * targets];
        for target in 0..targets {
            for (message, result) in self
                .link
                .send_many(target, &messages)
                .into_iter()
                .enumerate()
            {
                results[message * targets + target] = result;
            }
        }
        self.batch.clear();
        self.batch_ends.clear();
        results
    }

    /// The destinations' count; [`flush`](Sender::flush)'s results are in this order.
    pub fn destination(&self, target: usize) -> &Destination {
        self.link.destination(target)
    }

    /// The encoded trap to every destination.
    fn send_trap(&self, request_id: Option<i32>) -> Vec<Delivery> {
        (0..self.link.len())
            .map(|target| Delivery {
                destination: self.link.destination(target).clone(),
                request_id,
                attempts: 1,
                result: self.link.send(target, &self.message),
                acknowledged: false,
            })
            .collect()
    }

    fn take_request_id(&mut self) -> i32 {
        let id = self.next_request_id;
        // Request-ids stay positive: some managers mishandle negative ones.
        self.next_request_id = if id == i32::MAX { 1 } else { id + 1 };
        id
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

/// The instant monbridge started, the epoch of `sysUpTime.0`: a manager reads it as the
/// agent's uptime, so it must not restart when a sender is made (the daemon makes new ones
/// on every reload) or count from the first message. `cli::main` fixes it first thing;
/// elsewhere it is the first time anything asks.
pub fn process_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_is_redacted_in_debug() {
        let config = SenderConfig {
            security: Security::V2c {
                community: Community::new("s3cret-community"),
            },
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
            security: Security::V1 {
                community: Community::new("public"),
            },
            notification: NotificationKind::Inform,
            ..SenderConfig::default()
        };
        assert!(matches!(
            Sender::new(config, &[destination]),
            Err(SenderError::InformNeedsV2c)
        ));
    }
}
