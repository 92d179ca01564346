//! Trap records shared by the SNMP tests.

use monbridge::record::{SnmpValue, Trap, VarBind};

/// The PMC-MIB `pmcStateLink` notification for an STLNK audit: seven SnmpAdminString objects.
pub fn state_link_trap() -> Trap {
    let object = |n: u32, name: &str, value: &str| VarBind {
        index: n,
        name: name.into(),
        oid: format!("1.3.6.1.4.1.39059.1.1.1.1.{n}")
            .parse()
            .expect("test OIDs are valid"),
        value: SnmpValue::OctetString(value.as_bytes().to_vec()),
    };
    Trap {
        rule: "stateLink".into(),
        oid: "1.3.6.1.4.1.39059.1.0.1"
            .parse()
            .expect("test OIDs are valid"),
        varbinds: vec![
            object(1, "nameGateway", "gw-lyon-01"),
            object(2, "nameService", "iec104-south"),
            object(3, "nameEvent", "STLNK"),
            object(4, "labelVariable", "PA-Lyon-1"),
            object(5, "valueVariable", "OFF"),
            object(6, "severity", "WARNING"),
            object(7, "date", "2026-11-21T09:15:42.317Z"),
        ],
    }
}
