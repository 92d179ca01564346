//! Integration tests: one binary, one module per capability.

mod audit;
mod cli;
mod common;
mod default_traps;
mod doc_commands;
mod docs;
mod fledge_plugin;
mod fmt;
mod import;
mod lang;
mod layering;
mod limits;
mod lsp;
mod mib;
mod mib_check;
mod mist;
mod package;
mod pandora;
mod partial_failure;
mod serve;
mod serve_fledge;
mod serve_v3;
mod snmp;
mod snmp_v3;
mod trap_e2e;
mod upstream_audits;
