//! Diagnostics for the editor: the folder checked as `monbridge check` loads it, each finding
//! turned into an LSP diagnostic of the file it belongs to.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
};

use super::text;
use crate::lang::RuleSet;
use crate::lang::diag::{self, Severity};

/// Checks the files of one folder together (so `use` across files resolves) and returns the
/// diagnostics of each file, an empty list for a file without any.
pub fn check_folder(files: &[(PathBuf, String)]) -> BTreeMap<PathBuf, Vec<Diagnostic>> {
    let sources = files
        .iter()
        .map(|(path, text)| (path.display().to_string(), text.clone()))
        .collect();
    let found = match RuleSet::from_sources(sources, &BTreeMap::new()) {
        Ok(rules) => rules.warnings().to_vec(),
        Err(error) => error.diagnostics,
    };
    let mut out: BTreeMap<PathBuf, Vec<Diagnostic>> = files
        .iter()
        .map(|(path, _)| (path.clone(), Vec::new()))
        .collect();
    for found in &found {
        // Sources get their ids in the order given, so the id indexes `files`.
        let Some((path, source)) = files.get(found.span.file as usize) else {
            continue;
        };
        if let Some(list) = out.get_mut(path) {
            list.push(to_lsp(found, source, files));
        }
    }
    out
}

fn to_lsp(found: &diag::Diagnostic, source: &str, files: &[(PathBuf, String)]) -> Diagnostic {
    let mut message = found.message.clone();
    if !found.label.is_empty() {
        message.push_str(&format!("\n{}", found.label));
    }
    for note in &found.notes {
        message.push_str(&format!("\nnote: {note}"));
    }
    if let Some(help) = &found.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    Diagnostic {
        range: caret_range(source, found.span.start as usize, found.span.end as usize),
        severity: Some(match found.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(found.code.to_string())),
        source: Some("monbridge".to_owned()),
        message,
        related_information: related(found, files),
        ..Diagnostic::default()
    }
}

/// The other places `check` points at (`first defined here`), in whichever file they are.
fn related(
    found: &diag::Diagnostic,
    files: &[(PathBuf, String)],
) -> Option<Vec<DiagnosticRelatedInformation>> {
    let places: Vec<DiagnosticRelatedInformation> = found
        .related
        .iter()
        .filter_map(|(span, label)| {
            let (path, source) = files.get(span.file as usize)?;
            Some(DiagnosticRelatedInformation {
                location: Location::new(
                    text::path_to_uri(path)?,
                    caret_range(source, span.start as usize, span.end as usize),
                ),
                message: label.clone(),
            })
        })
        .collect();
    (!places.is_empty()).then_some(places)
}

/// The range the caret of `check` covers: the span, or for an empty span the one character
/// the renderer puts its caret under (none at a line's end).
fn caret_range(source: &str, start: usize, end: usize) -> lsp_types::Range {
    let mut end = end;
    if end <= start
        && let Some(next) = source.get(start..).and_then(|rest| rest.chars().next())
        && next != '\n'
    {
        end = start + next.len_utf8();
    }
    text::range(source, start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::Position;

    #[test]
    fn a_typo_in_a_root_is_e0201_on_its_word() {
        let path = PathBuf::from("/r/a.rules");
        let text = "# → arrow\nobjects c {\n    1 x = audti.detail.a\n}\n".to_owned();
        let out = check_folder(&[(path.clone(), text)]);
        let list = &out[&path];
        let e = list
            .iter()
            .find(|d| d.code == Some(NumberOrString::String("E0201".into())))
            .unwrap();
        assert_eq!(e.range.start, Position::new(2, 10));
        assert_eq!(e.range.end, Position::new(2, 15));
        assert_eq!(e.severity, Some(DiagnosticSeverity::ERROR));
    }

    #[test]
    fn an_empty_span_covers_the_character_under_the_caret() {
        let range = caret_range("a → b\n", 2, 2);
        assert_eq!((range.start.character, range.end.character), (2, 3));
        let range = caret_range("ab\n", 2, 2);
        assert_eq!(range.start, range.end);
    }

    #[test]
    fn a_duplicate_points_at_the_first_definition_in_the_other_file() {
        let a = PathBuf::from("/r/a.rules");
        let b = PathBuf::from("/r/b.rules");
        let block = "objects common {\n    1 x = audit.source\n}\n".to_owned();
        let out = check_folder(&[(a.clone(), block.clone()), (b.clone(), block)]);
        let duplicate = out[&a]
            .iter()
            .chain(&out[&b])
            .find(|d| d.code == Some(NumberOrString::String("E0207".into())))
            .unwrap();
        let related = duplicate.related_information.as_ref().unwrap();
        assert!(
            related[0].location.uri.as_str().ends_with(".rules"),
            "{related:?}"
        );
    }

    #[test]
    fn use_resolves_across_files() {
        let a = PathBuf::from("/r/a.rules");
        let b = PathBuf::from("/r/b.rules");
        let files = [
            (a.clone(), "objects common {\n    1 x = audit.source\n}\n".to_owned()),
            (
                b.clone(),
                "trap t when audit.source == \"STLNK\" {\n    oid 1.3.6.1.4.1.1.0.1\n    base 1.3.6.1.4.1.1.1\n    use common\n}\n".to_owned(),
            ),
        ];
        let out = check_folder(&files);
        assert!(out[&a].is_empty(), "{:?}", out[&a]);
        assert!(out[&b].is_empty(), "{:?}", out[&b]);
    }
}
