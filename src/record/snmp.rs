//! SNMP records: the notifications trap bindings build, with their objects' OIDs, types and
//! values. They know nothing of the wire format; `sink::snmp` encodes them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Objects a trap may carry: indexes run from 1 to this.
pub const MAX_OBJECT_INDEX: u32 = 128;

/// One SNMP notification, built by a trap binding. The sender adds `sysUpTime.0` and
/// `snmpTrapOID.0` in front of `varbinds` when it encodes the PDU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trap {
    /// Name of the trap binding that built it.
    pub rule: Arc<str>,
    /// The NOTIFICATION-TYPE OID (`snmpTrapOID.0`).
    pub oid: Oid,
    /// The objects, in index order.
    pub varbinds: Vec<VarBind>,
}

impl Trap {
    /// The trap as a table: the notification OID, then one line per object.
    pub fn table(&self) -> String {
        let trap = self;
        let mut text = format!("trap {} {}\n", trap.rule, trap.oid);
        let name_width = trap
            .varbinds
            .iter()
            .map(|v| v.name.len())
            .max()
            .unwrap_or(0);
        let oid_width = trap
            .varbinds
            .iter()
            .map(|v| v.oid.to_string().len())
            .max()
            .unwrap_or(0);
        for varbind in &trap.varbinds {
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!(
                    "  {:>3}  {:<name_width$}  {:<oid_width$}  {:<17}  {}\n",
                    varbind.index,
                    varbind.name,
                    varbind.oid.to_string(),
                    varbind.value.snmp_type().smi_name(),
                    varbind.value,
                ),
            );
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarBind {
    /// The object's index in the binding (1-based, as in the seed's configuration).
    pub index: u32,
    /// The object's name (`nameGateway`, ...).
    pub name: Arc<str>,
    pub oid: Oid,
    pub value: SnmpValue,
}

/// SNMP types a rule may give an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SnmpType {
    OctetString,
    Integer,
    Gauge32,
    Counter32,
    Counter64,
    TimeTicks,
    IpAddress,
    ObjectId,
}

impl SnmpType {
    /// Every type with the name rules use for it.
    pub const ALL: [(SnmpType, &'static str); 8] = [
        (SnmpType::OctetString, "string"),
        (SnmpType::Integer, "integer"),
        (SnmpType::Gauge32, "gauge32"),
        (SnmpType::Counter32, "counter32"),
        (SnmpType::Counter64, "counter64"),
        (SnmpType::TimeTicks, "timeticks"),
        (SnmpType::IpAddress, "ipaddress"),
        (SnmpType::ObjectId, "oid"),
    ];

    pub fn from_rule_name(name: &str) -> Option<SnmpType> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(t, _)| *t)
    }

    pub fn rule_name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, n)| *n)
            .unwrap_or("string")
    }

    /// The name SMIv2 and net-snmp print for it.
    /// The values an object of this type takes, in words, for help lines.
    pub fn accepts(self) -> &'static str {
        match self {
            SnmpType::OctetString => "text (up to 255 bytes; longer text is cut)",
            SnmpType::Integer => "a whole number from -2147483648 to 2147483647",
            SnmpType::Gauge32 | SnmpType::Counter32 => "a whole number from 0 to 4294967295",
            SnmpType::Counter64 => "a whole number from 0 to 18446744073709551615",
            SnmpType::TimeTicks => "hundredths of a second, a whole number from 0 to 4294967295",
            SnmpType::IpAddress => "an IPv4 address such as \"192.0.2.1\"",
            SnmpType::ObjectId => "an OID in dotted decimals such as \"1.3.6.1.4.1.39059\"",
        }
    }

    pub fn smi_name(self) -> &'static str {
        match self {
            SnmpType::OctetString => "OCTET STRING",
            SnmpType::Integer => "INTEGER",
            SnmpType::Gauge32 => "Gauge32",
            SnmpType::Counter32 => "Counter32",
            SnmpType::Counter64 => "Counter64",
            SnmpType::TimeTicks => "TimeTicks",
            SnmpType::IpAddress => "IpAddress",
            SnmpType::ObjectId => "OBJECT IDENTIFIER",
        }
    }
}

/// A typed SNMP value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SnmpValue {
    OctetString(Vec<u8>),
    Integer(i32),
    Gauge32(u32),
    Counter32(u32),
    Counter64(u64),
    TimeTicks(u32),
    IpAddress([u8; 4]),
    ObjectId(Oid),
}

impl SnmpValue {
    pub fn snmp_type(&self) -> SnmpType {
        match self {
            SnmpValue::OctetString(_) => SnmpType::OctetString,
            SnmpValue::Integer(_) => SnmpType::Integer,
            SnmpValue::Gauge32(_) => SnmpType::Gauge32,
            SnmpValue::Counter32(_) => SnmpType::Counter32,
            SnmpValue::Counter64(_) => SnmpType::Counter64,
            SnmpValue::TimeTicks(_) => SnmpType::TimeTicks,
            SnmpValue::IpAddress(_) => SnmpType::IpAddress,
            SnmpValue::ObjectId(_) => SnmpType::ObjectId,
        }
    }
}

impl fmt::Display for SnmpValue {
    /// Strings are printed quoted with Rust escapes so that control characters and
    /// trailing spaces stay visible in tables and snapshots.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnmpValue::OctetString(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => write!(f, "{text:?}"),
                Err(_) => {
                    f.write_str("0x")?;
                    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
                }
            },
            SnmpValue::Integer(v) => write!(f, "{v}"),
            SnmpValue::Gauge32(v) | SnmpValue::Counter32(v) | SnmpValue::TimeTicks(v) => {
                write!(f, "{v}")
            }
            SnmpValue::Counter64(v) => write!(f, "{v}"),
            SnmpValue::IpAddress([a, b, c, d]) => write!(f, "{a}.{b}.{c}.{d}"),
            SnmpValue::ObjectId(oid) => write!(f, "{oid}"),
        }
    }
}

/// An OBJECT IDENTIFIER, kept as its arcs. Shared, not copied: every notification a
/// binding builds carries the binding's OIDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Oid(Arc<[u32]>);

impl Oid {
    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    /// This OID with one more arc.
    pub fn child(&self, arc: u32) -> Oid {
        let mut arcs = self.0.to_vec();
        arcs.push(arc);
        Oid::from(arcs)
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl From<Vec<u32>> for Oid {
    fn from(arcs: Vec<u32>) -> Oid {
        Oid(arcs.into())
    }
}

impl From<&[u32]> for Oid {
    fn from(arcs: &[u32]) -> Oid {
        Oid(arcs.into())
    }
}

impl TryFrom<String> for Oid {
    type Error = OidError;

    fn try_from(text: String) -> Result<Oid, OidError> {
        text.parse()
    }
}

impl From<Oid> for String {
    fn from(oid: Oid) -> String {
        oid.to_string()
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidError {
    #[error("an OID needs at least two arcs")]
    TooShort,
    #[error("arc {0:?} is not a number from 0 to 4294967295")]
    BadArc(String),
    #[error("the first arc must be 0, 1 or 2 (found {0})")]
    FirstArc(u32),
    #[error("under first arc {0} the second arc must be below 40 (found {1})")]
    SecondArc(u32, u32),
    #[error("an OID has at most 128 arcs")]
    TooLong,
}

impl OidError {
    /// What to write instead, for help lines.
    pub fn help(&self) -> &'static str {
        match self {
            OidError::TooShort => "write at least two arcs: `1.3.6.1.4.1.39059.1.0.1`",
            OidError::BadArc(_) => "each arc is a number from 0 to 4294967295, with no empty arc",
            OidError::FirstArc(_) => {
                "OIDs start with 0, 1 or 2; enterprise OIDs start with 1.3.6.1.4.1"
            }
            OidError::SecondArc(..) => "under 0 and 1 the second arc is 0 to 39 (1.3 is iso.org)",
            OidError::TooLong => "an OID has at most 128 arcs",
        }
    }
}

impl FromStr for Oid {
    type Err = OidError;

    /// Parses dotted decimal, with or without a leading dot (`.1.3.6.1` as net-snmp prints).
    fn from_str(text: &str) -> Result<Oid, OidError> {
        let text = text.strip_prefix('.').unwrap_or(text);
        let arcs = text
            .split('.')
            .map(|arc| {
                if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(OidError::BadArc(arc.to_owned()));
                }
                arc.parse::<u32>()
                    .map_err(|_| OidError::BadArc(arc.to_owned()))
            })
            .collect::<Result<Vec<u32>, OidError>>()?;
        if arcs.len() < 2 {
            return Err(OidError::TooShort);
        }
        if arcs.len() > 128 {
            return Err(OidError::TooLong);
        }
        // BER packs the first two arcs into one subidentifier: X*40+Y, so Y < 40 under 0 and 1.
        match (arcs[0], arcs[1]) {
            (first, _) if first > 2 => return Err(OidError::FirstArc(first)),
            (first, second) if first < 2 && second >= 40 => {
                return Err(OidError::SecondArc(first, second));
            }
            _ => {}
        }
        Ok(Oid::from(arcs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trips_and_rejects_bad_text() {
        let oid: Oid = ".1.3.6.1.4.1.39059.1.0.1".parse().unwrap();
        assert_eq!(oid.to_string(), "1.3.6.1.4.1.39059.1.0.1");
        assert_eq!("1".parse::<Oid>(), Err(OidError::TooShort));
        assert_eq!("1..3".parse::<Oid>(), Err(OidError::BadArc(String::new())));
        assert_eq!("3.1".parse::<Oid>(), Err(OidError::FirstArc(3)));
        assert_eq!("1.40".parse::<Oid>(), Err(OidError::SecondArc(1, 40)));
        assert!("1.3.+6".parse::<Oid>().is_err());
    }

    #[test]
    fn snmp_type_names_round_trip() {
        for (ty, name) in SnmpType::ALL {
            assert_eq!(SnmpType::from_rule_name(name), Some(ty));
            assert_eq!(ty.rule_name(), name);
        }
    }
}
