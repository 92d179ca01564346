//! Diagnostics: what went wrong in a rules file, where, and what to do about it.
//!
//! The data model is ours; annotate-snippets only renders it, so the renderer can change
//! without touching the checks. Every diagnostic has a stable code from [`Code`]; a code
//! that has shipped is never reused for another meaning.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

use super::ast::Span;

/// Every diagnostic code, with a one-line summary. `docs/diagnostics.md` lists them all
/// (a test keeps the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The text is not valid rules syntax.
    E0101,
    /// An OID literal is malformed.
    E0102,
    /// A string escape is not one the language knows.
    E0103,
    /// A rules file could not be read or is too large.
    E0104,
    /// Rules nested too deep or an expression too long.
    E0105,
    /// A path starts with a name that is neither a root nor a loop variable.
    E0201,
    /// A call names a function that does not exist.
    E0202,
    /// A function is called with the wrong number or kind of arguments.
    E0203,
    /// An object names an SNMP type that does not exist.
    E0204,
    /// A module names a Pandora module type that does not exist.
    E0205,
    /// An agent or module field that Pandora does not know.
    E0206,
    /// Two rules or blocks share a name.
    E0207,
    /// `use` names an objects block that does not exist.
    E0208,
    /// Two objects of one trap share an index or a name.
    E0209,
    /// An object index is out of range.
    E0210,
    /// A root that this kind of rule cannot read.
    E0211,
    /// An environment variable the rules read is not set.
    E0212,
    /// A required field or statement is missing.
    E0213,
    /// A field or statement is given twice.
    E0214,
    /// A `.key` path outside a predicate.
    E0215,
    /// A `jsonpath(...)` query does not compile.
    E0216,
    /// A loop variable hides a root or another variable.
    E0217,
    /// A constant value cannot have the object's SNMP type.
    E0218,
    /// A statement in a place where it has no meaning.
    E0219,
    /// A value whose kind is known when the rules load is the wrong kind for its place.
    E0220,
    /// Two objects of one trap binding have the same OID.
    W0201,
    /// Two trap bindings send the same notification OID.
    W0202,
    /// A trap condition names an audit code Fledge does not write.
    W0203,
    /// `$name` in a string: text, not an interpolation.
    W0204,
    /// A file in the rules folder whose name looks meant for a rules file is not read.
    W0205,
    /// A trap binding's notification OID is not a NOTIFICATION-TYPE of the MIBs.
    E0401,
    /// An object's OID is not an OBJECT-TYPE of the MIBs.
    E0402,
    /// An object's SNMP type is not the one its OBJECT-TYPE's SYNTAX encodes to.
    E0403,
    /// A constant value is outside its OBJECT-TYPE's SIZE or range.
    E0404,
    /// Objects are not in the order of the notification's OBJECTS.
    E0405,
    /// A binding does not send an object its notification's OBJECTS lists.
    E0406,
    /// An object is not among the notification's OBJECTS.
    W0401,
    /// A path was missing at run time and the rule gave no `??` fallback.
    E0301,
    /// A value had the wrong type at run time.
    E0302,
    /// A value could not be converted to the object's SNMP type.
    E0303,
}

impl Code {
    pub const ALL: [Code; 40] = [
        Code::E0101,
        Code::E0102,
        Code::E0103,
        Code::E0104,
        Code::E0105,
        Code::E0201,
        Code::E0202,
        Code::E0203,
        Code::E0204,
        Code::E0205,
        Code::E0206,
        Code::E0207,
        Code::E0208,
        Code::E0209,
        Code::E0210,
        Code::E0211,
        Code::E0212,
        Code::E0213,
        Code::E0214,
        Code::E0215,
        Code::E0216,
        Code::E0217,
        Code::E0218,
        Code::E0219,
        Code::E0220,
        Code::W0201,
        Code::W0202,
        Code::W0203,
        Code::W0204,
        Code::W0205,
        Code::E0401,
        Code::E0402,
        Code::E0403,
        Code::E0404,
        Code::E0405,
        Code::E0406,
        Code::W0401,
        Code::E0301,
        Code::E0302,
        Code::E0303,
    ];

    pub fn summary(self) -> &'static str {
        match self {
            Code::E0101 => "syntax error",
            Code::E0102 => "malformed OID",
            Code::E0103 => "unknown string escape",
            Code::E0104 => "unreadable rules file",
            Code::E0105 => "rules nested too deep",
            Code::E0201 => "unknown root",
            Code::E0202 => "unknown function",
            Code::E0203 => "wrong arguments",
            Code::E0204 => "unknown SNMP type",
            Code::E0205 => "unknown module type",
            Code::E0206 => "unknown field",
            Code::E0207 => "duplicate rule name",
            Code::E0208 => "unknown objects block",
            Code::E0209 => "duplicate object",
            Code::E0210 => "object index out of range",
            Code::E0211 => "root not available here",
            Code::E0212 => "environment variable not set",
            Code::E0213 => "missing field",
            Code::E0214 => "duplicate field",
            Code::E0215 => "relative path outside a predicate",
            Code::E0216 => "invalid JSONPath",
            Code::E0217 => "variable hides a name",
            Code::E0218 => "constant does not fit the SNMP type",
            Code::E0219 => "statement out of place",
            Code::E0220 => "wrong type",
            Code::W0201 => "objects with the same OID",
            Code::W0202 => "notification OID of two bindings",
            Code::W0203 => "unknown audit code",
            Code::W0204 => "`$` without braces",
            Code::W0205 => "file not read",
            Code::E0401 => "notification not in the MIBs",
            Code::E0402 => "object not in the MIBs",
            Code::E0403 => "SNMP type differs from the SYNTAX",
            Code::E0404 => "constant outside the SIZE or range",
            Code::E0405 => "objects out of OBJECTS order",
            Code::E0406 => "OBJECTS member not sent",
            Code::W0401 => "object not in OBJECTS",
            Code::E0301 => "missing value",
            Code::E0302 => "wrong value type",
            Code::E0303 => "value does not fit the SNMP type",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about the rules, with where it is and what may fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    /// Text under the caret.
    pub label: String,
    /// Other places that explain this one (`first defined here`).
    pub related: Vec<(Span, String)>,
    pub notes: Vec<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean" when one of `candidates` is close to `found`.
    pub fn suggest<'a>(
        self,
        found: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Diagnostic {
        match did_you_mean(found, candidates) {
            Some(best) => self.help(format!("did you mean `{best}`?")),
            None => self,
        }
    }
}

/// The closest candidate, if it is close enough to be a likely typo: similar by
/// Jaro–Winkler, or one edit away (a swapped, missing, extra or wrong letter), which
/// Jaro–Winkler misses in short names (`evn` for `env`).
pub fn did_you_mean<'a>(
    found: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let found_lower = found.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let candidate_lower = candidate.to_ascii_lowercase();
            let mut score = strsim::jaro_winkler(&found_lower, &candidate_lower);
            if found_lower.len() >= 3 && strsim::osa_distance(&found_lower, &candidate_lower) == 1 {
                score = score.max(0.95);
            }
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// The loaded source files diagnostics point into.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown to the operator: a path, or `<embedded>/audit.rules`.
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceMap {
    pub fn add(&mut self, name: String, text: String) -> u32 {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        self.files.push(SourceFile {
            name,
            text,
            line_starts,
        });
        // Files are loaded from one folder; their count is far below u32::MAX.
        (self.files.len() - 1) as u32
    }

    pub fn file(&self, id: u32) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// `file:line:col` (1-based; the column counts characters).
    pub fn location(&self, span: Span) -> String {
        match self.file(span.file) {
            Some(file) => {
                let (line, col) = file.line_col(span.start as usize);
                format!("{}:{line}:{col}", file.name)
            }
            None => "<unknown>".to_owned(),
        }
    }

    /// The source text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.file(span.file)
            .and_then(|file| file.text.get(span.range()))
            .unwrap_or("")
    }

    /// Renders diagnostics the way rustc does, all of them, in order, and a last line
    /// counting the errors.
    pub fn render(&self, diagnostics: &[Diagnostic], color: bool) -> String {
        let mut out = self.render_each(diagnostics, color);
        let errors = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        if errors > 0 {
            let plural = if errors == 1 { "" } else { "s" };
            out.push_str(&format!(
                "error: rules not loaded: {errors} error{plural}\n"
            ));
        }
        out
    }

    /// Renders diagnostics without the closing count.
    pub fn render_each(&self, diagnostics: &[Diagnostic], color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut out = String::new();
        for diagnostic in diagnostics {
            out.push_str(&renderer.render(&self.report(diagnostic)));
            out.push_str("\n\n");
        }
        out
    }

    fn report<'a>(&'a self, diagnostic: &'a Diagnostic) -> Vec<Group<'a>> {
        let level = match diagnostic.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code.to_string());
        let mut group = Group::with_title(title);
        match self.file(diagnostic.span.file) {
            // A folder or a file that could not be read: its name alone, no made-up line.
            Some(file) if file.text.is_empty() => {
                group = group.element(Origin::path(file.name.as_str()));
            }
            Some(file) => {
                let mut snippet = Snippet::source(file.text.as_str())
                    .path(file.name.as_str())
                    .fold(true)
                    .annotation(
                        AnnotationKind::Primary
                            .span(clamp(diagnostic.span, &file.text))
                            .label(non_empty(&diagnostic.label)),
                    );
                for (span, label) in &diagnostic.related {
                    if span.file == diagnostic.span.file {
                        snippet = snippet.annotation(
                            AnnotationKind::Context
                                .span(clamp(*span, &file.text))
                                .label(label.as_str()),
                        );
                    }
                }
                group = group.element(snippet);
            }
            None => {}
        }
        // Places in other files (a rule defined twice, in two files) get a snippet of their own.
        for (span, label) in &diagnostic.related {
            if span.file != diagnostic.span.file
                && let Some(other) = self.file(span.file)
            {
                group = group.element(
                    Snippet::source(other.text.as_str())
                        .path(other.name.as_str())
                        .fold(true)
                        .annotation(
                            AnnotationKind::Context
                                .span(clamp(*span, &other.text))
                                .label(label.as_str()),
                        ),
                );
            }
        }
        for note in &diagnostic.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        if let Some(help) = &diagnostic.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        vec![group]
    }
}

impl SourceFile {
    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset.min(self.text.len()))
            .map(|prefix| prefix.chars().count())
            .unwrap_or(0);
        (line, column + 1)
    }
}

fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// Keeps a span inside the text and on character boundaries, so rendering never panics.
fn clamp(span: Span, text: &str) -> std::ops::Range<usize> {
    let mut start = (span.start as usize).min(text.len());
    let mut end = (span.end as usize).clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let mut map = SourceMap::default();
        let id = map.add("x.rules".into(), "ab\néé x\n".into());
        let file = map.file(id).unwrap();
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        assert_eq!(file.line_col(8), (2, 4));
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(
            did_you_mean("adit", ["audit", "env", "param"]),
            Some("audit")
        );
        assert_eq!(did_you_mean("zzz", ["audit", "env", "param"]), None);
    }
}
