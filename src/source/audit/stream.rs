//! Audits read one at a time from a file or a pipe, with a bounded buffer.
//!
//! The input is cut into items without parsing it first: a line that holds a complete JSON
//! value on its own is one item (JSON lines, the common case); a line that opens an object or
//! a list it does not close starts a document that runs until the brackets balance (a
//! pretty-printed audit, a list, a REST list response), read whole up to
//! [`MAX_DOCUMENT_BYTES`]. Several values on one line or in one document (concatenated JSON)
//! are decoded one after the other. Each audit found is handed out before the next item is
//! read, so memory stays flat whatever the input's size, and an audit written to a pipe is
//! handed out as soon as its line ends.
//!
//! One bad item never loses the others: a line that does not parse is an error for that
//! line. A document that does not parse, or never closes, is one error for the whole
//! document, unless a later line of it is a complete object on its own: then the first line
//! was a truncated JSON line, and reading resumes at the line after it.

use std::collections::VecDeque;
use std::io::{self, Read};

use jiff::Timestamp;
use serde_json::Value;

use super::{AuditError, AuditErrorKind, MAX_AUDIT_BYTES, Position};
use super::{decode_document, fast_path, json_error_kind};

/// Largest document read whole: a line, or a value spanning several lines (a list, a REST
/// list response, a pretty-printed audit). Each audit inside it still has
/// [`MAX_AUDIT_BYTES`] as its own limit.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// What is read from the input at a time.
const READ_SIZE: usize = 64 * 1024;

/// One audit of the input, or why an item of it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The normalised audit, or the decoding error (with its line).
    pub result: Result<Value, AuditError>,
    /// For an error: the item's own text, when the error is about the whole of it (for the
    /// reject log). `None` for a list element or a notification's code.
    pub raw: Option<String>,
}

/// Reads audits one by one from `input` (see the module documentation).
pub struct AuditReader<R> {
    input: R,
    buffer: Vec<u8>,
    /// Unconsumed bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// The number of the line that starts at `start` (1-based).
    line: usize,
    /// Bytes consumed before `start`, for byte offsets in errors.
    consumed: u64,
    /// Audits of the last item not handed out yet (a list, a notification with several codes).
    pending: VecDeque<Decoded>,
    /// A fixed time of receipt (tests); `None` dates each item when it is read.
    received: Option<Timestamp>,
}

impl<R: Read> AuditReader<R> {
    pub fn new(input: R) -> AuditReader<R> {
        AuditReader {
            input,
            buffer: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            line: 1,
            consumed: 0,
            pending: VecDeque::new(),
            received: None,
        }
    }

    /// Audits without a timestamp of their own are dated `received` instead of now.
    pub fn received_at(mut self, received: Timestamp) -> AuditReader<R> {
        self.received = Some(received);
        self
    }

    /// The next audit, or `None` at the end of the input. An error reading the input ends it.
    pub fn next_audit(&mut self) -> io::Result<Option<Decoded>> {
        loop {
            if let Some(decoded) = self.pending.pop_front() {
                return Ok(Some(decoded));
            }
            if !self.next_item()? {
                return Ok(None);
            }
        }
    }

    /// Reads one item into `pending`; false at the end of the input.
    fn next_item(&mut self) -> io::Result<bool> {
        let Some(first) = self.line_at(0)? else {
            return Ok(false);
        };
        let Line::Text { content, next } = first else {
            self.skip_long_line()?;
            return Ok(true);
        };
        let text = trim_line(&self.buffer[self.start..self.start + content]);
        if text.is_empty() {
            self.consume(next, 1);
            return Ok(true);
        }
        let opens = matches!(text[0], b'{' | b'[');
        // The line on its own first: a complete JSON line, the common case, needs no scan.
        let decoded = self.decode(0, content, Position::line(self.line), true);
        let cut_short = matches!(
            decoded.as_slice(),
            [Decoded {
                result: Err(AuditError {
                    kind: AuditErrorKind::TruncatedJson { .. },
                    ..
                }),
                ..
            }]
        );
        let mut scan = Scan::default();
        if opens && cut_short {
            scan.feed(text);
        }
        if !opens || !cut_short || scan.is_complete() {
            self.pending.extend(decoded);
            self.consume(next, 1);
            return Ok(true);
        }
        self.document(scan, content, next)
    }

    /// A value that opens on the first line and closes on a later one.
    fn document(&mut self, mut scan: Scan, first_end: usize, mut next: usize) -> io::Result<bool> {
        let position = Position::line(self.line);
        let mut lines = 1;
        let mut content = first_end;
        let mut too_large = false;
        while !scan.is_complete() {
            match self.line_at(next)? {
                None => break,
                Some(Line::TooLong) => {
                    too_large = true;
                    break;
                }
                Some(Line::Text {
                    content: end,
                    next: after,
                }) => {
                    scan.feed(&self.buffer[self.start + next..self.start + end]);
                    lines += 1;
                    content = end;
                    next = after;
                    if next > MAX_DOCUMENT_BYTES {
                        too_large = true;
                        break;
                    }
                }
            }
        }
        if scan.is_complete() && !too_large {
            let decoded = self.decode(0, content, position, false);
            let unparsed = decoded.iter().any(|d| {
                matches!(
                    &d.result,
                    Err(AuditError {
                        kind: AuditErrorKind::NotJson { .. } | AuditErrorKind::TruncatedJson { .. },
                        ..
                    })
                )
            });
            if !unparsed || !self.holds_a_json_line(first_end) {
                self.pending.extend(decoded);
                self.consume(next, lines);
                return Ok(true);
            }
        } else if !self.holds_a_json_line(first_end) {
            let kind = if too_large {
                AuditErrorKind::DocumentTooLarge {
                    limit: MAX_DOCUMENT_BYTES,
                }
            } else {
                AuditErrorKind::TruncatedJson {
                    detail: "the input ends inside this value".to_owned(),
                }
            };
            let raw = (!too_large).then(|| self.text(0, content));
            self.pending.push_back(Decoded {
                result: Err(AuditError::new(position, kind)),
                raw,
            });
            if too_large {
                // Without its end the document cannot be resumed after: drop the rest of
                // its last line.
                self.consume(self.end - self.start, lines);
                self.skip_rest()?;
            } else {
                self.consume(next, lines);
            }
            return Ok(true);
        }
        // A truncated JSON line followed by good ones: the first line alone is the error
        // (as the parser words it for that line).
        let decoded = self.decode(0, first_end, position, true);
        self.pending.extend(decoded);
        let after_first = self.after_line(0);
        self.consume(after_first, 1);
        Ok(true)
    }

    /// Whether a line after the first, in what is buffered, is a complete JSON object on
    /// its own: then the first line is a JSON line cut short, not the start of a document.
    fn holds_a_json_line(&self, first_end: usize) -> bool {
        let data = &self.buffer[self.start..self.end];
        let rest = data.get(first_end..).unwrap_or_default();
        rest.split(|&b| b == b'\n').skip(1).any(|line| {
            let line = trim_line(line);
            let mut scan = Scan::default();
            scan.feed(line);
            line.first() == Some(&b'{') && line.last() == Some(&b'}') && scan.is_complete()
        })
    }

    /// The offset after the line starting at `at` (relative to `start`), which is buffered.
    fn after_line(&self, at: usize) -> usize {
        let data = &self.buffer[self.start + at..self.end];
        data.iter()
            .position(|&b| b == b'\n')
            .map_or(self.end - self.start, |newline| at + newline + 1)
    }

    fn text(&self, from: usize, to: usize) -> String {
        let bytes = trim_line(&self.buffer[self.start + from..self.start + to]);
        String::from_utf8_lossy(bytes.trim_ascii()).into_owned()
    }

    /// The audits of `buffer[start + from .. start + to]`.
    fn decode(&self, from: usize, to: usize, position: Position, line: bool) -> Vec<Decoded> {
        let bytes = trim_line(&self.buffer[self.start + from..self.start + to]);
        let received = self.received.unwrap_or_else(Timestamp::now);
        let results = match std::str::from_utf8(bytes) {
            Ok(text) => decode_text(text, position, line, received),
            Err(error) => vec![Err(AuditError::new(
                position,
                AuditErrorKind::InvalidUtf8 {
                    offset: (self.consumed as usize)
                        .saturating_add(from)
                        .saturating_add(error.valid_up_to()),
                },
            ))],
        };
        let whole_item_failed = results.len() == 1;
        results
            .into_iter()
            .map(|result| {
                let raw = match &result {
                    Err(_) if whole_item_failed => Some(self.text(from, to)),
                    _ => None,
                };
                Decoded { result, raw }
            })
            .collect()
    }

    /// The line starting `at` bytes after `start`, reading more input as needed; `None` at
    /// the end of the input.
    fn line_at(&mut self, at: usize) -> io::Result<Option<Line>> {
        let mut searched = at;
        loop {
            let data = &self.buffer[self.start..self.end];
            if let Some(newline) = data[searched..].iter().position(|&b| b == b'\n') {
                let content = searched + newline;
                return Ok(Some(Line::Text {
                    content,
                    next: content + 1,
                }));
            }
            searched = data.len();
            if self.eof {
                return Ok((data.len() > at).then_some(Line::Text {
                    content: data.len(),
                    next: data.len(),
                }));
            }
            if searched - at > MAX_DOCUMENT_BYTES {
                return Ok(Some(Line::TooLong));
            }
            self.fill()?;
        }
    }

    /// Reports the line at `start`, longer than any document may be, and skips it.
    fn skip_long_line(&mut self) -> io::Result<()> {
        let position = Position::line(self.line);
        self.pending.push_back(Decoded {
            result: Err(AuditError::new(
                position,
                AuditErrorKind::DocumentTooLarge {
                    limit: MAX_DOCUMENT_BYTES,
                },
            )),
            raw: None,
        });
        self.skip_rest()
    }

    /// Drops input up to and including the next newline.
    fn skip_rest(&mut self) -> io::Result<()> {
        loop {
            let data = &self.buffer[self.start..self.end];
            if let Some(newline) = data.iter().position(|&b| b == b'\n') {
                self.consume(newline + 1, 1);
                return Ok(());
            }
            self.consumed += data.len() as u64;
            self.start = self.end;
            if self.eof {
                return Ok(());
            }
            self.fill()?;
        }
    }

    fn consume(&mut self, bytes: usize, lines: usize) {
        self.start += bytes;
        self.consumed += bytes as u64;
        self.line += lines;
    }

    /// Reads more input after `end`, first moving what is unconsumed to the front.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buffer.len() - self.end < READ_SIZE {
            self.buffer.resize(self.end + READ_SIZE, 0);
        }
        loop {
            match self.input.read(&mut self.buffer[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(read) => {
                    self.end += read;
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
}

enum Line {
    /// Its text ends at `content` (before the newline); the next line starts at `next`.
    Text { content: usize, next: usize },
    /// Longer than [`MAX_DOCUMENT_BYTES`] without a newline.
    TooLong,
}

fn trim_line(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line).trim_ascii()
}

/// The audits of one item's text: each JSON value in it, decoded.
fn decode_text(
    text: &str,
    position: Position,
    line: bool,
    received: Timestamp,
) -> Vec<Result<Value, AuditError>> {
    if text.len() <= MAX_AUDIT_BYTES
        && let Some(audits) = fast_path(text, received)
    {
        return audits.into_iter().map(Ok).collect();
    }
    let mut results = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        match value {
            Ok(document) => {
                results.extend(decode_document(document, text.len(), position, received))
            }
            Err(error) => {
                results.push(Err(AuditError::new(
                    position,
                    json_error_kind(&error, line),
                )));
                break;
            }
        }
    }
    results
}

/// Where a value stands after the bytes seen so far: bracket depth and strings, without
/// parsing.
#[derive(Debug, Default)]
struct Scan {
    depth: i64,
    opened: bool,
    in_string: bool,
    escaped: bool,
}

impl Scan {
    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
    }

    /// Every bracket opened is closed (or more were closed: the parser will say so).
    fn is_complete(&self) -> bool {
        self.depth <= 0 && !self.in_string
    }
}

#[cfg(test)]
mod tests;
