//! Sources: outside systems turned into the JSON documents rules read.

pub mod audit;
pub mod fledge;
pub mod mist;

/// An error with its causes on one line, saying what actually went wrong ("connection
/// refused") without repeating a cause the message already holds. Shared by the HTTP clients
/// of the sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
