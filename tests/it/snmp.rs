//! Integration tests: SNMP encoding, decoding, rendering and delivery (`sink::snmp`), and
//! `monbridge trap send`. net-snmp's snmptrapd is the receiving peer.

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use monbridge::record::{Oid, SnmpValue, Trap, VarBind};
use monbridge::sink::snmp::{
    Community, DecodedMessage, Delivery, DeliveryError, Destination, EncodeError, Envelope,
    NotificationKind, PduKind, Security, Sender, SenderConfig, SnmpVersion, decode, describe,
    encode,
};
use proptest::prelude::*;

use crate::common::snmptrapd::{Notification, Snmptrapd};
use crate::common::{bin, snapshot_settings};

/// How long a test waits for a datagram that should arrive at once.
const ARRIVAL: Duration = Duration::from_secs(10);

fn oid(text: &str) -> Oid {
    text.parse().expect("test OIDs are valid")
}

fn varbind(index: u32, name: &str, oid_text: &str, value: SnmpValue) -> VarBind {
    VarBind {
        index,
        name: name.into(),
        oid: oid(oid_text),
        value,
    }
}

fn text(value: &str) -> SnmpValue {
    SnmpValue::OctetString(value.as_bytes().to_vec())
}

use crate::common::traps::state_link_trap;

/// One object of every type, with values at the edges of their encodings (sign bits, the
/// leading 00 of large unsigned values, empty and non-ASCII strings). The objects live under
/// a test arc: PMC-MIB's own objects are all strings.
fn every_type_trap() -> Trap {
    let base = "1.3.6.1.4.1.39059.99.1";
    Trap {
        rule: "everyType".into(),
        oid: oid("1.3.6.1.4.1.39059.99.0.1"),
        varbinds: vec![
            varbind(1, "aString", &format!("{base}.1"), text("gw-01 «é»")),
            varbind(2, "anEmptyString", &format!("{base}.2"), text("")),
            varbind(
                3,
                "anInteger",
                &format!("{base}.3"),
                SnmpValue::Integer(i32::MIN),
            ),
            varbind(
                4,
                "aGauge",
                &format!("{base}.4"),
                SnmpValue::Gauge32(u32::MAX),
            ),
            varbind(
                5,
                "aCounter",
                &format!("{base}.5"),
                SnmpValue::Counter32(2_147_483_648),
            ),
            varbind(
                6,
                "aBigCounter",
                &format!("{base}.6"),
                SnmpValue::Counter64(u64::MAX),
            ),
            varbind(
                7,
                "someTicks",
                &format!("{base}.7"),
                SnmpValue::TimeTicks(8_640_042),
            ),
            varbind(
                8,
                "anAddress",
                &format!("{base}.8"),
                SnmpValue::IpAddress([192, 0, 2, 255]),
            ),
            varbind(
                9,
                "anObjectId",
                &format!("{base}.9"),
                SnmpValue::ObjectId(oid("1.3.6.1.4.1.39059.1.0.11")),
            ),
        ],
    }
}

fn envelope(version: SnmpVersion, pdu: PduKind) -> Envelope<'static> {
    Envelope {
        version,
        pdu,
        community: b"public",
        request_id: 12345,
        uptime: 4242,
        agent_addr: [192, 0, 2, 10],
    }
}

fn snapshot(name: &str, trap: &Trap, envelope: &Envelope<'_>) {
    let text = describe(trap, envelope).expect("the trap encodes");
    snapshot_settings().bind(|| insta::assert_snapshot!(name, text));
}

// ---------------------------------------------------------------------------------------
// Encoding, snapshots and round trips

#[test]
fn v2c_trap_snapshot() {
    snapshot(
        "snmp_v2c_trap",
        &state_link_trap(),
        &envelope(SnmpVersion::V2c, PduKind::Trap),
    );
}

#[test]
fn v2c_inform_snapshot() {
    snapshot(
        "snmp_v2c_inform",
        &state_link_trap(),
        &envelope(SnmpVersion::V2c, PduKind::InformRequest),
    );
}

#[test]
fn v1_trap_snapshot() {
    snapshot(
        "snmp_v1_trap",
        &state_link_trap(),
        &envelope(SnmpVersion::V1, PduKind::Trap),
    );
}

#[test]
fn every_type_snapshot() {
    snapshot(
        "snmp_every_type_v2c_trap",
        &every_type_trap(),
        &envelope(SnmpVersion::V2c, PduKind::Trap),
    );
}

/// The bytes net-snmp's `snmptrap` produced for the same content (captured with
/// `snmptrap -v2c -c public HOST 4242 1.3.6.1.4.1.39059.1.0.1 ...`, request-id aside).
#[test]
fn v2c_trap_bytes_equal_net_snmp_bytes() {
    let trap = Trap {
        rule: "probe".into(),
        oid: oid("1.3.6.1.4.1.39059.1.0.1"),
        varbinds: vec![
            varbind(1, "a", "1.3.6.1.4.1.39059.1.1.1.1.1", text("gw-rasn")),
            varbind(2, "b", "1.3.6.1.4.1.39059.1.1.1.1.2", text("iec104-south")),
        ],
    };
    let expected = concat!(
        "307d",
        "020101",
        "0406",
        "7075626c6963",
        "a770",
        "02023039",
        "020100",
        "020100",
        "3064",
        "300e",
        "06082b06010201010300",
        "43021092",
        "3019",
        "060a2b060106030101040100",
        "060b2b0601040182b113010001",
        "3018",
        "060d2b0601040182b1130101010101",
        "0407",
        "67772d7261736e",
        "301d",
        "060d2b0601040182b1130101010102",
        "040c",
        "696563313034",
        "2d736f757468",
    );
    let bytes = encode(&trap, &envelope(SnmpVersion::V2c, PduKind::Trap)).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
}

fn assert_round_trip(trap: &Trap, envelope: &Envelope<'_>) -> DecodedMessage {
    let bytes = encode(trap, envelope).expect("the trap encodes");
    let decoded = decode(&bytes).expect("our own encoding decodes");
    assert_eq!(decoded.version, envelope.version);
    assert_eq!(decoded.community, envelope.community);
    assert_eq!(decoded.pdu, envelope.pdu);
    assert_eq!(decoded.uptime, Some(envelope.uptime));
    assert_eq!(decoded.trap_oid.as_ref(), Some(&trap.oid));
    assert_eq!((decoded.error_status, decoded.error_index), (0, 0));
    let sent: Vec<(Oid, SnmpValue)> = trap
        .varbinds
        .iter()
        .map(|v| (v.oid.clone(), v.value.clone()))
        .collect();
    assert_eq!(decoded.varbinds, sent);
    match envelope.version {
        SnmpVersion::V2c => {
            assert_eq!(decoded.request_id, Some(envelope.request_id));
            assert_eq!(decoded.v1, None);
        }
        SnmpVersion::V1 => {
            assert_eq!(decoded.request_id, None);
            let header = decoded.v1.as_ref().expect("a v1 header");
            assert_eq!(header.agent_addr, envelope.agent_addr);
        }
    }
    decoded
}

#[test]
fn every_type_round_trips_in_every_v2c_pdu() {
    for pdu in [PduKind::Trap, PduKind::InformRequest, PduKind::Response] {
        assert_round_trip(&every_type_trap(), &envelope(SnmpVersion::V2c, pdu));
    }
}

#[test]
fn v1_round_trip_maps_the_trap_identity() {
    let mut trap = every_type_trap();
    trap.varbinds
        .retain(|v| !matches!(v.value, SnmpValue::Counter64(_)));
    let decoded = assert_round_trip(&trap, &envelope(SnmpVersion::V1, PduKind::Trap));
    let header = decoded.v1.unwrap();
    assert_eq!(header.enterprise, oid("1.3.6.1.4.1.39059.99"));
    assert_eq!((header.generic_trap, header.specific_trap), (6, 1));
}

#[test]
fn v1_refuses_counter64_and_names_the_object() {
    let error = encode(
        &every_type_trap(),
        &envelope(SnmpVersion::V1, PduKind::Trap),
    )
    .unwrap_err();
    assert!(matches!(error, EncodeError::Counter64InV1 { .. }));
    assert_eq!(
        error.to_string(),
        "object `aBigCounter` (index 6, 1.3.6.1.4.1.39059.99.1.6) is a Counter64, which SNMPv1 \
         cannot carry; send it with SNMPv2c"
    );
    let error = encode(
        &state_link_trap(),
        &envelope(SnmpVersion::V1, PduKind::InformRequest),
    )
    .unwrap_err();
    assert!(matches!(error, EncodeError::NoV1Pdu { .. }));
}

#[test]
fn invalid_trap_oid_is_an_error_not_a_panic() {
    let mut trap = state_link_trap();
    trap.oid = Oid::from(vec![1]);
    let error = encode(&trap, &envelope(SnmpVersion::V2c, PduKind::Trap)).unwrap_err();
    assert!(
        matches!(error, EncodeError::InvalidTrapOid { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("at least two arcs"), "{error}");
}

#[test]
fn long_strings_are_truncated_to_255_bytes_on_a_character_boundary() {
    let mut trap = state_link_trap();
    trap.varbinds[1].value = text(&"é".repeat(200));
    let decoded =
        decode(&encode(&trap, &envelope(SnmpVersion::V2c, PduKind::Trap)).unwrap()).unwrap();
    let SnmpValue::OctetString(sent) = &decoded.varbinds[1].1 else {
        panic!("not a string: {:?}", decoded.varbinds[1]);
    };
    assert_eq!(sent.len(), 254);
    assert_eq!(String::from_utf8(sent.clone()).unwrap(), "é".repeat(127));
    // The other objects are untouched.
    assert_eq!(decoded.varbinds[0].1, text("gw-lyon-01"));
}

#[test]
fn decoding_rejects_what_is_not_a_notification() {
    assert!(decode(b"").is_err());
    assert!(decode(b"not ber").is_err());
    let bytes = encode(
        &state_link_trap(),
        &envelope(SnmpVersion::V2c, PduKind::Trap),
    )
    .unwrap();
    assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        decode(&trailing).unwrap_err().to_string(),
        "1 bytes follow the SNMP message"
    );
}

fn arbitrary_value(v1: bool) -> impl Strategy<Value = SnmpValue> {
    let oid = (
        0u32..=2,
        0u32..40,
        prop::collection::vec(any::<u32>(), 0..12),
    )
        .prop_map(|(first, second, rest)| {
            let mut arcs = vec![first, second];
            arcs.extend(rest);
            Oid::from(arcs)
        });
    let common = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=255).prop_map(SnmpValue::OctetString),
        any::<i32>().prop_map(SnmpValue::Integer),
        any::<u32>().prop_map(SnmpValue::Gauge32),
        any::<u32>().prop_map(SnmpValue::Counter32),
        any::<u32>().prop_map(SnmpValue::TimeTicks),
        any::<[u8; 4]>().prop_map(SnmpValue::IpAddress),
        oid.prop_map(SnmpValue::ObjectId),
    ];
    if v1 {
        common.boxed()
    } else {
        prop_oneof![common, any::<u64>().prop_map(SnmpValue::Counter64)].boxed()
    }
}

fn arbitrary_trap(v1: bool) -> impl Strategy<Value = Trap> {
    let object = (
        prop::collection::vec(any::<u32>(), 1..8),
        arbitrary_value(v1),
    );
    (
        prop::collection::vec(any::<u32>(), 1..8),
        prop::collection::vec(object, 0..10),
    )
        .prop_map(|(trap_arcs, objects)| {
            let mut trap_oid = vec![1, 3, 6, 1, 4, 1];
            trap_oid.extend(trap_arcs);
            // RFC 3584 maps `<enterprise>.0.<n>` both ways; v1 round trips need that shape.
            let last = trap_oid.len() - 1;
            trap_oid.insert(last, 0);
            Trap {
                rule: "generated".into(),
                oid: Oid::from(trap_oid),
                varbinds: objects
                    .into_iter()
                    .enumerate()
                    .map(|(i, (arcs, value))| {
                        let mut object_oid = vec![1, 3, 6, 1, 4, 1, 39059];
                        object_oid.extend(arcs);
                        VarBind {
                            index: i as u32 + 1,
                            name: format!("object{}", i + 1).into(),
                            oid: Oid::from(object_oid),
                            value,
                        }
                    })
                    .collect(),
            }
        })
}

proptest! {
    #[test]
    fn any_v2c_notification_round_trips(
        trap in arbitrary_trap(false),
        pdu in prop_oneof![Just(PduKind::Trap), Just(PduKind::InformRequest), Just(PduKind::Response)],
        request_id in any::<i32>(),
        uptime in any::<u32>(),
    ) {
        let mut envelope = envelope(SnmpVersion::V2c, pdu);
        envelope.request_id = request_id;
        envelope.uptime = uptime;
        assert_round_trip(&trap, &envelope);
    }

    #[test]
    fn any_v1_trap_round_trips(
        mut trap in arbitrary_trap(true),
        specific in 0u32..=i32::MAX as u32,
        uptime in any::<u32>(),
        agent_addr in any::<[u8; 4]>(),
    ) {
        let mut arcs = trap.oid.arcs().to_vec();
        if let Some(last) = arcs.last_mut() {
            *last = specific;
        }
        trap.oid = Oid::from(arcs);
        let mut envelope = envelope(SnmpVersion::V1, PduKind::Trap);
        envelope.uptime = uptime;
        envelope.agent_addr = agent_addr;
        assert_round_trip(&trap, &envelope);
    }
}

// ---------------------------------------------------------------------------------------
// Delivery to snmptrapd

fn sender(config: SenderConfig, to: &str) -> Sender {
    let destination: Destination = to.parse().expect("a valid destination");
    Sender::new(config, &[destination]).expect("the sender starts")
}

fn single(deliveries: Vec<Delivery>) -> Delivery {
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.into_iter().next().unwrap()
}

/// The notification whose snmpTrapOID.0 (v2c) or enterprise (v1) is ours.
fn wait_for_trap(daemon: &Snmptrapd, security: &str) -> Notification {
    let security = security.to_owned();
    daemon
        .wait_for(|n| n.security == security, ARRIVAL)
        .unwrap_or_else(|| {
            panic!(
                "snmptrapd did not log a {security:?} notification; its output:\n{}",
                daemon.output().join("\n")
            )
        })
}

/// (OID, net-snmp type, value) as snmptrapd prints them.
fn received(notification: &Notification) -> Vec<(String, String, String)> {
    notification
        .varbinds
        .iter()
        .map(|v| (v.oid.clone(), v.type_name.clone(), v.value.clone()))
        .collect()
}

fn expected(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(o, t, v)| (o.to_string(), t.to_string(), v.to_string()))
        .collect()
}

/// What snmptrapd prints for every_type_trap's objects.
const EVERY_TYPE_AS_PRINTED: [(&str, &str, &str); 9] = [
    // net-snmp prints bytes outside printable ASCII in hex: here the UTF-8 of "gw-01 «é»".
    (
        ".1.3.6.1.4.1.39059.99.1.1",
        "Hex-STRING",
        "67 77 2D 30 31 20 C2 AB C3 A9 C2 BB",
    ),
    (".1.3.6.1.4.1.39059.99.1.2", "STRING", ""),
    (".1.3.6.1.4.1.39059.99.1.3", "INTEGER", "-2147483648"),
    (".1.3.6.1.4.1.39059.99.1.4", "Gauge32", "4294967295"),
    (".1.3.6.1.4.1.39059.99.1.5", "Counter32", "2147483648"),
    (
        ".1.3.6.1.4.1.39059.99.1.6",
        "Counter64",
        "18446744073709551615",
    ),
    (
        ".1.3.6.1.4.1.39059.99.1.7",
        "Timeticks",
        "(8640042) 1 day, 0:00:00.42",
    ),
    (".1.3.6.1.4.1.39059.99.1.8", "IpAddress", "192.0.2.255"),
    (
        ".1.3.6.1.4.1.39059.99.1.9",
        "OID",
        ".1.3.6.1.4.1.39059.1.0.11",
    ),
];

#[test]
fn v2c_trap_reaches_snmptrapd_with_every_type() {
    let daemon = Snmptrapd::start();
    let mut sender = sender(SenderConfig::default(), &daemon.destination());
    let delivery = single(sender.send(&every_type_trap()).unwrap());
    assert_eq!(delivery.result, Ok(()));
    assert_eq!(delivery.attempts, 1);

    let notification = wait_for_trap(&daemon, "TRAP2, SNMP v2c, community public");
    assert_eq!(notification.version, "1");
    let rows = received(&notification);
    assert_eq!(rows[0].0, ".1.3.6.1.2.1.1.3.0");
    assert_eq!(rows[0].1, "Timeticks");
    assert_eq!(
        rows[1],
        (
            ".1.3.6.1.6.3.1.1.4.1.0".to_string(),
            "OID".to_string(),
            ".1.3.6.1.4.1.39059.99.0.1".to_string()
        )
    );
    assert_eq!(rows[2..], expected(&EVERY_TYPE_AS_PRINTED)[..]);
}

#[test]
fn v2c_inform_is_acknowledged_by_snmptrapd() {
    let daemon = Snmptrapd::start();
    let config = SenderConfig {
        notification: NotificationKind::Inform,
        retries: 2,
        timeout: Duration::from_secs(5),
        ..SenderConfig::default()
    };
    let mut sender = sender(config, &daemon.destination());
    let delivery = single(sender.send(&state_link_trap()).unwrap());
    assert_eq!(delivery.result, Ok(()), "{:?}", daemon.output());
    assert!(delivery.request_id.is_some());

    let notification = wait_for_trap(&daemon, "INFORM, SNMP v2c, community public");
    let rows = received(&notification);
    assert_eq!(rows[1].2, ".1.3.6.1.4.1.39059.1.0.1");
    assert_eq!(
        rows[2..],
        expected(&[
            (".1.3.6.1.4.1.39059.1.1.1.1.1", "STRING", "gw-lyon-01"),
            (".1.3.6.1.4.1.39059.1.1.1.1.2", "STRING", "iec104-south"),
            (".1.3.6.1.4.1.39059.1.1.1.1.3", "STRING", "STLNK"),
            (".1.3.6.1.4.1.39059.1.1.1.1.4", "STRING", "PA-Lyon-1"),
            (".1.3.6.1.4.1.39059.1.1.1.1.5", "STRING", "OFF"),
            (".1.3.6.1.4.1.39059.1.1.1.1.6", "STRING", "WARNING"),
            (
                ".1.3.6.1.4.1.39059.1.1.1.1.7",
                "STRING",
                "2026-11-21T09:15:42.317Z"
            ),
        ])[..]
    );
}

#[test]
fn v1_trap_reaches_snmptrapd_with_its_rfc_3584_identity() {
    let daemon = Snmptrapd::start();
    let config = SenderConfig {
        security: Security::V1 {
            community: Community::new("public"),
        },
        ..SenderConfig::default()
    };
    let mut sender = sender(config, &daemon.destination());
    let mut trap = every_type_trap();
    trap.oid = oid("1.3.6.1.4.1.39059.1.0.7");
    trap.varbinds
        .retain(|v| !matches!(v.value, SnmpValue::Counter64(_)));
    let delivery = single(sender.send(&trap).unwrap());
    assert_eq!(delivery.result, Ok(()));
    assert_eq!(delivery.request_id, None);

    let notification = wait_for_trap(&daemon, "TRAP, SNMP v1, community public");
    assert_eq!(notification.version, "0");
    assert_eq!(notification.enterprise, ".1.3.6.1.4.1.39059.1");
    assert_eq!(notification.generic_trap, "6");
    assert_eq!(notification.specific_trap, "7");
    // The sender's own address towards 127.0.0.1.
    assert_eq!(notification.agent_addr, "127.0.0.1");
    let mut rows = expected(&EVERY_TYPE_AS_PRINTED);
    rows.remove(5);
    assert_eq!(received(&notification), rows);
}

// ---------------------------------------------------------------------------------------
// Informs against a fake manager (a plain UDP socket)

fn fake_manager() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake manager");
    socket
        .set_read_timeout(Some(ARRIVAL))
        .expect("set a read timeout");
    let address = socket.local_addr().unwrap();
    (socket, format!("udp:{address}"))
}

/// Every datagram already queued on the socket.
fn drain(socket: &UdpSocket) -> Vec<(Vec<u8>, SocketAddr)> {
    socket.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 65_535];
    let mut datagrams = Vec::new();
    while let Ok((length, from)) = socket.recv_from(&mut buffer) {
        datagrams.push((buffer[..length].to_vec(), from));
    }
    socket.set_nonblocking(false).unwrap();
    datagrams
}

#[test]
fn unanswered_inform_is_retransmitted_then_reported_failed() {
    let (manager, to) = fake_manager();
    let config = SenderConfig {
        notification: NotificationKind::Inform,
        retries: 2,
        timeout: Duration::from_millis(150),
        ..SenderConfig::default()
    };
    let mut sender = sender(config, &to);
    let delivery = single(sender.send(&state_link_trap()).unwrap());
    assert_eq!(
        delivery.result,
        Err(DeliveryError::NoResponse {
            attempts: 3,
            timeout_ms: 150
        })
    );
    assert_eq!(delivery.attempts, 3);

    // The sender returned after its last timeout, so every datagram is queued by now.
    let datagrams = drain(&manager);
    assert_eq!(datagrams.len(), 3, "retries + 1 datagrams");
    let first = decode(&datagrams[0].0).unwrap();
    assert_eq!(first.pdu, PduKind::InformRequest);
    assert_eq!(first.request_id, delivery.request_id);
    for (bytes, _) in &datagrams[1..] {
        assert_eq!(
            bytes, &datagrams[0].0,
            "a retransmission is the same message"
        );
    }
}

/// The Response a manager sends for `inform`, with another request-id or error-status when
/// asked to.
fn response_to(inform: &DecodedMessage, request_id: i32) -> Vec<u8> {
    let trap = Trap {
        rule: "echo".into(),
        oid: inform.trap_oid.clone().unwrap(),
        varbinds: inform
            .varbinds
            .iter()
            .enumerate()
            .map(|(i, (oid, value))| VarBind {
                index: i as u32 + 1,
                name: format!("o{i}").into(),
                oid: oid.clone(),
                value: value.clone(),
            })
            .collect(),
    };
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Response,
        community: b"public",
        request_id,
        uptime: inform.uptime.unwrap(),
        agent_addr: [0; 4],
    };
    encode(&trap, &envelope).unwrap()
}

#[test]
fn only_the_matching_response_acknowledges_an_inform() {
    let (manager, to) = fake_manager();
    let (stranger, _) = fake_manager();
    let config = SenderConfig {
        notification: NotificationKind::Inform,
        retries: 0,
        timeout: Duration::from_secs(10),
        ..SenderConfig::default()
    };
    let mut sender = sender(config, &to);
    let sender_address = SocketAddr::from(([127, 0, 0, 1], sender.local_addr().unwrap().port()));
    let answering = std::thread::spawn(move || {
        let mut buffer = [0u8; 65_535];
        let (length, from) = manager.recv_from(&mut buffer).expect("the inform arrives");
        let inform = decode(&buffer[..length]).unwrap();
        let id = inform.request_id.unwrap();
        // Ignored: wrong request-id, then the right one from an address that was not asked.
        manager
            .send_to(&response_to(&inform, id.wrapping_add(1)), from)
            .unwrap();
        stranger.send_to(&response_to(&inform, id), from).unwrap();
        // Accepted.
        manager.send_to(&response_to(&inform, id), from).unwrap();
        (from, id)
    });
    let delivery = single(sender.send(&state_link_trap()).unwrap());
    let (from, id) = answering.join().unwrap();
    assert_eq!(from, sender_address);
    assert_eq!(delivery.result, Ok(()));
    assert_eq!(delivery.request_id, Some(id));
    assert_eq!(delivery.attempts, 1);
}

#[test]
fn an_error_status_response_is_a_failure() {
    let (manager, to) = fake_manager();
    let config = SenderConfig {
        notification: NotificationKind::Inform,
        retries: 0,
        timeout: Duration::from_secs(10),
        ..SenderConfig::default()
    };
    let mut sender = sender(config, &to);
    let answering = std::thread::spawn(move || {
        let mut buffer = [0u8; 65_535];
        let (length, from) = manager.recv_from(&mut buffer).expect("the inform arrives");
        let inform = decode(&buffer[..length]).unwrap();
        // A genErr Response, built from rasn's types since the encoder never sets errors.
        let response = rasn_snmp::v2c::Message {
            version: 1.into(),
            community: rasn::types::OctetString::from_static(b"public"),
            data: rasn_snmp::v2::Pdus::Response(rasn_snmp::v2::Response(rasn_snmp::v2::Pdu {
                request_id: inform.request_id.unwrap(),
                error_status: rasn_snmp::v2::Pdu::ERROR_STATUS_GEN_ERR,
                error_index: 3,
                variable_bindings: Vec::new(),
            })),
        };
        manager
            .send_to(&rasn::ber::encode(&response).unwrap(), from)
            .unwrap();
    });
    let delivery = single(sender.send(&state_link_trap()).unwrap());
    answering.join().unwrap();
    assert_eq!(
        delivery.result,
        Err(DeliveryError::ErrorStatus {
            status: 5,
            index: 3
        })
    );
}

#[test]
fn request_ids_differ_from_message_to_message() {
    let (manager, to) = fake_manager();
    let mut sender = sender(SenderConfig::default(), &to);
    for _ in 0..3 {
        assert_eq!(
            single(sender.send(&state_link_trap()).unwrap()).result,
            Ok(())
        );
    }
    let mut buffer = [0u8; 65_535];
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (length, _) = manager.recv_from(&mut buffer).expect("a trap arrives");
        ids.push(decode(&buffer[..length]).unwrap().request_id.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
}

#[test]
fn every_destination_gets_the_notification() {
    let (first, first_to) = fake_manager();
    let (second, second_to) = fake_manager();
    let destinations: Vec<Destination> = [&first_to, &second_to]
        .iter()
        .map(|to| to.parse().unwrap())
        .collect();
    let mut sender = Sender::new(SenderConfig::default(), &destinations).unwrap();
    let deliveries = sender.send(&state_link_trap()).unwrap();
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries.iter().all(|d| d.result.is_ok()),
        "{deliveries:?}"
    );
    let mut buffer = [0u8; 65_535];
    for manager in [first, second] {
        let (length, _) = manager.recv_from(&mut buffer).expect("a trap arrives");
        let decoded = decode(&buffer[..length]).unwrap();
        assert_eq!(decoded.trap_oid, Some(oid("1.3.6.1.4.1.39059.1.0.1")));
    }
}

/// IPv4 and IPv6 destinations share one (dual-stack) socket; Responses from either count.
#[test]
fn ipv4_and_ipv6_destinations_share_one_socket() {
    let (v4_manager, v4_to) = fake_manager();
    let v6_manager = UdpSocket::bind("[::1]:0")
        .expect("this test needs the IPv6 loopback address ::1 (enable IPv6 on lo)");
    v6_manager.set_read_timeout(Some(ARRIVAL)).unwrap();
    let v6_to = format!("udp6:[::1]:{}", v6_manager.local_addr().unwrap().port());
    let destinations: Vec<Destination> = [v4_to, v6_to]
        .iter()
        .map(|to| to.parse().unwrap())
        .collect();
    let config = SenderConfig {
        notification: NotificationKind::Inform,
        retries: 0,
        timeout: Duration::from_secs(10),
        ..SenderConfig::default()
    };
    let mut sender = Sender::new(config, &destinations).unwrap();
    let answering: Vec<_> = [v4_manager, v6_manager]
        .into_iter()
        .map(|manager| {
            std::thread::spawn(move || {
                let mut buffer = [0u8; 65_535];
                let (length, from) = manager.recv_from(&mut buffer).expect("the inform arrives");
                let inform = decode(&buffer[..length]).unwrap();
                let id = inform.request_id.unwrap();
                manager.send_to(&response_to(&inform, id), from).unwrap();
            })
        })
        .collect();
    let deliveries = sender.send(&state_link_trap()).unwrap();
    for thread in answering {
        thread.join().unwrap();
    }
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries.iter().all(|d| d.result == Ok(())),
        "{deliveries:?}"
    );
}

// ---------------------------------------------------------------------------------------
// monbridge trap send

fn trap_send(args: &[&str]) -> std::process::Output {
    Command::new(bin("monbridge"))
        .args(["trap", "send"])
        .args(args)
        .env_remove("MONBRIDGE_COMMUNITY")
        .env_remove("MONBRIDGE_RULES")
        .output()
        .expect("run monbridge")
}

#[test]
fn cli_bad_destination_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.json");
    std::fs::write(&input, "{}").unwrap();
    for (to, complaint) in [
        ("tcp:127.0.0.1:162", "transport \"tcp\""),
        ("udp:127.0.0.1:99999", "port \"99999\""),
        ("udp6:fe80::1:x:162", "needs brackets"),
    ] {
        let output = trap_send(&["--to", to, input.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{to}: {stderr}");
        assert!(stderr.contains(complaint), "{to}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn cli_inform_with_v1_is_a_usage_error() {
    let output = trap_send(&["--to", "udp:127.0.0.1:9", "--version", "1", "--inform", "-"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--inform needs --version 2c"));
}

/// Needs `source::audit::decode_input` and the default rules (stubs until merged).
#[test]
fn cli_garbage_input_is_rejected_to_the_reject_file() {
    let (_manager, to) = fake_manager();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("garbage.txt");
    std::fs::write(&input, "this is { not an audit\n").unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let output = trap_send(&[
        "--to",
        &to,
        "--reject",
        rejects.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("1 rejected"), "{stderr}");
    let written = std::fs::read_to_string(&rejects)
        .unwrap_or_else(|e| panic!("no reject file ({e}); stderr:\n{stderr}"));
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).expect("each reject is a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{written}");
    assert!(
        !lines[0]["error"].as_str().unwrap_or("").is_empty(),
        "{written}"
    );
    assert_eq!(lines[0]["audit"], "this is { not an audit");
}

/// Needs `source::audit::decode_input` and the default rules (stubs until merged): an STLNK
/// audit becomes PMC-MIB's pmcStateLink with its seven objects.
#[test]
fn cli_sends_an_audit_to_snmptrapd_without_logging_the_community() {
    let daemon = Snmptrapd::start();
    let input = crate::common::fixture("fledge/rest/STLNK.json");
    let output = Command::new(bin("monbridge"))
        .args(["--log-level", "debug", "trap", "send", "--inform", "--to"])
        .arg(daemon.destination())
        .arg(&input)
        .env("MONBRIDGE_COMMUNITY", "s3cret-community")
        .env_remove("MONBRIDGE_RULES")
        .output()
        .expect("run monbridge");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("s3cret"),
        "the community leaked:\n{stderr}"
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("1 matched"), "{stderr}");
    let notification = daemon
        .wait_for(|n| n.security.starts_with("INFORM, SNMP v2c"), ARRIVAL)
        .unwrap_or_else(|| panic!("no inform; snmptrapd said:\n{}", daemon.output().join("\n")));
    assert_eq!(
        notification.security,
        "INFORM, SNMP v2c, community s3cret-community"
    );
    let rows = received(&notification);
    assert_eq!(rows[1].2, ".1.3.6.1.4.1.39059.1.0.1");
    let objects: Vec<&str> = rows[2..].iter().map(|(oid, _, _)| oid.as_str()).collect();
    assert_eq!(
        objects,
        (1..=7)
            .map(|n| format!(".1.3.6.1.4.1.39059.1.1.1.1.{n}"))
            .collect::<Vec<_>>()
    );
    assert!(
        rows[2..].iter().all(|(_, ty, _)| ty == "STRING"),
        "{rows:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Traps queued and sent together (sendmmsg)

#[test]
fn queued_traps_leave_together_in_order_to_every_destination() {
    let (first, to_first) = fake_manager();
    let (second, to_second) = fake_manager();
    let destinations: Vec<Destination> = [&to_first, &to_second]
        .iter()
        .map(|to| to.parse().unwrap())
        .collect();
    let mut sender = Sender::new(SenderConfig::default(), &destinations).unwrap();
    for _ in 0..3 {
        sender.queue_trap(&state_link_trap()).unwrap();
    }
    assert_eq!(sender.queued(), 3);
    // Nothing leaves before the flush.
    assert!(drain(&first).is_empty());
    let results = sender.flush();
    assert_eq!(results, vec![Ok(()); 6]);
    assert_eq!(sender.queued(), 0);
    for manager in [&first, &second] {
        let mut ids = Vec::new();
        let mut buffer = [0u8; 65_535];
        for _ in 0..3 {
            let length = manager.recv(&mut buffer).expect("a queued trap");
            let message = decode(&buffer[..length]).unwrap();
            assert_eq!(message.pdu, PduKind::Trap);
            ids.push(message.request_id.unwrap());
        }
        assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "{ids:?}");
    }
}
