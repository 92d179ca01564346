//! Conversions of other tools' configurations into rules.

pub mod link_audit_trap;
