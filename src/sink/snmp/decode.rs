//! Decoding of the messages monbridge exchanges (v1 Trap, v2c Trap, InformRequest and the
//! manager's Response) into a plain [`DecodedMessage`]: for tests, for the readable rendering,
//! and for the inform sender to read Responses.

use rasn::types::{Any, Integer, ObjectIdentifier};
use rasn_smi::v1 as smi_v1;
use rasn_smi::v2 as smi_v2;
use rasn_snmp::{v1, v2, v2c};

use super::ber::{SNMP_TRAP_OID_0, SNMP_TRAPS, SYS_UP_TIME_0};
use super::{PduKind, SnmpVersion};
use crate::record::{Oid, SnmpValue};

/// One SNMP message, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMessage {
    pub version: SnmpVersion,
    pub community: Vec<u8>,
    pub pdu: PduKind,
    /// `None` for a v1 Trap-PDU, which has no request-id.
    pub request_id: Option<i32>,
    /// Always 0 in notifications; a manager may set it in a Response.
    pub error_status: u32,
    pub error_index: u32,
    /// `sysUpTime.0` (v2c) or `time-stamp` (v1). `None` only for a Response that does not
    /// echo the inform's varbinds.
    pub uptime: Option<u32>,
    /// `snmpTrapOID.0` (v2c), or the OID RFC 3584 §3.1 derives from a v1 trap's identity.
    pub trap_oid: Option<Oid>,
    /// The objects after `sysUpTime.0` and `snmpTrapOID.0`, in message order.
    pub varbinds: Vec<(Oid, SnmpValue)>,
    /// The identity fields of a v1 Trap-PDU.
    pub v1: Option<V1Header>,
}

/// The fields only a v1 Trap-PDU has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Header {
    pub enterprise: Oid,
    pub agent_addr: [u8; 4],
    pub generic_trap: u32,
    pub specific_trap: u32,
}

/// Bytes that are not a message of the kinds monbridge exchanges.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a BER-encoded SNMP message: {0}")]
    Ber(String),
    #[error("{0} bytes follow the SNMP message")]
    TrailingBytes(usize),
    #[error("SNMP version {0} is not supported (0 = SNMPv1 and 1 = SNMPv2c are)")]
    Version(String),
    #[error("{0} PDU: not part of a notification exchange")]
    UnexpectedPdu(&'static str),
    #[error("{field} {value} is out of range")]
    OutOfRange { field: &'static str, value: String },
    #[error("varbind {position} ({oid}): {problem}")]
    Value {
        position: usize,
        oid: String,
        problem: &'static str,
    },
    #[error("{pdu}: varbind {position} must be {expected}")]
    MissingHeader {
        pdu: &'static str,
        position: usize,
        expected: &'static str,
    },
}

/// Decodes one datagram.
pub fn decode(bytes: &[u8]) -> Result<DecodedMessage, DecodeError> {
    // The version decides how to read the PDU, so the PDU is first kept as raw BER.
    let (message, rest) = rasn::ber::decode_with_remainder::<v2c::Message<Any>>(bytes)
        .map_err(|e| DecodeError::Ber(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    let community = message.community.to_vec();
    let version = message.version;
    if version == Integer::from(SnmpVersion::V2c.wire_value()) {
        let pdus: v2::Pdus = rasn::ber::decode(message.data.as_bytes())
            .map_err(|e| DecodeError::Ber(e.to_string()))?;
        decode_v2(community, pdus)
    } else if version == Integer::from(SnmpVersion::V1.wire_value()) {
        let pdus: v1::Pdus = rasn::ber::decode(message.data.as_bytes())
            .map_err(|e| DecodeError::Ber(e.to_string()))?;
        decode_v1(community, pdus)
    } else {
        Err(DecodeError::Version(version.to_string()))
    }
}

pub(crate) fn decode_v2(community: Vec<u8>, pdus: v2::Pdus) -> Result<DecodedMessage, DecodeError> {
    let (pdu, kind) = match pdus {
        v2::Pdus::Trap(v2::Trap(pdu)) => (pdu, PduKind::Trap),
        v2::Pdus::InformRequest(v2::InformRequest(pdu)) => (pdu, PduKind::InformRequest),
        v2::Pdus::Response(v2::Response(pdu)) => (pdu, PduKind::Response),
        v2::Pdus::GetRequest(_) => return Err(DecodeError::UnexpectedPdu("GetRequest")),
        v2::Pdus::GetNextRequest(_) => return Err(DecodeError::UnexpectedPdu("GetNextRequest")),
        v2::Pdus::SetRequest(_) => return Err(DecodeError::UnexpectedPdu("SetRequest")),
        v2::Pdus::GetBulkRequest(_) => return Err(DecodeError::UnexpectedPdu("GetBulkRequest")),
        v2::Pdus::Report(_) => return Err(DecodeError::UnexpectedPdu("Report")),
    };
    let mut varbinds = pdu
        .variable_bindings
        .into_iter()
        .enumerate()
        .map(|(position, varbind)| {
            let oid = Oid::from(&varbind.name[..]);
            let value = match varbind.value {
                v2::VarBindValue::Value(syntax) => v2_value(syntax),
                v2::VarBindValue::Unspecified => Err("NULL (unSpecified) value"),
                v2::VarBindValue::NoSuchObject => Err("noSuchObject exception"),
                v2::VarBindValue::NoSuchInstance => Err("noSuchInstance exception"),
                v2::VarBindValue::EndOfMibView => Err("endOfMibView exception"),
            }
            .map_err(|problem| DecodeError::Value {
                position: position + 1,
                oid: oid.to_string(),
                problem,
            })?;
            Ok((oid, value))
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;

    let header = match varbinds.as_slice() {
        [
            (uptime_name, SnmpValue::TimeTicks(uptime)),
            (trap_oid_name, SnmpValue::ObjectId(trap_oid)),
            ..,
        ] if uptime_name.arcs() == SYS_UP_TIME_0 && trap_oid_name.arcs() == SNMP_TRAP_OID_0 => {
            Some((*uptime, trap_oid.clone()))
        }
        _ => None,
    };
    let (uptime, trap_oid) = match header {
        Some((uptime, trap_oid)) => {
            varbinds.drain(..2);
            (Some(uptime), Some(trap_oid))
        }
        // RFC 3416 §4.2.6-4.2.7: notifications must start with these two; a Response echoes
        // them, but a lax manager may not, and its Response still acknowledges the inform.
        None if kind == PduKind::Response => (None, None),
        None => {
            let first_ok = matches!(varbinds.first(),
                Some((name, SnmpValue::TimeTicks(_))) if name.arcs() == SYS_UP_TIME_0);
            return Err(DecodeError::MissingHeader {
                pdu: kind.name(),
                position: if first_ok { 2 } else { 1 },
                expected: if first_ok {
                    "snmpTrapOID.0 (OBJECT IDENTIFIER)"
                } else {
                    "sysUpTime.0 (TimeTicks)"
                },
            });
        }
    };
    Ok(DecodedMessage {
        version: SnmpVersion::V2c,
        community,
        pdu: kind,
        request_id: Some(pdu.request_id),
        error_status: pdu.error_status,
        error_index: pdu.error_index,
        uptime,
        trap_oid,
        varbinds,
        v1: None,
    })
}

fn v2_value(syntax: smi_v2::ObjectSyntax) -> Result<SnmpValue, &'static str> {
    use smi_v2::{ApplicationSyntax as App, ObjectSyntax, SimpleSyntax as Simple};
    Ok(match syntax {
        ObjectSyntax::Simple(Simple::Integer(value)) => SnmpValue::Integer(
            i32::try_from(&value).map_err(|_| "INTEGER outside the Integer32 range")?,
        ),
        ObjectSyntax::Simple(Simple::String(bytes)) => SnmpValue::OctetString(bytes.to_vec()),
        ObjectSyntax::Simple(Simple::ObjectId(oid)) => SnmpValue::ObjectId(oid_of(&oid)),
        ObjectSyntax::ApplicationWide(App::Address(address)) => SnmpValue::IpAddress(*address.0),
        ObjectSyntax::ApplicationWide(App::Counter(counter)) => SnmpValue::Counter32(counter.0),
        ObjectSyntax::ApplicationWide(App::Ticks(ticks)) => SnmpValue::TimeTicks(ticks.0),
        ObjectSyntax::ApplicationWide(App::BigCounter(counter)) => SnmpValue::Counter64(counter.0),
        ObjectSyntax::ApplicationWide(App::Unsigned(gauge)) => SnmpValue::Gauge32(gauge.0),
        ObjectSyntax::ApplicationWide(App::Arbitrary(_)) => return Err("Opaque value"),
    })
}

fn decode_v1(community: Vec<u8>, pdus: v1::Pdus) -> Result<DecodedMessage, DecodeError> {
    let trap = match pdus {
        v1::Pdus::Trap(trap) => trap,
        v1::Pdus::GetRequest(_) => return Err(DecodeError::UnexpectedPdu("GetRequest")),
        v1::Pdus::GetNextRequest(_) => return Err(DecodeError::UnexpectedPdu("GetNextRequest")),
        v1::Pdus::GetResponse(_) => return Err(DecodeError::UnexpectedPdu("GetResponse")),
        v1::Pdus::SetRequest(_) => return Err(DecodeError::UnexpectedPdu("SetRequest")),
    };
    let smi_v1::NetworkAddress::Internet(agent_addr) = trap.agent_addr;
    let header = V1Header {
        enterprise: oid_of(&trap.enterprise),
        agent_addr: *agent_addr.0,
        generic_trap: small_unsigned("generic-trap", &trap.generic_trap)?,
        specific_trap: small_unsigned("specific-trap", &trap.specific_trap)?,
    };
    let varbinds = trap
        .variable_bindings
        .into_iter()
        .enumerate()
        .map(|(position, varbind)| {
            let oid = Oid::from(&varbind.name[..]);
            let value = v1_value(varbind.value).map_err(|problem| DecodeError::Value {
                position: position + 1,
                oid: oid.to_string(),
                problem,
            })?;
            Ok((oid, value))
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    Ok(DecodedMessage {
        version: SnmpVersion::V1,
        community,
        pdu: PduKind::Trap,
        request_id: None,
        error_status: 0,
        error_index: 0,
        uptime: Some(trap.time_stamp.0),
        trap_oid: Some(trap_oid_from_v1(&header)),
        varbinds,
        v1: Some(header),
    })
}

fn v1_value(syntax: smi_v1::ObjectSyntax) -> Result<SnmpValue, &'static str> {
    use smi_v1::{ApplicationSyntax as App, NetworkAddress, ObjectSyntax, SimpleSyntax as Simple};
    Ok(match syntax {
        ObjectSyntax::Simple(Simple::Number(value)) => SnmpValue::Integer(
            i32::try_from(&value).map_err(|_| "INTEGER outside the Integer32 range")?,
        ),
        ObjectSyntax::Simple(Simple::String(bytes)) => SnmpValue::OctetString(bytes.to_vec()),
        ObjectSyntax::Simple(Simple::Object(oid)) => SnmpValue::ObjectId(oid_of(&oid)),
        ObjectSyntax::Simple(Simple::Empty) => return Err("NULL value"),
        ObjectSyntax::ApplicationWide(App::Address(NetworkAddress::Internet(address))) => {
            SnmpValue::IpAddress(*address.0)
        }
        ObjectSyntax::ApplicationWide(App::Counter(counter)) => SnmpValue::Counter32(counter.0),
        ObjectSyntax::ApplicationWide(App::Gauge(gauge)) => SnmpValue::Gauge32(gauge.0),
        ObjectSyntax::ApplicationWide(App::Ticks(ticks)) => SnmpValue::TimeTicks(ticks.0),
        ObjectSyntax::ApplicationWide(App::Arbitrary(_)) => return Err("Opaque value"),
    })
}

/// The SNMPv2 notification OID of a v1 trap (RFC 3584 §3.1): generic traps 0-5 are
/// `snmpTraps.(generic+1)`; an enterprise-specific trap is `enterprise.0.specific`.
pub fn trap_oid_from_v1(header: &V1Header) -> Oid {
    if header.generic_trap < 6 {
        let mut arcs = SNMP_TRAPS.to_vec();
        arcs.push(header.generic_trap + 1);
        Oid::from(arcs)
    } else {
        let mut arcs = header.enterprise.arcs().to_vec();
        arcs.extend([0, header.specific_trap]);
        Oid::from(arcs)
    }
}

fn oid_of(oid: &ObjectIdentifier) -> Oid {
    Oid::from(&oid[..])
}

fn small_unsigned(field: &'static str, value: &Integer) -> Result<u32, DecodeError> {
    u32::try_from(value).map_err(|_| DecodeError::OutOfRange {
        field,
        value: value.to_string(),
    })
}
