//! BER encoding of a [`Trap`] record as an SNMPv1 or SNMPv2c message: SNMPv1 built from
//! rasn-snmp's ASN.1 types, SNMPv2c written straight into the buffer ([`v2c`]).
//!
//! Request-id and uptime are inputs ([`Envelope`]) so that the same record always gives the
//! same bytes; the [`Sender`](super::Sender) supplies live values.

use std::borrow::Cow;

use rasn::types::{FixedOctetString, Integer, ObjectIdentifier, OctetString};
use rasn_smi::v1 as smi_v1;
use rasn_smi::v2 as smi_v2;
#[cfg(test)]
use rasn_snmp::v2c as rasn_v2c;
use rasn_snmp::{v1, v2};

use super::{PduKind, SnmpVersion};
use crate::record::{Oid, OidError, SnmpValue, Trap, VarBind};

pub(super) mod v2c;

/// `sysUpTime.0` (SNMPv2-MIB), the first varbind of every SNMPv2 notification.
pub const SYS_UP_TIME_0: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// `snmpTrapOID.0` (SNMPv2-MIB), the second varbind: which notification this is.
pub const SNMP_TRAP_OID_0: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];
/// `snmpTraps` (SNMPv2-MIB): the six generic traps of SNMPv1 are its children 1 to 6.
pub(crate) const SNMP_TRAPS: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 5];
/// Longest OCTET STRING sent. PMC-MIB objects are `SnmpAdminString (SIZE (0..255))` and
/// `DisplayString` has the same bound, so a longer value would break the MIB contract.
pub const MAX_OCTET_STRING_LEN: usize = 255;

/// `generic-trap` value of an enterprise-specific SNMPv1 trap.
const ENTERPRISE_SPECIFIC: u32 = 6;

/// Everything about a message that is not in the record.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub version: SnmpVersion,
    /// `Trap` or `InformRequest`; `Response` builds what a manager answers to an inform
    /// (used to play the manager in tests). SNMPv1 only has `Trap`.
    pub pdu: PduKind,
    pub community: &'a [u8],
    /// SNMPv2c only: the v1 Trap-PDU has no request-id.
    pub request_id: i32,
    /// Hundredths of a second since the sender started: `sysUpTime.0` in v2c, `time-stamp` in v1.
    pub uptime: u32,
    /// SNMPv1 only: `agent-addr`, the sender's IPv4 address.
    pub agent_addr: [u8; 4],
}

/// A record that cannot become an SNMP message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("trap OID {oid} is invalid: {reason}")]
    InvalidTrapOid { oid: String, reason: OidError },
    #[error("object {object}: its OID is invalid: {reason}")]
    InvalidObjectOid { object: String, reason: OidError },
    #[error("object {object}: the OBJECT IDENTIFIER value {value} is invalid: {reason}")]
    InvalidOidValue {
        object: String,
        value: String,
        reason: OidError,
    },
    #[error("object {object} is a Counter64, which SNMPv1 cannot carry; send it with SNMPv2c")]
    Counter64InV1 { object: String },
    #[error("trap OID {oid} has no SNMPv1 form: {reason}")]
    NoV1Form { oid: String, reason: &'static str },
    #[error("SNMPv1 has no {pdu} PDU; use SNMPv2c")]
    NoV1Pdu { pdu: &'static str },
    #[error("BER encoding failed: {0}")]
    Ber(String),
    #[error("SNMPv3: {0}")]
    V3(String),
}

/// The SNMPv1 identity of a notification (RFC 3584 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Identity {
    pub enterprise: Oid,
    pub generic_trap: u32,
    pub specific_trap: u32,
}

/// Maps an SNMPv2 notification OID to SNMPv1 `enterprise`, `generic-trap`, `specific-trap`
/// as RFC 3584 §3.2 says: the six standard traps under `snmpTraps` become generic traps 0-5;
/// any other OID becomes generic 6, specific = its last arc, enterprise = the OID without its
/// last arc, and without the next-to-last arc too when that one is 0 (so that `<base>.0.<n>`
/// maps back to the same OID, RFC 3584 §3.1).
pub fn v1_identity(trap_oid: &Oid) -> Result<V1Identity, EncodeError> {
    let arcs = trap_oid.arcs();
    if let Some(&[standard]) = arcs.strip_prefix(SNMP_TRAPS)
        && (1..=6).contains(&standard)
    {
        return Ok(V1Identity {
            enterprise: Oid::from(SNMP_TRAPS),
            generic_trap: standard - 1,
            specific_trap: 0,
        });
    }
    let Some((&specific, rest)) = arcs.split_last() else {
        return Err(no_v1_form(trap_oid, "it is empty"));
    };
    let enterprise = match rest.split_last() {
        Some((0, before_zero)) => before_zero,
        _ => rest,
    };
    if specific > i32::MAX as u32 {
        return Err(no_v1_form(
            trap_oid,
            "its last arc does not fit specific-trap",
        ));
    }
    if enterprise.len() < 2 {
        return Err(no_v1_form(
            trap_oid,
            "the enterprise part is shorter than two arcs",
        ));
    }
    Ok(V1Identity {
        enterprise: Oid::from(enterprise),
        generic_trap: ENTERPRISE_SPECIFIC,
        specific_trap: specific,
    })
}

fn no_v1_form(oid: &Oid, reason: &'static str) -> EncodeError {
    EncodeError::NoV1Form {
        oid: oid.to_string(),
        reason,
    }
}

/// Encodes one notification.
pub fn encode(trap: &Trap, envelope: &Envelope<'_>) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = Vec::new();
    encode_into(trap, envelope, &mut bytes)?;
    Ok(bytes)
}

/// Encodes one notification into `buffer` (cleared first), reusing its allocation.
pub fn encode_into(
    trap: &Trap,
    envelope: &Envelope<'_>,
    buffer: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    buffer.clear();
    let community = OctetString::from_slice(envelope.community);
    let result = match envelope.version {
        SnmpVersion::V2c => return v2c::append(trap, envelope, buffer),
        SnmpVersion::V1 => {
            if envelope.pdu != PduKind::Trap {
                return Err(EncodeError::NoV1Pdu {
                    pdu: envelope.pdu.name(),
                });
            }
            let message = v1::Message {
                version: Integer::from(SnmpVersion::V1.wire_value()),
                community,
                data: v1::Pdus::Trap(v1_trap(trap, envelope)?),
            };
            rasn::ber::encode_buf(&message, buffer)
        }
    };
    result.map_err(|e| EncodeError::Ber(e.to_string()))
}

/// The SNMPv2c message built from rasn-snmp's types, which [`v2c`] must match byte
/// for byte.
#[cfg(test)]
fn encode_v2c_with_rasn(trap: &Trap, envelope: &Envelope<'_>) -> Result<Vec<u8>, EncodeError> {
    let message = rasn_v2c::Message {
        version: Integer::from(SnmpVersion::V2c.wire_value()),
        community: OctetString::from_slice(envelope.community),
        data: v2_pdus(trap, envelope.pdu, envelope.request_id, envelope.uptime)?,
    };
    rasn::ber::encode(&message).map_err(|e| EncodeError::Ber(e.to_string()))
}

/// The SNMPv2 PDU of a notification (`sysUpTime.0`, `snmpTrapOID.0`, then the objects), as
/// SNMPv2c and SNMPv3 messages both carry it.
pub(crate) fn v2_pdus(
    trap: &Trap,
    kind: PduKind,
    request_id: i32,
    uptime: u32,
) -> Result<v2::Pdus, EncodeError> {
    let mut variable_bindings = Vec::with_capacity(trap.varbinds.len() + 2);
    variable_bindings.push(v2::VarBind {
        name: ObjectIdentifier::new_unchecked(Cow::Borrowed(SYS_UP_TIME_0)),
        value: v2::VarBindValue::Value(smi_v2::ObjectSyntax::ApplicationWide(
            smi_v2::ApplicationSyntax::Ticks(smi_v1::TimeTicks(uptime)),
        )),
    });
    let trap_oid = object_identifier(&trap.oid).map_err(|reason| EncodeError::InvalidTrapOid {
        oid: trap.oid.to_string(),
        reason,
    })?;
    variable_bindings.push(v2::VarBind {
        name: ObjectIdentifier::new_unchecked(Cow::Borrowed(SNMP_TRAP_OID_0)),
        value: v2::VarBindValue::Value(smi_v2::ObjectSyntax::Simple(
            smi_v2::SimpleSyntax::ObjectId(trap_oid),
        )),
    });
    for varbind in &trap.varbinds {
        variable_bindings.push(v2::VarBind {
            name: object_name(varbind)?,
            value: v2::VarBindValue::Value(v2_syntax(varbind)?),
        });
    }
    let pdu = v2::Pdu {
        request_id,
        error_status: v2::Pdu::ERROR_STATUS_NO_ERROR,
        error_index: 0,
        variable_bindings,
    };
    Ok(match kind {
        PduKind::Trap => v2::Pdus::Trap(v2::Trap(pdu)),
        PduKind::InformRequest => v2::Pdus::InformRequest(v2::InformRequest(pdu)),
        PduKind::Response => v2::Pdus::Response(v2::Response(pdu)),
    })
}

fn v2_syntax(varbind: &VarBind) -> Result<smi_v2::ObjectSyntax, EncodeError> {
    use smi_v2::{ApplicationSyntax as App, ObjectSyntax, SimpleSyntax as Simple};
    Ok(match &varbind.value {
        SnmpValue::OctetString(bytes) => ObjectSyntax::Simple(Simple::String(
            OctetString::from_slice(fit_octet_string(bytes, varbind)),
        )),
        SnmpValue::Integer(value) => ObjectSyntax::Simple(Simple::Integer(Integer::from(*value))),
        SnmpValue::ObjectId(oid) => {
            ObjectSyntax::Simple(Simple::ObjectId(oid_value(oid, varbind)?))
        }
        // The SMI aliases (`v2::Gauge32`, `v2::TimeTicks`) cannot construct their tuple structs.
        SnmpValue::Gauge32(value) => {
            ObjectSyntax::ApplicationWide(App::Unsigned(smi_v1::Gauge(*value)))
        }
        SnmpValue::Counter32(value) => {
            ObjectSyntax::ApplicationWide(App::Counter(smi_v1::Counter(*value)))
        }
        SnmpValue::Counter64(value) => {
            ObjectSyntax::ApplicationWide(App::BigCounter(smi_v2::Counter64(*value)))
        }
        SnmpValue::TimeTicks(value) => {
            ObjectSyntax::ApplicationWide(App::Ticks(smi_v1::TimeTicks(*value)))
        }
        SnmpValue::IpAddress(octets) => ObjectSyntax::ApplicationWide(App::Address(
            smi_v1::IpAddress(FixedOctetString::from(*octets)),
        )),
    })
}

fn v1_trap(trap: &Trap, envelope: &Envelope<'_>) -> Result<v1::Trap, EncodeError> {
    object_identifier(&trap.oid).map_err(|reason| EncodeError::InvalidTrapOid {
        oid: trap.oid.to_string(),
        reason,
    })?;
    let identity = v1_identity(&trap.oid)?;
    let variable_bindings = trap
        .varbinds
        .iter()
        .map(|varbind| {
            Ok(v1::VarBind {
                name: object_name(varbind)?,
                value: v1_syntax(varbind)?,
            })
        })
        .collect::<Result<Vec<_>, EncodeError>>()?;
    Ok(v1::Trap {
        // v1_identity keeps at least two arcs of a valid OID, so this is valid too.
        enterprise: ObjectIdentifier::new_unchecked(Cow::Owned(
            identity.enterprise.arcs().to_vec(),
        )),
        agent_addr: smi_v1::NetworkAddress::Internet(smi_v1::IpAddress(FixedOctetString::from(
            envelope.agent_addr,
        ))),
        generic_trap: Integer::from(identity.generic_trap),
        specific_trap: Integer::from(identity.specific_trap),
        time_stamp: smi_v1::TimeTicks(envelope.uptime),
        variable_bindings,
    })
}

fn v1_syntax(varbind: &VarBind) -> Result<smi_v1::ObjectSyntax, EncodeError> {
    use smi_v1::{ApplicationSyntax as App, ObjectSyntax, SimpleSyntax as Simple};
    Ok(match &varbind.value {
        SnmpValue::OctetString(bytes) => ObjectSyntax::Simple(Simple::String(
            OctetString::from_slice(fit_octet_string(bytes, varbind)),
        )),
        SnmpValue::Integer(value) => ObjectSyntax::Simple(Simple::Number(Integer::from(*value))),
        SnmpValue::ObjectId(oid) => ObjectSyntax::Simple(Simple::Object(oid_value(oid, varbind)?)),
        SnmpValue::Gauge32(value) => {
            ObjectSyntax::ApplicationWide(App::Gauge(smi_v1::Gauge(*value)))
        }
        SnmpValue::Counter32(value) => {
            ObjectSyntax::ApplicationWide(App::Counter(smi_v1::Counter(*value)))
        }
        SnmpValue::TimeTicks(value) => {
            ObjectSyntax::ApplicationWide(App::Ticks(smi_v1::TimeTicks(*value)))
        }
        SnmpValue::IpAddress(octets) => ObjectSyntax::ApplicationWide(App::Address(
            smi_v1::NetworkAddress::Internet(smi_v1::IpAddress(FixedOctetString::from(*octets))),
        )),
        // RFC 3584 §4.2.2.1: a Counter64 cannot be expressed in SNMPv1.
        SnmpValue::Counter64(_) => {
            return Err(EncodeError::Counter64InV1 {
                object: describe_object(varbind),
            });
        }
    })
}

/// Checks an OID as BER needs it: 2 to 128 arcs, first arc 0-2, second below 40 under 0 and 1
/// (the first two arcs share one subidentifier). The same rules as `Oid::from_str`, for OIDs
/// built in code.
pub(crate) fn check_oid(oid: &Oid) -> Result<(), OidError> {
    match oid.arcs() {
        [] | [_] => Err(OidError::TooShort),
        arcs if arcs.len() > 128 => Err(OidError::TooLong),
        [first, ..] if *first > 2 => Err(OidError::FirstArc(*first)),
        [first, second, ..] if *first < 2 && *second >= 40 => {
            Err(OidError::SecondArc(*first, *second))
        }
        _ => Ok(()),
    }
}

fn object_identifier(oid: &Oid) -> Result<ObjectIdentifier, OidError> {
    check_oid(oid)?;
    Ok(ObjectIdentifier::new_unchecked(Cow::Owned(
        oid.arcs().to_vec(),
    )))
}

fn object_name(varbind: &VarBind) -> Result<ObjectIdentifier, EncodeError> {
    object_identifier(&varbind.oid).map_err(|reason| EncodeError::InvalidObjectOid {
        object: describe_object(varbind),
        reason,
    })
}

fn oid_value(oid: &Oid, varbind: &VarBind) -> Result<ObjectIdentifier, EncodeError> {
    object_identifier(oid).map_err(|reason| EncodeError::InvalidOidValue {
        object: describe_object(varbind),
        value: oid.to_string(),
        reason,
    })
}

fn describe_object(varbind: &VarBind) -> String {
    format!(
        "`{}` (index {}, {})",
        varbind.name, varbind.index, varbind.oid
    )
}

/// Cuts an OCTET STRING to [`MAX_OCTET_STRING_LEN`] bytes. The cut moves back to a UTF-8
/// character boundary so that a manager never displays half a character; bytes that are not
/// UTF-8 are cut at the limit. Logs a warning naming the object, since data is lost.
fn fit_octet_string<'a>(bytes: &'a [u8], varbind: &VarBind) -> &'a [u8] {
    if bytes.len() <= MAX_OCTET_STRING_LEN {
        return bytes;
    }
    let is_continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
    // A UTF-8 character is at most 4 bytes: at most 3 continuation bytes to step over.
    let end = (MAX_OCTET_STRING_LEN - 3..=MAX_OCTET_STRING_LEN)
        .rev()
        .find(|&end| !is_continuation(bytes[end]))
        .unwrap_or(MAX_OCTET_STRING_LEN);
    tracing::warn!(
        object = %varbind.name,
        oid = %varbind.oid,
        length = bytes.len(),
        sent = end,
        "OCTET STRING longer than {MAX_OCTET_STRING_LEN} bytes truncated (the MIB allows 0..255)"
    );
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(text: &str) -> Oid {
        text.parse().unwrap()
    }

    fn string_varbind(value: &[u8]) -> VarBind {
        VarBind {
            index: 1,
            name: "nameGateway".into(),
            oid: oid("1.3.6.1.4.1.39059.1.1.1.1.1"),
            value: SnmpValue::OctetString(value.to_vec()),
        }
    }

    #[test]
    fn v1_identity_follows_rfc_3584() {
        let mapped = v1_identity(&oid("1.3.6.1.4.1.39059.1.0.7")).unwrap();
        assert_eq!(mapped.enterprise, oid("1.3.6.1.4.1.39059.1"));
        assert_eq!((mapped.generic_trap, mapped.specific_trap), (6, 7));

        let no_zero = v1_identity(&oid("1.3.6.1.4.1.39059.3.3")).unwrap();
        assert_eq!(no_zero.enterprise, oid("1.3.6.1.4.1.39059.3"));
        assert_eq!(no_zero.specific_trap, 3);

        let link_down = v1_identity(&oid("1.3.6.1.6.3.1.1.5.3")).unwrap();
        assert_eq!(link_down.enterprise, oid("1.3.6.1.6.3.1.1.5"));
        assert_eq!((link_down.generic_trap, link_down.specific_trap), (2, 0));

        assert!(matches!(
            v1_identity(&oid("1.0.3")),
            Err(EncodeError::NoV1Form { .. })
        ));
        assert!(matches!(
            v1_identity(&oid("1.3.4294967295")),
            Err(EncodeError::NoV1Form { .. })
        ));
    }

    #[test]
    fn long_strings_are_cut_on_a_character_boundary() {
        let ascii = vec![b'a'; 300];
        assert_eq!(fit_octet_string(&ascii, &string_varbind(&ascii)).len(), 255);

        // 'é' is 2 bytes: 127 of them fill 254 bytes, the 128th would straddle the limit.
        let accented = "é".repeat(200).into_bytes();
        let cut = fit_octet_string(&accented, &string_varbind(&accented));
        assert_eq!(cut.len(), 254);
        assert!(std::str::from_utf8(cut).is_ok());

        // '€' is 3 bytes: 85 of them fill exactly 255.
        let euros = "€".repeat(100).into_bytes();
        assert_eq!(fit_octet_string(&euros, &string_varbind(&euros)).len(), 255);

        let binary = vec![0x80; 300];
        assert_eq!(
            fit_octet_string(&binary, &string_varbind(&binary)).len(),
            255
        );

        let exact = vec![b'x'; 255];
        assert_eq!(
            fit_octet_string(&exact, &string_varbind(&exact)),
            &exact[..]
        );
    }

    #[test]
    fn invalid_oids_are_rejected_with_the_object_named() {
        assert_eq!(check_oid(&Oid::from(vec![1])), Err(OidError::TooShort));
        assert_eq!(
            check_oid(&Oid::from(vec![3, 1])),
            Err(OidError::FirstArc(3))
        );
        assert_eq!(
            check_oid(&Oid::from(vec![1, 40])),
            Err(OidError::SecondArc(1, 40))
        );
        assert_eq!(check_oid(&Oid::from(vec![1; 129])), Err(OidError::TooLong));
        assert_eq!(check_oid(&Oid::from(vec![2, 999])), Ok(()));

        let trap = Trap {
            rule: "stateLink".into(),
            oid: oid("1.3.6.1.4.1.39059.1.0.1"),
            varbinds: vec![VarBind {
                oid: Oid::from(vec![1, 3, 6, 1, 4, 1, 39059, 1, 1, 1, 1, 1]),
                value: SnmpValue::ObjectId(Oid::from(vec![7])),
                ..string_varbind(b"")
            }],
        };
        let envelope = Envelope {
            version: SnmpVersion::V2c,
            pdu: PduKind::Trap,
            community: b"public",
            request_id: 1,
            uptime: 0,
            agent_addr: [0; 4],
        };
        let error = encode(&trap, &envelope).unwrap_err();
        assert_eq!(
            error.to_string(),
            "object `nameGateway` (index 1, 1.3.6.1.4.1.39059.1.1.1.1.1): the OBJECT IDENTIFIER \
             value 7 is invalid: an OID needs at least two arcs"
        );
    }
}
