//! SNMP notifications: BER encoding and delivery to managers.
//!
//! A [`Trap`](crate::record::Trap) record becomes one SNMP message:
//! - SNMPv2c Trap-PDU or InformRequest-PDU (RFC 1901, RFC 3416): `sysUpTime.0`, `snmpTrapOID.0`,
//!   then the record's objects in order;
//! - SNMPv1 Trap-PDU (RFC 1157), with the trap identity mapped as RFC 3584 §3.2 says.
//!
//! The encoding ([`encode`]) is deterministic: request-id and uptime come from the caller.
//! [`decode`] reads such messages (and a manager's Response) back into a plain
//! [`DecodedMessage`]; [`render_table`] and [`hex_dump`] make them readable. [`Sender`] owns
//! the UDP socket, the uptime clock and the request-ids, and reports one outcome per
//! [`Destination`]; [`SenderConfig`] says how it speaks ([`Security`]: community or USM user;
//! traps or informs), checked by [`check_settings`] for the command line and the daemon alike.
//!
//! SNMPv3 ([`usm`]) wraps the same SNMPv2 PDUs in the User-based Security Model: the sender
//! is the authoritative engine for traps, the manager for informs.

mod ber;
mod decode;
mod destination;
mod security;
mod sender;
mod table;
pub mod usm;

pub use ber::{
    EncodeError, Envelope, MAX_OCTET_STRING_LEN, SNMP_TRAP_OID_0, SYS_UP_TIME_0, V1Identity,
    encode, encode_into, v1_identity,
};
pub use decode::{DecodeError, DecodedMessage, V1Header, decode, trap_oid_from_v1};
pub use destination::{Destination, DestinationError};
pub use security::{
    Community, CommunitySetting, NotificationKind, Security, SecurityError, SenderConfig,
    SenderSettings, Version, check_settings,
};
pub use sender::{Delivery, DeliveryError, Sender, SenderError, process_start};
pub use table::{OidNames, describe, hex_dump, render_table};

/// The `version` field of the community-based messages monbridge sends (SNMPv3 messages have
/// their own format; [`Version`] is the operator's choice of the three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnmpVersion {
    V1,
    V2c,
}

impl SnmpVersion {
    /// The value of the message's `version` field.
    pub fn wire_value(self) -> i64 {
        match self {
            SnmpVersion::V1 => 0,
            SnmpVersion::V2c => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SnmpVersion::V1 => "SNMPv1",
            SnmpVersion::V2c => "SNMPv2c",
        }
    }
}

/// The PDUs a notification exchange uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduKind {
    /// An unconfirmed notification (v1 Trap-PDU or SNMPv2-Trap-PDU).
    Trap,
    /// A confirmed notification: the manager answers with a Response.
    InformRequest,
    /// The manager's answer to an InformRequest.
    Response,
}

impl PduKind {
    pub fn name(self) -> &'static str {
        match self {
            PduKind::Trap => "Trap",
            PduKind::InformRequest => "InformRequest",
            PduKind::Response => "Response",
        }
    }
}
