//! Pipelines: a source, the rules and a sink wired into one job.

pub mod audit;
pub mod mist;
pub mod trap;
