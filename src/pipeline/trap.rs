//! The audit → SNMP job: decode audits, evaluate trap bindings, deliver notifications.
