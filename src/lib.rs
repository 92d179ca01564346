//! monbridge: a rules engine that bridges monitoring systems.
//!
//! Data flows one way: a *source* turns outside data into a JSON document, the *rules*
//! (one language and its interpreter, [`lang`]) turn the document into plain
//! [`record`]s, and a *sink* writes the records out (Pandora agent XML, SNMP notifications).
//! Sources and sinks never see the language; the language never does I/O.

pub mod cli;
pub mod files;
pub mod import;
pub mod lang;
pub mod lsp;
pub mod mib;
pub mod package;
pub mod pipeline;
pub mod record;
pub mod serve;
pub mod sink;
pub mod source;
