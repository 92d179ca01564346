//! SNMP sink benchmarks: encoding one SNMPv2c trap (7 OCTET STRING objects, as PMC-MIB's
//! notifications carry), the same trap as SNMPv3 authPriv (HMAC-SHA-256, AES-128) with keys
//! localised once, and the send path against a plain `UdpSocket` loop sending the same
//! pre-encoded datagram, both to a local UDP sink that only reads.

use std::hint::black_box;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monbridge::record::{Oid, SnmpValue, Trap, VarBind};
use monbridge::sink::snmp::usm::{
    AuthProtocol, EngineId, LocalEngine, Passphrase, PrivProtocol, UsmUser, V3Config, V3Session,
};
use monbridge::sink::snmp::{
    Destination, Envelope, PduKind, Sender, SenderConfig, SnmpVersion, encode_into,
};

fn state_link_trap() -> Trap {
    let values = [
        ("nameGateway", "gw-lyon-01"),
        ("nameService", "iec104-south"),
        ("nameEvent", "STLNK"),
        ("labelVariable", "PA-Lyon-1"),
        ("valueVariable", "OFF"),
        ("severity", "WARNING"),
        ("date", "2026-11-21T09:15:42.317Z"),
    ];
    Trap {
        rule: "stateLink".into(),
        oid: Oid::from(vec![1, 3, 6, 1, 4, 1, 39059, 1, 0, 1]),
        varbinds: values
            .iter()
            .zip(1u32..)
            .map(|((name, value), index)| VarBind {
                index,
                name: (*name).into(),
                oid: Oid::from(vec![1, 3, 6, 1, 4, 1, 39059, 1, 1, 1, 1, index]),
                value: SnmpValue::OctetString(value.as_bytes().to_vec()),
            })
            .collect(),
    }
}

fn encoding(c: &mut Criterion) {
    let trap = state_link_trap();
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Trap,
        community: b"public",
        request_id: 12345,
        uptime: 4242,
        agent_addr: [0; 4],
    };
    let mut buffer = Vec::with_capacity(1500);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("v2c trap, 7 strings", |b| {
        b.iter(|| {
            encode_into(black_box(&trap), black_box(&envelope), &mut buffer).expect("encodes");
            black_box(buffer.len())
        })
    });
    group.finish();
}

fn encoding_v3(c: &mut Criterion) {
    let trap = state_link_trap();
    let engine: EngineId = "0x800098930467772d6c796f6e2d3031"
        .parse()
        .expect("engine ID");
    let user = UsmUser {
        name: "ops".into(),
        auth: Some((AuthProtocol::Sha256, Passphrase::new("auth-passphrase-1"))),
        privacy: Some((PrivProtocol::Aes128, Passphrase::new("priv-passphrase-1"))),
    };
    let config = V3Config {
        user,
        engine: LocalEngine::new(engine, 7),
        context_name: Vec::new(),
    };
    // Keys are localised here, once, as the sender does at start.
    let mut session = V3Session::new(config, 42).expect("keys");
    let mut buffer = Vec::with_capacity(1500);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("v3 authPriv trap (SHA-256, AES-128), 7 strings", |b| {
        b.iter(|| {
            session
                .encode_trap(black_box(&trap), 12345, 4242, &mut buffer)
                .expect("encodes");
            black_box(buffer.len())
        })
    });
    group.finish();
}

/// A UDP socket on 127.0.0.1 that reads and discards until dropped.
struct Sink {
    port: u16,
    running: Arc<AtomicBool>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Sink {
    fn start() -> Sink {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the sink");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let port = socket.local_addr().expect("sink address").port();
        let running = Arc::new(AtomicBool::new(true));
        let still_running = Arc::clone(&running);
        let reader = thread::spawn(move || {
            let mut buffer = [0u8; 65_535];
            while still_running.load(Ordering::Relaxed) {
                let _ = socket.recv_from(&mut buffer);
            }
        });
        Sink {
            port,
            running,
            reader: Some(reader),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn sending(c: &mut Criterion) {
    let sink = Sink::start();
    let trap = state_link_trap();
    let destination: Destination = format!("udp:127.0.0.1:{}", sink.port)
        .parse()
        .expect("destination");
    let mut sender = Sender::new(SenderConfig::default(), &[destination]).expect("sender");

    let plain = UdpSocket::bind("127.0.0.1:0").expect("bind the plain socket");
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Trap,
        community: b"public",
        request_id: 12345,
        uptime: 4242,
        agent_addr: [0; 4],
    };
    let mut datagram = Vec::new();
    encode_into(&trap, &envelope, &mut datagram).expect("encodes");
    let sink_address = SocketAddr::from(([127, 0, 0, 1], sink.port));

    let mut group = c.benchmark_group("send to a local UDP sink");
    group.throughput(Throughput::Elements(1));
    group.bench_function("Sender::send (encode + send_to)", |b| {
        b.iter(|| black_box(sender.send(black_box(&trap)).expect("encodes")))
    });
    group.bench_function("UdpSocket::send_to, pre-encoded", |b| {
        b.iter(|| {
            plain
                .send_to(black_box(&datagram), sink_address)
                .expect("sends")
        })
    });
    group.finish();
}

criterion_group!(benches, encoding, encoding_v3, sending);
criterion_main!(benches);
