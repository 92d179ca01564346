//! Integration tests: snmp.
