//! The inform engine, one for SNMPv2c and SNMPv3: the inform goes to every destination at
//! once, then the sender waits for all their answers, retransmitting to each destination whose
//! timeout expires, until each has answered or run out of retries (RFC 3416 §4.2.7).
//!
//! SNMPv2c sends the same message to every destination at every attempt and waits for a
//! Response with its request-id. SNMPv3 makes each attempt a new message (new msgID, the
//! manager's current time) for the destination's own engine and keys. A destination whose
//! engine is not known is discovered first (RFC 3414 §4), and the manager's Reports are acted
//! on: out of the time window, resynchronise and start the attempts again; an unknown engine
//! ID, discover it again; an authentication failure ends the delivery as such.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::link::Link;
use super::{Delivery, DeliveryError};
use crate::record::Trap;
use crate::sink::snmp::usm::{
    DecodedV3, LocalizedKeys, ReportKind, SecurityLevel, V3Body, V3Session, decode_v3, peek_header,
};
use crate::sink::snmp::{DecodedMessage, PduKind, decode};

/// SNMPv3: how many time-window or engine-ID Reports one inform may answer with a resend; a
/// manager that keeps sending them must not keep us busy forever.
const MAX_RESYNCHRONISATIONS: u32 = 2;

/// How the messages of one inform are made.
pub(super) enum Messages<'a> {
    /// SNMPv2c: one message, encoded already.
    Community(&'a [u8]),
    /// SNMPv3: a message per attempt and destination.
    Usm {
        session: &'a mut V3Session,
        trap: &'a Trap,
        uptime: u32,
        /// Where each message is encoded.
        buffer: &'a mut Vec<u8>,
    },
}

/// One inform, to every destination of `link`.
pub(super) struct Inform<'a> {
    pub link: &'a mut Link,
    pub messages: Messages<'a>,
    pub request_id: i32,
    /// Retransmissions after the first attempt, in each phase.
    pub retries: u32,
    /// How long to wait for an answer to each attempt.
    pub timeout: Duration,
}

/// One destination's part of the inform.
struct Exchange {
    target: usize,
    phase: Phase,
    /// Datagrams sent to the destination in every phase: the delivery's attempts.
    sent: u32,
    /// Datagrams sent in this phase: the first attempt, then up to `retries` more.
    tries: u32,
    deadline: Instant,
    /// SNMPv3: the msgIDs of this phase's messages; an answer to any of them counts.
    message_ids: Vec<i32>,
    /// SNMPv3: Reports answered with a resend so far.
    resynchronisations: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// SNMPv3: learning the manager's engine ID, boots and time.
    Discovery,
    /// Sending the inform until its Response comes.
    Inform,
}

/// Where an exchange stands after a step.
enum Step {
    /// Waiting for an answer until its deadline.
    Wait,
    Done(Result<(), DeliveryError>),
}

/// An answer that belongs to an exchange.
enum Answer {
    /// SNMPv2c: a Response to the request-id.
    Response(DecodedMessage),
    /// SNMPv3: a Report, or a Response to the request-id, checked with the destination's keys.
    V3(DecodedV3),
}

impl Inform<'_> {
    /// Sends the inform to every destination, then waits for them all: one delivery per
    /// destination, in their order.
    pub(super) fn deliver(mut self) -> Vec<Delivery> {
        let count = self.link.len();
        let mut outcomes: Vec<Option<Delivery>> = vec![None; count];
        let mut pending = Vec::with_capacity(count);
        for target in 0..count {
            let mut exchange = Exchange {
                target,
                phase: Phase::Inform,
                sent: 0,
                tries: 0,
                deadline: Instant::now(),
                message_ids: Vec::new(),
                resynchronisations: 0,
            };
            let step = self.begin(&mut exchange);
            self.settle(exchange, step, &mut pending, &mut outcomes);
        }
        while !pending.is_empty() {
            let now = Instant::now();
            for mut exchange in std::mem::take(&mut pending) {
                if exchange.deadline > now {
                    pending.push(exchange);
                    continue;
                }
                let step = self.expire(&mut exchange);
                self.settle(exchange, step, &mut pending, &mut outcomes);
            }
            let Some(deadline) = pending.iter().map(|e| e.deadline).min() else {
                break;
            };
            let Some((from, length)) = self.link.receive(deadline) else {
                continue;
            };
            let Some((position, answer)) = self.classify(from, length, &pending) else {
                continue;
            };
            let mut exchange = pending.swap_remove(position);
            let step = self.answer(&mut exchange, answer);
            self.settle(exchange, step, &mut pending, &mut outcomes);
        }
        outcomes.into_iter().flatten().collect()
    }

    fn settle(
        &self,
        exchange: Exchange,
        step: Step,
        pending: &mut Vec<Exchange>,
        outcomes: &mut [Option<Delivery>],
    ) {
        match step {
            Step::Wait => pending.push(exchange),
            Step::Done(result) => {
                outcomes[exchange.target] = Some(Delivery {
                    destination: self.link.destination(exchange.target).clone(),
                    request_id: Some(self.request_id),
                    attempts: exchange.sent,
                    acknowledged: result.is_ok(),
                    result,
                });
            }
        }
    }

    /// The first attempt: discovery first for an SNMPv3 destination whose engine is unknown.
    fn begin(&mut self, exchange: &mut Exchange) -> Step {
        match &self.messages {
            Messages::Usm { session, .. } if !session.knows(exchange.target) => {
                self.start(exchange, Phase::Discovery)
            }
            _ => self.start(exchange, Phase::Inform),
        }
    }

    fn start(&mut self, exchange: &mut Exchange, phase: Phase) -> Step {
        exchange.phase = phase;
        exchange.tries = 0;
        exchange.message_ids.clear();
        self.transmit(exchange)
    }

    /// Sends the next attempt of the exchange's phase.
    fn transmit(&mut self, exchange: &mut Exchange) -> Step {
        let message: &[u8] = match &mut self.messages {
            Messages::Community(message) => message,
            Messages::Usm {
                session,
                trap,
                uptime,
                buffer,
            } => {
                let encoded = match exchange.phase {
                    Phase::Discovery => session.encode_discovery(buffer),
                    Phase::Inform => session.encode_inform(
                        exchange.target,
                        trap,
                        self.request_id,
                        *uptime,
                        buffer,
                    ),
                };
                match encoded {
                    Ok(message_id) => exchange.message_ids.push(message_id),
                    Err(error) => {
                        return Step::Done(Err(DeliveryError::Encode(error.to_string())));
                    }
                }
                buffer
            }
        };
        exchange.tries += 1;
        exchange.sent += 1;
        if let Err(error) = self.link.send(exchange.target, message) {
            return Step::Done(Err(error));
        }
        exchange.deadline = Instant::now() + self.timeout;
        Step::Wait
    }

    /// No answer before the deadline: the next attempt, or the end of the phase's retries.
    fn expire(&mut self, exchange: &mut Exchange) -> Step {
        if exchange.tries > self.retries {
            let timeout_ms = self.timeout.as_millis();
            return Step::Done(Err(match exchange.phase {
                Phase::Discovery => DeliveryError::Discovery {
                    attempts: exchange.tries,
                    timeout_ms,
                },
                Phase::Inform => DeliveryError::NoResponse {
                    attempts: exchange.sent,
                    timeout_ms,
                },
            }));
        }
        let what = match (&self.messages, exchange.phase) {
            (_, Phase::Discovery) => "no Report yet: probing the manager's engine again",
            (Messages::Community(_), Phase::Inform) => "no Response yet: retransmitting the inform",
            (Messages::Usm { .. }, Phase::Inform) => {
                "no Response yet: retransmitting the inform as a new message"
            }
        };
        tracing::debug!(
            destination = %self.link.destination(exchange.target),
            request_id = self.request_id,
            attempt = exchange.tries + 1,
            "{what}"
        );
        self.transmit(exchange)
    }

    /// The pending exchange a datagram answers, and the answer; `None` for anything else.
    fn classify(
        &self,
        from: SocketAddr,
        length: usize,
        pending: &[Exchange],
    ) -> Option<(usize, Answer)> {
        if !pending.iter().any(|e| self.link.is_from(e.target, from)) {
            tracing::debug!(%from, "ignoring a datagram from an address that was not asked");
            return None;
        }
        let bytes = self.link.received(length);
        let Messages::Usm { session, .. } = &self.messages else {
            let response = match decode(bytes) {
                Ok(message) if message.pdu == PduKind::Response => message,
                Ok(message) => {
                    tracing::debug!(%from, pdu = message.pdu.name(), "ignoring a datagram that is not a Response");
                    return None;
                }
                Err(error) => {
                    tracing::debug!(%from, "ignoring an undecodable datagram: {error}");
                    return None;
                }
            };
            if response.request_id != Some(self.request_id) {
                tracing::debug!(%from, "ignoring a Response to another request");
                return None;
            }
            let position = pending
                .iter()
                .position(|e| self.link.is_from(e.target, from))?;
            return Some((position, Answer::Response(response)));
        };
        let header = match peek_header(bytes) {
            Ok(header) => header,
            Err(error) => {
                tracing::debug!(%from, "ignoring a datagram that is not SNMPv3: {error}");
                return None;
            }
        };
        let Some(position) = pending.iter().position(|e| {
            self.link.is_from(e.target, from) && e.message_ids.contains(&header.message_id)
        }) else {
            tracing::debug!(%from, "ignoring an answer to another message");
            return None;
        };
        let exchange = &pending[position];
        let none = LocalizedKeys::none();
        let keys = match header.level {
            SecurityLevel::NoAuthNoPriv => &none,
            _ => match session.remote_keys(exchange.target) {
                Some(keys) => keys,
                None => {
                    tracing::debug!(%from, "ignoring an authenticated answer before discovery");
                    return None;
                }
            },
        };
        match decode_v3(bytes, keys) {
            Ok(message) => match &message.body {
                V3Body::Report { .. } => Some((position, Answer::V3(message))),
                V3Body::Pdu(pdu)
                    if exchange.phase == Phase::Inform
                        && pdu.pdu == PduKind::Response
                        && pdu.request_id == Some(self.request_id) =>
                {
                    Some((position, Answer::V3(message)))
                }
                V3Body::Pdu(pdu) => {
                    tracing::debug!(%from, pdu = pdu.pdu.name(), "ignoring a PDU that answers nothing we asked");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(%from, "ignoring an SNMPv3 answer that does not check out: {error}");
                None
            }
        }
    }

    fn answer(&mut self, exchange: &mut Exchange, answer: Answer) -> Step {
        let message = match answer {
            Answer::Response(response) => {
                return Step::Done(status(response.error_status, response.error_index));
            }
            Answer::V3(message) => message,
        };
        let Messages::Usm { session, .. } = &mut self.messages else {
            // `classify` makes SNMPv3 answers for SNMPv3 informs only.
            return Step::Wait;
        };
        let target = exchange.target;
        match (exchange.phase, message.body) {
            (Phase::Discovery, _) if message.header.engine_id.is_empty() => {
                // Not a usable answer: the next probe, as when none comes.
                self.expire(exchange)
            }
            (Phase::Discovery, _) => {
                tracing::debug!(
                    destination = %self.link.destination(target),
                    engine_id = %hex(&message.header.engine_id),
                    boots = message.header.boots,
                    time = message.header.time,
                    "discovered the manager's SNMP engine"
                );
                if let Err(error) = session.learn(target, &message.header) {
                    return Step::Done(Err(DeliveryError::Encode(error.to_string())));
                }
                self.start(exchange, Phase::Inform)
            }
            // `classify` passes only Responses to this request-id.
            (Phase::Inform, V3Body::Pdu(response)) => {
                // An authenticated message from the authoritative engine refreshes our notion
                // of its clock (RFC 3414 §3.2 step 7b).
                if let Err(error) = session.learn(target, &message.header) {
                    tracing::debug!("cannot refresh the manager's engine time: {error}");
                }
                Step::Done(status(response.error_status, response.error_index))
            }
            (Phase::Inform, V3Body::Report { kind, .. }) => {
                // Only an authenticated Report may move our notion of the manager's clock, or
                // anyone could make us send stale messages.
                let resynchronise = exchange.resynchronisations < MAX_RESYNCHRONISATIONS
                    && match kind {
                        ReportKind::NotInTimeWindow => {
                            message.header.level != SecurityLevel::NoAuthNoPriv
                        }
                        ReportKind::UnknownEngineId => true,
                        _ => false,
                    };
                if !resynchronise {
                    return Step::Done(Err(rejection(kind)));
                }
                exchange.resynchronisations += 1;
                tracing::info!(
                    destination = %self.link.destination(target),
                    report = kind.counter_name(),
                    boots = message.header.boots,
                    time = message.header.time,
                    "resynchronising with the manager's engine"
                );
                if kind == ReportKind::NotInTimeWindow {
                    if let Err(error) = session.learn(target, &message.header) {
                        return Step::Done(Err(DeliveryError::Encode(error.to_string())));
                    }
                    self.start(exchange, Phase::Inform)
                } else {
                    // Another engine ID answers there now: discover it again.
                    session.forget(target);
                    self.start(exchange, Phase::Discovery)
                }
            }
        }
    }
}

/// A Response's outcome.
fn status(error_status: u32, error_index: u32) -> Result<(), DeliveryError> {
    match error_status {
        0 => Ok(()),
        status => Err(DeliveryError::ErrorStatus {
            status,
            index: error_index,
        }),
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
