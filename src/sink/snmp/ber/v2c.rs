//! SNMPv2c messages written straight into a byte buffer.
//!
//! A v2c notification has one fixed shape (RFC 3416: version, community, PDU with request-id,
//! two zeros and the varbinds), so its BER is written here in one pass over the record with
//! no intermediate values: the varbinds first, each OID encoded once on the stack, then the
//! headers in front of them, whose lengths are known by then. Building rasn-snmp's message
//! first cost a copy of every OID and OCTET STRING per notification, on the path every trap
//! takes. The bytes are the same as rasn's: tests compare both encodings of every example.

use super::{
    EncodeError, Envelope, SNMP_TRAP_OID_0, SYS_UP_TIME_0, check_oid, describe_object,
    fit_octet_string,
};
use crate::record::{SnmpValue, Trap, VarBind};
use crate::sink::snmp::PduKind;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;
const IP_ADDRESS: u8 = 0x40;
const COUNTER32: u8 = 0x41;
const GAUGE32: u8 = 0x42;
const TIME_TICKS: u8 = 0x43;
const COUNTER64: u8 = 0x46;

/// Appends the SNMPv2c message of `trap` to `out`; on an error `out` is left as it was.
/// Checks the record (and logs a cut OCTET STRING) in the same order as the rasn-based
/// encoding, so errors and warnings are the same.
pub(in crate::sink::snmp) fn append(
    trap: &Trap,
    envelope: &Envelope<'_>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    check_oid(&trap.oid).map_err(|reason| EncodeError::InvalidTrapOid {
        oid: trap.oid.to_string(),
        reason,
    })?;
    let start = out.len();
    put_binding(
        out,
        &EncodedOid::new(SYS_UP_TIME_0),
        TIME_TICKS,
        unsigned(envelope.uptime.into()).bytes(),
    );
    put_binding(
        out,
        &EncodedOid::new(SNMP_TRAP_OID_0),
        OBJECT_IDENTIFIER,
        EncodedOid::new(trap.oid.arcs()).bytes(),
    );
    for varbind in &trap.varbinds {
        if let Err(error) = put_varbind(out, varbind) {
            out.truncate(start);
            return Err(error);
        }
    }

    // What goes in front of the varbinds, now that their length is known.
    let bindings = out.len() - start;
    let request_id = signed(envelope.request_id.into());
    let community = envelope.community;
    let pdu = tlv_len(request_id.len()) + 2 * tlv_len(1) + tlv_len(bindings);
    let message = tlv_len(1) + tlv_len(community.len()) + tlv_len(pdu);
    let front = tlv_len(message) - bindings;
    out.resize(start + front + bindings, 0);
    out.copy_within(start..start + bindings, start + front);
    let mut head = Cursor {
        buffer: &mut out[start..start + front],
        at: 0,
    };
    head.header(SEQUENCE, message);
    head.put(&[INTEGER, 1, 1]);
    head.header(OCTET_STRING, community.len());
    head.put(community);
    head.header(
        match envelope.pdu {
            PduKind::Response => 0xa2,
            PduKind::InformRequest => 0xa6,
            PduKind::Trap => 0xa7,
        },
        pdu,
    );
    head.header(INTEGER, request_id.len());
    head.put(request_id.bytes());
    // error-status and error-index: noError, 0.
    head.put(&[INTEGER, 1, 0, INTEGER, 1, 0]);
    head.header(SEQUENCE, bindings);
    debug_assert_eq!(head.at, front);
    Ok(())
}

fn put_varbind(out: &mut Vec<u8>, varbind: &VarBind) -> Result<(), EncodeError> {
    check_oid(&varbind.oid).map_err(|reason| EncodeError::InvalidObjectOid {
        object: describe_object(varbind),
        reason,
    })?;
    let name = EncodedOid::new(varbind.oid.arcs());
    match &varbind.value {
        SnmpValue::OctetString(bytes) => {
            put_binding(out, &name, OCTET_STRING, fit_octet_string(bytes, varbind));
        }
        SnmpValue::ObjectId(oid) => {
            check_oid(oid).map_err(|reason| EncodeError::InvalidOidValue {
                object: describe_object(varbind),
                value: oid.to_string(),
                reason,
            })?;
            put_binding(
                out,
                &name,
                OBJECT_IDENTIFIER,
                EncodedOid::new(oid.arcs()).bytes(),
            );
        }
        SnmpValue::Integer(value) => {
            put_binding(out, &name, INTEGER, signed((*value).into()).bytes());
        }
        SnmpValue::Gauge32(value) => {
            put_binding(out, &name, GAUGE32, unsigned((*value).into()).bytes());
        }
        SnmpValue::Counter32(value) => {
            put_binding(out, &name, COUNTER32, unsigned((*value).into()).bytes());
        }
        SnmpValue::Counter64(value) => {
            put_binding(out, &name, COUNTER64, unsigned(*value).bytes());
        }
        SnmpValue::TimeTicks(value) => {
            put_binding(out, &name, TIME_TICKS, unsigned((*value).into()).bytes());
        }
        SnmpValue::IpAddress(octets) => put_binding(out, &name, IP_ADDRESS, octets),
    }
    Ok(())
}

/// Writes one VarBind: the SEQUENCE, the name, the value (tag and content).
fn put_binding(out: &mut Vec<u8>, name: &EncodedOid, tag: u8, value: &[u8]) {
    let name = name.bytes();
    header(out, SEQUENCE, tlv_len(name.len()) + tlv_len(value.len()));
    header(out, OBJECT_IDENTIFIER, name.len());
    out.extend_from_slice(name);
    header(out, tag, value.len());
    out.extend_from_slice(value);
}

/// The content octets of an OID that `check_oid` accepted (2 to 128 arcs, the first two
/// sharing one subidentifier), on the stack when short.
enum EncodedOid {
    Short { bytes: [u8; SHORT_OID], len: usize },
    Long(Vec<u8>),
}

/// Content octets kept on the stack: enough for 24 arcs of any size.
const SHORT_OID: usize = 128;
/// The most octets one subidentifier takes: `40 * 2 + u32::MAX` needs 35 bits.
const SUBIDENTIFIER_MAX: usize = 5;

impl EncodedOid {
    fn new(arcs: &[u32]) -> EncodedOid {
        let (first, rest) = match arcs {
            [first, second, rest @ ..] => (u64::from(*first) * 40 + u64::from(*second), rest),
            // Not reached for a checked OID; encoded as its single subidentifier.
            [only] => (u64::from(*only), &[][..]),
            [] => (0, &[][..]),
        };
        if (rest.len() + 1) * SUBIDENTIFIER_MAX <= SHORT_OID {
            let mut bytes = [0; SHORT_OID];
            let mut len = put_subidentifier(&mut bytes, 0, first);
            for &arc in rest {
                len = put_subidentifier(&mut bytes, len, arc.into());
            }
            return EncodedOid::Short { bytes, len };
        }
        let mut bytes = vec![0; (rest.len() + 1) * SUBIDENTIFIER_MAX];
        let mut len = put_subidentifier(&mut bytes, 0, first);
        for &arc in rest {
            len = put_subidentifier(&mut bytes, len, arc.into());
        }
        bytes.truncate(len);
        EncodedOid::Long(bytes)
    }

    fn bytes(&self) -> &[u8] {
        match self {
            EncodedOid::Short { bytes, len } => &bytes[..*len],
            EncodedOid::Long(bytes) => bytes,
        }
    }
}

/// Writes `value` in base 128, high bit set on all but the last octet; returns the end.
fn put_subidentifier(bytes: &mut [u8], at: usize, value: u64) -> usize {
    if value < 0x80 {
        bytes[at] = value as u8;
        return at + 1;
    }
    let len = (64 - value.leading_zeros() as usize).div_ceil(7);
    for (i, slot) in bytes[at..at + len].iter_mut().enumerate() {
        let shift = 7 * (len - 1 - i);
        let continues = if i + 1 < len { 0x80 } else { 0 };
        *slot = continues | ((value >> shift) & 0x7f) as u8;
    }
    at + len
}

/// A number's content octets: the shortest two's-complement form, at the end of `bytes`.
struct Number {
    bytes: [u8; 9],
    start: usize,
}

impl Number {
    fn bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn len(&self) -> usize {
        9 - self.start
    }
}

fn signed(value: i64) -> Number {
    let mut bytes = [0; 9];
    bytes[1..].copy_from_slice(&value.to_be_bytes());
    bytes[0] = if value < 0 { 0xff } else { 0 };
    shortest(bytes)
}

fn unsigned(value: u64) -> Number {
    let mut bytes = [0; 9];
    bytes[1..].copy_from_slice(&value.to_be_bytes());
    shortest(bytes)
}

/// Drops leading octets that only repeat the sign of the next one.
fn shortest(bytes: [u8; 9]) -> Number {
    let mut start = 0;
    while start < 8
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    Number { bytes, start }
}

/// Tag, length and content octets of a value with `content` content octets.
fn tlv_len(content: usize) -> usize {
    let length = if content < 0x80 {
        1
    } else {
        1 + (usize::BITS - content.leading_zeros()).div_ceil(8) as usize
    };
    1 + length + content
}

fn header(out: &mut Vec<u8>, tag: u8, content: usize) {
    if content < 0x80 {
        out.extend_from_slice(&[tag, content as u8]);
        return;
    }
    let mut head = [0; 10];
    let len = write_header(&mut head, tag, content);
    out.extend_from_slice(&head[..len]);
}

/// Writes a tag and a definite length in its shortest form; returns the octets written.
fn write_header(head: &mut [u8], tag: u8, content: usize) -> usize {
    head[0] = tag;
    if content < 0x80 {
        head[1] = content as u8;
        return 2;
    }
    let octets = (usize::BITS - content.leading_zeros()).div_ceil(8) as usize;
    head[1] = 0x80 | octets as u8;
    for (i, slot) in head[2..2 + octets].iter_mut().enumerate() {
        *slot = (content >> (8 * (octets - 1 - i))) as u8;
    }
    2 + octets
}

/// Writes into a slice sized beforehand.
struct Cursor<'a> {
    buffer: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buffer[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }

    fn header(&mut self, tag: u8, content: usize) {
        self.at += write_header(&mut self.buffer[self.at..], tag, content);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::super::{encode, encode_v2c_with_rasn};
    use super::*;
    use crate::lang::{LoadOptions, Params, RuleSet};
    use crate::record::{Oid, VarBind};
    use crate::sink::snmp::SnmpVersion;

    fn envelope(pdu: PduKind, community: &[u8], request_id: i32, uptime: u32) -> Envelope<'_> {
        Envelope {
            version: SnmpVersion::V2c,
            pdu,
            community,
            request_id,
            uptime,
            agent_addr: [0; 4],
        }
    }

    /// Both encodings of `trap`, in every PDU and at the edges of each length and number.
    fn assert_same_bytes(trap: &Trap) {
        let long_community = vec![b'c'; 200];
        for pdu in [PduKind::Trap, PduKind::InformRequest, PduKind::Response] {
            for community in [&b"public"[..], b"", &long_community] {
                for request_id in [0, 1, -1, 127, 128, -128, -129, 4242, i32::MIN, i32::MAX] {
                    for uptime in [0, 127, 128, 12345, 0x7fff_ffff, u32::MAX] {
                        let envelope = envelope(pdu, community, request_id, uptime);
                        assert_eq!(
                            encode(trap, &envelope),
                            encode_v2c_with_rasn(trap, &envelope),
                            "{} {pdu:?} request-id {request_id} uptime {uptime}",
                            trap.rule
                        );
                    }
                }
            }
        }
    }

    fn files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                found.push(path);
            }
        }
    }

    #[test]
    fn every_example_and_fixture_encodes_as_rasn_does() {
        let rules = RuleSet::load(&LoadOptions {
            dir: None,
            env: [("hostname".to_owned(), "gw-poste-1".to_owned())].into(),
        })
        .unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("examples/audits"), &mut paths);
        files(&root.join("tests/fixtures/fledge"), &mut paths);
        let mut traps = 0;
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            for audit in crate::source::audit::decode_input(&bytes)
                .into_iter()
                .flatten()
            {
                for trap in rules.traps(&audit, &Params::new()).into_iter().flatten() {
                    assert_same_bytes(&trap);
                    traps += 1;
                }
            }
        }
        assert!(traps >= 40, "only {traps} traps made of the examples");
    }

    #[test]
    fn invalid_records_fail_as_with_rasn() {
        let good = Oid::from(vec![1, 3, 6, 1, 4, 1, 39059, 1, 1, 1]);
        let varbind = |oid: Oid, value: SnmpValue| VarBind {
            index: 2,
            name: "nameLink".into(),
            oid,
            value,
        };
        let traps = [
            (Oid::from(vec![1]), vec![]),
            (
                good.clone(),
                vec![varbind(Oid::from(vec![3, 1]), SnmpValue::Integer(1))],
            ),
            (
                good.clone(),
                vec![
                    varbind(good.clone(), SnmpValue::Integer(1)),
                    varbind(good.clone(), SnmpValue::ObjectId(Oid::from(vec![1, 40]))),
                ],
            ),
        ];
        for (oid, varbinds) in traps {
            let trap = Trap {
                rule: "broken".into(),
                oid,
                varbinds,
            };
            let envelope = envelope(PduKind::Trap, b"public", 1, 1);
            let ours = encode(&trap, &envelope);
            assert!(ours.is_err());
            assert_eq!(ours, encode_v2c_with_rasn(&trap, &envelope));
            // What was queued before stays as it was.
            let mut queued = b"earlier".to_vec();
            assert!(append(&trap, &envelope, &mut queued).is_err());
            assert_eq!(queued, b"earlier");
        }
    }

    fn arb_oid() -> impl Strategy<Value = Oid> {
        (
            0u32..3,
            0u32..40,
            prop::collection::vec(any::<u32>(), 0..40),
        )
            .prop_map(|(first, second, rest)| {
                let second = if first == 2 {
                    second * 1000 + second
                } else {
                    second
                };
                let mut arcs = vec![first, second];
                arcs.extend(rest);
                Oid::from(arcs)
            })
    }

    fn arb_value() -> impl Strategy<Value = SnmpValue> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300).prop_map(SnmpValue::OctetString),
            "[a-zé€]{0,140}".prop_map(|text| SnmpValue::OctetString(text.into_bytes())),
            any::<i32>().prop_map(SnmpValue::Integer),
            any::<u32>().prop_map(SnmpValue::Gauge32),
            any::<u32>().prop_map(SnmpValue::Counter32),
            any::<u64>().prop_map(SnmpValue::Counter64),
            any::<u32>().prop_map(SnmpValue::TimeTicks),
            any::<[u8; 4]>().prop_map(SnmpValue::IpAddress),
            arb_oid().prop_map(SnmpValue::ObjectId),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_record_encodes_as_rasn_does(
            oid in arb_oid(),
            varbinds in prop::collection::vec((arb_oid(), arb_value()), 0..40),
            request_id in any::<i32>(),
            uptime in any::<u32>(),
        ) {
            let trap = Trap {
                rule: Arc::from("random"),
                oid,
                varbinds: varbinds
                    .into_iter()
                    .enumerate()
                    .map(|(index, (oid, value))| VarBind {
                        index: index as u32 + 1,
                        name: "object".into(),
                        oid,
                        value,
                    })
                    .collect(),
            };
            let envelope = envelope(PduKind::Trap, b"public", request_id, uptime);
            prop_assert_eq!(encode(&trap, &envelope), encode_v2c_with_rasn(&trap, &envelope));
        }
    }
}
