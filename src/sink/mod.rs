//! Sinks: records written out to the monitoring systems that consume them.

pub mod pandora;
pub mod snmp;
