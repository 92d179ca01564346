//! Readable renderings of SNMP messages: a varbind table (OID, name when known, type, value)
//! and a hex dump of the BER bytes. Used by snapshot tests and `monbridge render trap --hex`.
//!
//! The community is never printed in the table (it is a shared secret); the hex dump shows
//! the bytes as they are on the wire, community included.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::ber::{SNMP_TRAP_OID_0, SYS_UP_TIME_0};
use super::{DecodedMessage, EncodeError, Envelope, decode, encode};
use crate::record::{Oid, SnmpValue, Trap};

/// Names to show next to OIDs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OidNames(BTreeMap<Oid, String>);

impl OidNames {
    /// `sysUpTime.0` and `snmpTrapOID.0`, present in every SNMPv2 notification.
    pub fn standard() -> OidNames {
        let mut names = OidNames::default();
        names.insert(Oid::from(SYS_UP_TIME_0), "sysUpTime.0");
        names.insert(Oid::from(SNMP_TRAP_OID_0), "snmpTrapOID.0");
        names
    }

    /// The standard names plus the object names a trap binding gave.
    pub fn for_trap(trap: &Trap) -> OidNames {
        let mut names = OidNames::standard();
        for varbind in &trap.varbinds {
            names.insert(varbind.oid.clone(), &varbind.name);
        }
        names
    }

    pub fn insert(&mut self, oid: Oid, name: &str) {
        self.0.insert(oid, name.to_owned());
    }

    pub fn get(&self, oid: &Oid) -> Option<&str> {
        self.0.get(oid).map(String::as_str)
    }
}

/// The message header as `key  value` lines, then one table row per varbind as it is on the
/// wire (for SNMPv2c `sysUpTime.0` and `snmpTrapOID.0` come first).
pub fn render_table(message: &DecodedMessage, names: &OidNames) -> String {
    render_with(
        (
            "message",
            format!("{} {}", message.version.name(), message.pdu.name()),
        ),
        message,
        names,
    )
}

/// The PDU of an SNMPv3 message (whose header is rendered apart): `PDU` and request-id lines,
/// then the varbind table.
pub(crate) fn render_pdu(message: &DecodedMessage, names: &OidNames) -> String {
    render_with(("PDU", message.pdu.name().to_owned()), message, names)
}

fn render_with(
    first: (&'static str, String),
    message: &DecodedMessage,
    names: &OidNames,
) -> String {
    let mut header: Vec<(&str, String)> = vec![first];
    if let Some(request_id) = message.request_id {
        header.push(("request-id", request_id.to_string()));
    }
    if message.error_status != 0 || message.error_index != 0 {
        header.push(("error-status", message.error_status.to_string()));
        header.push(("error-index", message.error_index.to_string()));
    }
    let mut rows: Vec<(Oid, SnmpValue)> = Vec::with_capacity(message.varbinds.len() + 2);
    match &message.v1 {
        Some(v1) => {
            header.push(("enterprise", v1.enterprise.to_string()));
            let [a, b, c, d] = v1.agent_addr;
            header.push(("agent-addr", format!("{a}.{b}.{c}.{d}")));
            header.push(("generic-trap", v1.generic_trap.to_string()));
            header.push(("specific-trap", v1.specific_trap.to_string()));
            if let Some(uptime) = message.uptime {
                header.push(("time-stamp", format_ticks(uptime)));
            }
            if let Some(trap_oid) = &message.trap_oid {
                header.push(("trap OID", format!("{trap_oid} (RFC 3584)")));
            }
        }
        None => {
            if let Some(uptime) = message.uptime {
                rows.push((Oid::from(SYS_UP_TIME_0), SnmpValue::TimeTicks(uptime)));
            }
            if let Some(trap_oid) = &message.trap_oid {
                rows.push((
                    Oid::from(SNMP_TRAP_OID_0),
                    SnmpValue::ObjectId(trap_oid.clone()),
                ));
            }
        }
    }
    rows.extend(message.varbinds.iter().cloned());

    let mut text = String::new();
    let key_width = header.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in &header {
        let _ = writeln!(text, "{key:<key_width$}  {value}");
    }
    text.push('\n');

    let table: Vec<[String; 5]> = rows
        .iter()
        .enumerate()
        .map(|(i, (oid, value))| {
            [
                (i + 1).to_string(),
                oid.to_string(),
                names.get(oid).unwrap_or("-").to_owned(),
                value.snmp_type().smi_name().to_owned(),
                match value {
                    SnmpValue::TimeTicks(ticks) => format_ticks(*ticks),
                    other => other.to_string(),
                },
            ]
        })
        .collect();
    let titles = ["#", "OID", "NAME", "TYPE", "VALUE"];
    let mut widths = titles.map(str::len);
    for row in &table {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut push_row = |cells: [&str; 5]| {
        let mut line = String::new();
        for (column, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if column + 1 == cells.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ");
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    };
    push_row(titles);
    for row in &table {
        push_row(row.each_ref().map(String::as_str));
    }
    text
}

/// Offset, 16 bytes in hex, and their printable ASCII, per line.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 4 + 16);
    for (line, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(text, "{:04x} ", line * 16);
        for column in 0..16 {
            if column == 8 {
                text.push(' ');
            }
            match chunk.get(column) {
                Some(byte) => {
                    let _ = write!(text, " {byte:02x}");
                }
                None => text.push_str("   "),
            }
        }
        text.push_str("  ");
        text.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        text.push('\n');
    }
    text
}

/// A trap as it would be sent: the decoded table of its encoding, its size, then the hex dump.
pub fn describe(trap: &Trap, envelope: &Envelope<'_>) -> Result<String, EncodeError> {
    let bytes = encode(trap, envelope)?;
    // What is shown is read back from the bytes, so the table cannot disagree with them.
    let message = decode(&bytes)
        .map_err(|e| EncodeError::Ber(format!("the encoding does not decode: {e}")))?;
    let mut text = render_table(&message, &OidNames::for_trap(trap));
    let _ = writeln!(text, "\nBER ({} bytes)", bytes.len());
    text.push_str(&hex_dump(&bytes));
    Ok(text)
}

/// Ticks as net-snmp prints them: `4242 (0:00:42.42)`, with days when there are any.
fn format_ticks(ticks: u32) -> String {
    let hundredths = ticks % 100;
    let seconds = ticks / 100;
    let (days, hours, minutes, seconds) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let clock = format!("{hours}:{minutes:02}:{seconds:02}.{hundredths:02}");
    match days {
        0 => format!("{ticks} ({clock})"),
        1 => format!("{ticks} (1 day, {clock})"),
        _ => format!("{ticks} ({days} days, {clock})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_dump_lays_out_offsets_hex_and_ascii() {
        let bytes: Vec<u8> = b"0}\x02\x01\x01\x04\x06public\xa7p\x02\x02\x30\x39\x02".to_vec();
        assert_eq!(
            hex_dump(&bytes),
            "0000  30 7d 02 01 01 04 06 70  75 62 6c 69 63 a7 70 02  0}.....public.p.\n\
             0010  02 30 39 02                                       .09.\n"
        );
        assert_eq!(hex_dump(&[]), "");
    }

    #[test]
    fn ticks_read_like_net_snmp() {
        assert_eq!(format_ticks(4242), "4242 (0:00:42.42)");
        assert_eq!(format_ticks(38952), "38952 (0:06:29.52)");
        assert_eq!(format_ticks(8_640_000), "8640000 (1 day, 0:00:00.00)");
        assert_eq!(format_ticks(u32::MAX), "4294967295 (497 days, 2:27:52.95)");
    }
}
