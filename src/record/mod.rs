//! Records: the plain data the interpreter produces and the sinks consume, and the output
//! vocabulary both sides share (SNMP types, Pandora's agent and module fields).
//!
//! Records know nothing of the rules language nor of the wire formats, so snapshot
//! tests can lock them independently of both.

pub mod pandora;
pub mod snmp;

pub use pandora::{Agent, Module};
pub use snmp::{MAX_OBJECT_INDEX, Oid, OidError, SnmpType, SnmpValue, Trap, VarBind};
