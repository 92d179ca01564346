//! SNMPv3 messages (RFC 3412 §6) with USM security parameters (RFC 3414 §2.4) around the
//! same SNMPv2 PDUs v2c carries.
//!
//! Sending: BER(ScopedPDU) → encrypt → message with a zeroed MAC → HMAC → MAC written in
//! place. rasn encodes every part; the outer SEQUENCE is assembled here so that the MAC's
//! offset is known without searching the bytes. Reading: the MAC is checked on the received
//! bytes (found by walking the TLVs, since a peer's BER lengths need not be minimal), then
//! the PDU is decrypted and decoded.

use std::fmt::Write as _;

use rasn::types::{Integer, OctetString};
use rasn_snmp::{v2, v3};

use super::crypto::CryptoError;
use super::keys::LocalizedKeys;
use super::{AuthProtocol, SecurityLevel};
use crate::record::{Oid, Trap};
use crate::sink::snmp::ber::v2_pdus;
use crate::sink::snmp::decode::decode_v2;
use crate::sink::snmp::table::{OidNames, render_pdu};
use crate::sink::snmp::{DecodeError, DecodedMessage, EncodeError, PduKind};

/// `msgVersion` of SNMPv3.
pub const VERSION: i64 = 3;
/// `msgSecurityModel` of USM.
pub const USM_SECURITY_MODEL: i64 = 3;
/// `msgMaxSize` we announce: the largest UDP payload over IPv4, as net-snmp announces.
pub const MAX_MESSAGE_SIZE: i32 = 65_507;
const FLAG_REPORTABLE: u8 = 0x04;

/// `usmStats...` counters (RFC 3414 §5), the first varbind of a Report.
pub const REPORT_COUNTERS: [(&[u32], ReportKind); 6] = [
    (
        &[1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0],
        ReportKind::UnsupportedSecLevel,
    ),
    (
        &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0],
        ReportKind::NotInTimeWindow,
    ),
    (
        &[1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0],
        ReportKind::UnknownUserName,
    ),
    (
        &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0],
        ReportKind::UnknownEngineId,
    ),
    (&[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0], ReportKind::WrongDigest),
    (
        &[1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0],
        ReportKind::DecryptionError,
    ),
];

/// What a Report says went wrong with our message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    UnsupportedSecLevel,
    NotInTimeWindow,
    UnknownUserName,
    UnknownEngineId,
    WrongDigest,
    DecryptionError,
    /// A counter USM does not define (another security model's, or an MPD one).
    Other,
}

impl ReportKind {
    pub fn counter_name(self) -> &'static str {
        match self {
            ReportKind::UnsupportedSecLevel => "usmStatsUnsupportedSecLevels",
            ReportKind::NotInTimeWindow => "usmStatsNotInTimeWindows",
            ReportKind::UnknownUserName => "usmStatsUnknownUserNames",
            ReportKind::UnknownEngineId => "usmStatsUnknownEngineIDs",
            ReportKind::WrongDigest => "usmStatsWrongDigests",
            ReportKind::DecryptionError => "usmStatsDecryptionErrors",
            ReportKind::Other => "another counter",
        }
    }

    fn of(oid: &[u32]) -> ReportKind {
        REPORT_COUNTERS
            .iter()
            .find(|(counter, _)| *counter == oid)
            .map_or(ReportKind::Other, |(_, kind)| *kind)
    }
}

/// Everything about a v3 message that is not the PDU or the keys.
#[derive(Debug, Clone, Copy)]
pub struct V3Envelope<'a> {
    pub message_id: i32,
    /// Informs and discovery probes ask for Reports; traps do not (RFC 3412 §6.4).
    pub reportable: bool,
    /// `msgAuthoritativeEngineID`, boots and time: ours for traps, the manager's for informs.
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub user: &'a [u8],
    pub context_engine_id: &'a [u8],
    pub context_name: &'a [u8],
    /// Privacy salt; must not repeat under one key.
    pub salt: u64,
}

/// A message that could not be built or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("BER encoding failed: {0}")]
    Encode(String),
    #[error("not a BER-encoded SNMPv3 message: {0}")]
    Ber(String),
    #[error("{0} bytes follow the SNMPv3 message")]
    TrailingBytes(usize),
    #[error("SNMP version {0}, not 3")]
    Version(String),
    #[error("security model {0}, not USM (3)")]
    SecurityModel(String),
    #[error("msgFlags {0:#04x} is not a valid security level")]
    Flags(u8),
    #[error("{field} {value} is out of range")]
    OutOfRange { field: &'static str, value: String },
    #[error("an authenticated message for a user without authentication keys")]
    NoAuthKey,
    #[error("an encrypted message for a user without a privacy key")]
    NoPrivKey,
    #[error("the message's MAC is wrong (wrong passphrase or engine ID?)")]
    WrongDigest,
    #[error("msgAuthenticationParameters has {found} octets, {protocol} needs {expected}")]
    MacLength {
        protocol: &'static str,
        found: usize,
        expected: usize,
    },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the decrypted ScopedPDU does not decode (wrong privacy passphrase?): {0}")]
    Decrypted(String),
    #[error("the PDU: {0}")]
    Pdu(#[from] DecodeError),
}

/// Encodes one v3 message around `pdus` into `buffer` (cleared first). The security level is
/// the keys': none, authentication, or authentication and privacy.
pub fn encode_v3_into(
    pdus: v2::Pdus,
    envelope: &V3Envelope<'_>,
    keys: &LocalizedKeys,
    buffer: &mut Vec<u8>,
) -> Result<(), MessageError> {
    let scoped = v3::ScopedPdu {
        engine_id: OctetString::from_slice(envelope.context_engine_id),
        name: OctetString::from_slice(envelope.context_name),
        data: pdus,
    };
    let scoped_bytes =
        rasn::ber::encode(&scoped).map_err(|e| MessageError::Encode(e.to_string()))?;
    let (scoped_data, privacy_parameters) = match (&keys.auth, &keys.privacy) {
        (Some(_), Some(privacy)) => {
            let (ciphertext, salt) =
                privacy.encrypt(&scoped_bytes, envelope.boots, envelope.time, envelope.salt)?;
            let mut tlv = Vec::with_capacity(ciphertext.len() + 4);
            tlv.push(0x04);
            push_length(&mut tlv, ciphertext.len());
            tlv.extend_from_slice(&ciphertext);
            (tlv, OctetString::from_slice(&salt))
        }
        _ => (scoped_bytes, OctetString::from_static(b"")),
    };
    let mac_len = keys.auth.as_ref().map_or(0, |key| key.protocol().mac_len());
    let privacy_len = privacy_parameters.len();
    let usm = v3::USMSecurityParameters {
        authoritative_engine_id: OctetString::from_slice(envelope.engine_id),
        authoritative_engine_boots: Integer::from(envelope.boots),
        authoritative_engine_time: Integer::from(envelope.time),
        user_name: OctetString::from_slice(envelope.user),
        authentication_parameters: OctetString::from(vec![0u8; mac_len]),
        privacy_parameters,
    };
    let usm_bytes = rasn::ber::encode(&usm).map_err(|e| MessageError::Encode(e.to_string()))?;
    let level = keys.level();
    let flags = level.flag_bits()
        | if envelope.reportable {
            FLAG_REPORTABLE
        } else {
            0
        };
    let header = v3::HeaderData {
        message_id: Integer::from(envelope.message_id),
        max_size: Integer::from(MAX_MESSAGE_SIZE),
        flags: OctetString::from_slice(&[flags]),
        security_model: Integer::from(USM_SECURITY_MODEL),
    };
    let header_bytes =
        rasn::ber::encode(&header).map_err(|e| MessageError::Encode(e.to_string()))?;

    let mut usm_tlv_header = vec![0x04];
    push_length(&mut usm_tlv_header, usm_bytes.len());
    let body_len =
        3 + header_bytes.len() + usm_tlv_header.len() + usm_bytes.len() + scoped_data.len();
    buffer.clear();
    buffer.reserve(body_len + 4);
    buffer.push(0x30);
    push_length(buffer, body_len);
    buffer.extend_from_slice(&[0x02, 0x01, VERSION as u8]);
    buffer.extend_from_slice(&header_bytes);
    buffer.extend_from_slice(&usm_tlv_header);
    let usm_start = buffer.len();
    buffer.extend_from_slice(&usm_bytes);
    buffer.extend_from_slice(&scoped_data);
    if let Some(auth) = &keys.auth {
        // The USM SEQUENCE ends with the MAC's content, then the privacy TLV (tag, one length
        // octet, at most 8 octets of salt).
        let mac_end = usm_start + usm_bytes.len() - (2 + privacy_len);
        let mac_start = mac_end - mac_len;
        let mut mac = [0u8; 48];
        auth.sign(buffer, &mut mac[..mac_len]);
        buffer[mac_start..mac_end].copy_from_slice(&mac[..mac_len]);
    }
    Ok(())
}

/// Encodes a notification record as a v3 message: the same PDU as SNMPv2c, then USM.
#[allow(clippy::too_many_arguments)]
pub fn encode_v3_notification(
    trap: &Trap,
    pdu: PduKind,
    request_id: i32,
    uptime: u32,
    envelope: &V3Envelope<'_>,
    keys: &LocalizedKeys,
    buffer: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let pdus = v2_pdus(trap, pdu, request_id, uptime)?;
    encode_v3_into(pdus, envelope, keys, buffer).map_err(|e| EncodeError::V3(e.to_string()))
}

/// [`encode_v3_into`] into a new buffer.
pub fn encode_v3(
    pdus: v2::Pdus,
    envelope: &V3Envelope<'_>,
    keys: &LocalizedKeys,
) -> Result<Vec<u8>, MessageError> {
    let mut buffer = Vec::new();
    encode_v3_into(pdus, envelope, keys, &mut buffer)?;
    Ok(buffer)
}

/// The header and USM fields of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsmHeader {
    pub message_id: i32,
    pub max_size: i32,
    pub level: SecurityLevel,
    pub reportable: bool,
    pub engine_id: Vec<u8>,
    pub boots: u32,
    pub time: u32,
    pub user: Vec<u8>,
    /// Octets of `msgAuthenticationParameters` (the MAC itself is not kept).
    pub mac_len: usize,
    pub privacy_parameters: Vec<u8>,
}

/// A received v3 message: its header, and the ScopedPDU when it could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedV3 {
    pub header: UsmHeader,
    pub context_engine_id: Vec<u8>,
    pub context_name: Vec<u8>,
    pub body: V3Body,
}

/// The PDU of a v3 message.
#[derive(Debug, Clone, PartialEq)]
pub enum V3Body {
    /// A notification or Response, read as SNMPv2 PDUs are (`version` says SNMPv2c, the PDU
    /// format; `community` is empty).
    Pdu(DecodedMessage),
    /// A Report: which counter, its value, and the request-id it echoes.
    Report {
        kind: ReportKind,
        counter: Oid,
        value: Option<u32>,
        request_id: i32,
    },
}

/// Reads the header of a message without checking or decrypting anything: enough to match a
/// Response or Report to what was sent, and to pick the keys.
pub fn peek_header(bytes: &[u8]) -> Result<UsmHeader, MessageError> {
    let (message, _) = parse(bytes)?;
    Ok(message)
}

/// Decodes a message; authenticated ones are checked against `keys` first, encrypted ones
/// decrypted with them.
pub fn decode_v3(bytes: &[u8], keys: &LocalizedKeys) -> Result<DecodedV3, MessageError> {
    let (header, message) = parse(bytes)?;
    if header.level >= SecurityLevel::AuthNoPriv {
        let auth = keys.auth.as_ref().ok_or(MessageError::NoAuthKey)?;
        check_mac(auth.protocol(), header.mac_len)?;
        let (start, end) = mac_span(bytes)?;
        let mut zeroed = bytes.to_vec();
        zeroed[start..end].fill(0);
        if !auth.verify(&zeroed, &bytes[start..end]) {
            return Err(MessageError::WrongDigest);
        }
    }
    let scoped = match message.scoped_data {
        v3::ScopedPduData::CleartextPdu(scoped) => scoped,
        v3::ScopedPduData::EncryptedPdu(ciphertext) => {
            if header.level != SecurityLevel::AuthPriv {
                return Err(MessageError::Ber(
                    "an encrypted PDU in a message without the privacy flag".into(),
                ));
            }
            let privacy = keys.privacy.as_ref().ok_or(MessageError::NoPrivKey)?;
            let plaintext = privacy.decrypt(
                &ciphertext,
                header.boots,
                header.time,
                &header.privacy_parameters,
            )?;
            // DES leaves padding after the ScopedPDU.
            rasn::ber::decode_with_remainder::<v3::ScopedPdu>(&plaintext)
                .map_err(|e| MessageError::Decrypted(e.to_string()))?
                .0
        }
    };
    let body = match scoped.data {
        v2::Pdus::Report(v2::Report(pdu)) => {
            let first = pdu.variable_bindings.first();
            let counter = first.map_or_else(Vec::new, |varbind| varbind.name.to_vec());
            let value = first.and_then(|varbind| match &varbind.value {
                v2::VarBindValue::Value(rasn_smi::v2::ObjectSyntax::ApplicationWide(
                    rasn_smi::v2::ApplicationSyntax::Counter(counter),
                )) => Some(counter.0),
                _ => None,
            });
            V3Body::Report {
                kind: ReportKind::of(&counter),
                counter: Oid::from(counter),
                value,
                request_id: pdu.request_id,
            }
        }
        other => V3Body::Pdu(decode_v2(Vec::new(), other)?),
    };
    Ok(DecodedV3 {
        header,
        context_engine_id: scoped.engine_id.to_vec(),
        context_name: scoped.name.to_vec(),
        body,
    })
}

fn parse(bytes: &[u8]) -> Result<(UsmHeader, v3::Message), MessageError> {
    let (message, rest) = rasn::ber::decode_with_remainder::<v3::Message>(bytes)
        .map_err(|e| MessageError::Ber(e.to_string()))?;
    if !rest.is_empty() {
        return Err(MessageError::TrailingBytes(rest.len()));
    }
    if message.version != Integer::from(VERSION) {
        return Err(MessageError::Version(message.version.to_string()));
    }
    let global = &message.global_data;
    if global.security_model != Integer::from(USM_SECURITY_MODEL) {
        return Err(MessageError::SecurityModel(
            global.security_model.to_string(),
        ));
    }
    let flags = global.flags.first().copied().unwrap_or(0);
    let level = match flags & 0x03 {
        0x00 => SecurityLevel::NoAuthNoPriv,
        0x01 => SecurityLevel::AuthNoPriv,
        0x03 => SecurityLevel::AuthPriv,
        _ => return Err(MessageError::Flags(flags)),
    };
    let usm: v3::USMSecurityParameters = rasn::ber::decode(&message.security_parameters)
        .map_err(|e| MessageError::Ber(format!("msgSecurityParameters: {e}")))?;
    let header = UsmHeader {
        message_id: small("msgID", &global.message_id)?,
        max_size: small("msgMaxSize", &global.max_size)?,
        level,
        reportable: flags & FLAG_REPORTABLE != 0,
        engine_id: usm.authoritative_engine_id.to_vec(),
        boots: small(
            "msgAuthoritativeEngineBoots",
            &usm.authoritative_engine_boots,
        )? as u32,
        time: small("msgAuthoritativeEngineTime", &usm.authoritative_engine_time)? as u32,
        user: usm.user_name.to_vec(),
        mac_len: usm.authentication_parameters.len(),
        privacy_parameters: usm.privacy_parameters.to_vec(),
    };
    Ok((header, message))
}

fn check_mac(protocol: AuthProtocol, found: usize) -> Result<(), MessageError> {
    if found != protocol.mac_len() {
        return Err(MessageError::MacLength {
            protocol: protocol.name(),
            found,
            expected: protocol.mac_len(),
        });
    }
    Ok(())
}

/// A non-negative INTEGER of at most 31 bits, as every v3 header field is.
fn small(field: &'static str, value: &Integer) -> Result<i32, MessageError> {
    i32::try_from(value)
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| MessageError::OutOfRange {
            field,
            value: value.to_string(),
        })
}

/// Where `msgAuthenticationParameters`' content is in a received message: walks message
/// SEQUENCE → version → header → security parameters OCTET STRING → USM SEQUENCE → engine ID,
/// boots, time, user → the MAC.
fn mac_span(bytes: &[u8]) -> Result<(usize, usize), MessageError> {
    let broken = || MessageError::Ber("cannot locate msgAuthenticationParameters".into());
    let (_, outer, _) = read_tlv(bytes, 0).ok_or_else(broken)?;
    let (_, _, after_version) = read_tlv(bytes, outer).ok_or_else(broken)?;
    let (_, _, after_header) = read_tlv(bytes, after_version).ok_or_else(broken)?;
    let (_, usm, _) = read_tlv(bytes, after_header).ok_or_else(broken)?;
    let (_, mut position, _) = read_tlv(bytes, usm).ok_or_else(broken)?;
    for _ in 0..4 {
        position = read_tlv(bytes, position).ok_or_else(broken)?.2;
    }
    let (_, start, end) = read_tlv(bytes, position).ok_or_else(broken)?;
    Ok((start, end))
}

/// One TLV at `at`: (tag, content start, content end). Single-octet tags and definite
/// lengths only, as SNMP uses.
fn read_tlv(bytes: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *bytes.get(at)?;
    let first = *bytes.get(at + 1)? as usize;
    let (length, start) = if first < 0x80 {
        (first, at + 2)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for index in 0..count {
            length = (length << 8) | *bytes.get(at + 2 + index)? as usize;
        }
        (length, at + 2 + count)
    };
    let end = start.checked_add(length)?;
    (end <= bytes.len()).then_some((tag, start, end))
}

/// A BER definite length.
fn push_length(buffer: &mut Vec<u8>, length: usize) {
    if length < 0x80 {
        buffer.push(length as u8);
    } else {
        let octets = length.to_be_bytes();
        let skip = octets.iter().take_while(|b| **b == 0).count();
        buffer.push(0x80 | (octets.len() - skip) as u8);
        buffer.extend_from_slice(&octets[skip..]);
    }
}

/// A v3 message as readable text: header and USM fields, then the PDU's varbind table. The
/// MAC and ciphertext are not shown (they change with every salt and key).
pub fn render_v3(message: &DecodedV3, names: &OidNames) -> String {
    let header = &message.header;
    let mut text = String::new();
    let flags = header.level.flag_bits()
        | if header.reportable {
            FLAG_REPORTABLE
        } else {
            0
        };
    let hex = |bytes: &[u8]| -> String {
        if bytes.is_empty() {
            "(empty)".to_owned()
        } else {
            let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("0x{digits}")
        }
    };
    let lines = [
        ("msgVersion", "3 (SNMPv3)".to_owned()),
        ("msgID", header.message_id.to_string()),
        ("msgMaxSize", header.max_size.to_string()),
        (
            "msgFlags",
            format!(
                "{flags:#04x} ({}{})",
                header.level,
                if header.reportable {
                    ", reportable"
                } else {
                    ""
                }
            ),
        ),
        ("msgSecurityModel", "3 (USM)".to_owned()),
        ("msgAuthoritativeEngineID", hex(&header.engine_id)),
        ("msgAuthoritativeEngineBoots", header.boots.to_string()),
        ("msgAuthoritativeEngineTime", header.time.to_string()),
        (
            "msgUserName",
            format!("{:?}", String::from_utf8_lossy(&header.user)),
        ),
        (
            "msgAuthenticationParameters",
            match header.mac_len {
                0 => "(empty)".to_owned(),
                n => format!("{n} octets (HMAC, verified)"),
            },
        ),
        ("msgPrivacyParameters", hex(&header.privacy_parameters)),
        ("contextEngineID", hex(&message.context_engine_id)),
        (
            "contextName",
            format!("{:?}", String::from_utf8_lossy(&message.context_name)),
        ),
    ];
    let width = lines.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in &lines {
        let _ = writeln!(text, "{key:<width$}  {value}");
    }
    text.push('\n');
    match &message.body {
        V3Body::Pdu(pdu) => text.push_str(&render_pdu(pdu, names)),
        V3Body::Report {
            kind,
            counter,
            value,
            request_id,
        } => {
            let _ = writeln!(
                text,
                "Report (request-id {request_id}): {counter} {} = {}",
                kind.counter_name(),
                value.map_or("?".to_owned(), |v| v.to_string())
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_minimal_ber() {
        let mut buffer = Vec::new();
        push_length(&mut buffer, 5);
        push_length(&mut buffer, 200);
        push_length(&mut buffer, 300);
        assert_eq!(buffer, [0x05, 0x81, 200, 0x82, 0x01, 0x2c]);
        assert_eq!(read_tlv(&[0x04, 0x81, 0x01, 0xaa], 0), Some((0x04, 3, 4)));
        assert_eq!(read_tlv(&[0x04, 0x05, 0xaa], 0), None);
    }
}
