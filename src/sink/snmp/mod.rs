//! SNMP notifications: BER encoding and delivery to managers.
