//! Converting rule values to SNMP values: when the rules load for constants, and when they
//! run for everything else, with one set of range and type checks.

use std::borrow::Cow;

use super::program::Const;
use super::value::{Val, format_number};
use crate::record::{Oid, SnmpType, SnmpValue};

/// Checks a constant against an SNMP type when the rules load.
pub(super) fn constant_as_snmp(constant: &Const, snmp_type: SnmpType) -> Result<SnmpValue, String> {
    let value = match constant {
        Const::Null => Val::Null,
        Const::Bool(b) => Val::Bool(*b),
        Const::Number(n) => Val::Number(*n),
        Const::Str(s) => Val::Str(Cow::Borrowed(s)),
        Const::Missing(message) => return Err(message.clone()),
    };
    snmp_value(&value, snmp_type).map_err(|misfit| match misfit {
        Misfit::Null(message) | Misfit::Wrong(message) => message,
    })
}

/// Why a value is not an SNMP value of the object's type.
pub(super) enum Misfit {
    /// The value is null: a fallback (`??`) can stand in for it.
    Null(String),
    /// The value is of the wrong kind or out of range.
    Wrong(String),
}

/// Converts a value to the object's SNMP type.
pub(super) fn snmp_value(value: &Val<'_>, snmp_type: SnmpType) -> Result<SnmpValue, Misfit> {
    let misfit = Misfit::Wrong;
    let number = |value: &Val<'_>| -> Option<f64> {
        match value {
            Val::Number(n) => Some(*n),
            Val::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    };
    let whole = |value: &Val<'_>, min: f64, max: f64| -> Result<u64, Misfit> {
        match number(value) {
            Some(n) if n.fract() == 0.0 && n >= min && n <= max => Ok(n as i64 as u64),
            _ => Err(misfit(format!(
                "{} does not fit {} (a whole number from {} to {})",
                value.preview(),
                snmp_type.smi_name(),
                format_number(min),
                format_number(max)
            ))),
        }
    };
    match snmp_type {
        SnmpType::OctetString => match value {
            Val::Null => Err(Misfit::Null(
                "the value is null; give a fallback with `??`".to_owned(),
            )),
            other => match other.to_text() {
                Some(text) => Ok(SnmpValue::OctetString(text.into_owned().into_bytes())),
                None => Err(misfit(format!(
                    "{} cannot be an OCTET STRING; pick a field or use join()",
                    other.kind()
                ))),
            },
        },
        SnmpType::Integer => match number(value) {
            Some(n) if n.fract() == 0.0 && n >= f64::from(i32::MIN) && n <= f64::from(i32::MAX) => {
                Ok(SnmpValue::Integer(n as i32))
            }
            _ => Err(misfit(format!(
                "{} does not fit INTEGER (a whole number from -2147483648 to 2147483647)",
                value.preview()
            ))),
        },
        SnmpType::Gauge32 => whole(value, 0.0, 4294967295.0).map(|n| SnmpValue::Gauge32(n as u32)),
        SnmpType::Counter32 => {
            whole(value, 0.0, 4294967295.0).map(|n| SnmpValue::Counter32(n as u32))
        }
        SnmpType::TimeTicks => {
            whole(value, 0.0, 4294967295.0).map(|n| SnmpValue::TimeTicks(n as u32))
        }
        SnmpType::Counter64 => match value {
            // Counters beyond 2^53 lose precision as f64; parse text exactly.
            Val::Str(s) => s
                .trim()
                .parse::<u64>()
                .map(SnmpValue::Counter64)
                .map_err(|_| misfit(format!("{} does not fit Counter64", value.preview()))),
            _ => whole(value, 0.0, 18446744073709551615.0).map(SnmpValue::Counter64),
        },
        SnmpType::IpAddress => match value {
            Val::Str(s) => s
                .trim()
                .parse::<std::net::Ipv4Addr>()
                .map(|ip| SnmpValue::IpAddress(ip.octets()))
                .map_err(|_| misfit(format!("{} is not an IPv4 address", value.preview()))),
            other => Err(misfit(format!(
                "{} is not an IPv4 address",
                other.preview()
            ))),
        },
        SnmpType::ObjectId => match value {
            Val::Str(s) => s
                .parse::<Oid>()
                .map(SnmpValue::ObjectId)
                .map_err(|e| misfit(format!("{} is not an OID: {e}", value.preview()))),
            other => Err(misfit(format!("{} is not an OID", other.preview()))),
        },
    }
}
