//! Sources: outside systems turned into the JSON documents rules read.

pub mod audit;
pub mod fledge;
pub mod mist;
