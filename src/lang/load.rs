//! Where rules come from: a folder of `*.rules` files or the defaults embedded in the binary,
//! and the error that reports every diagnostic when they do not load.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::ast::Span;
use super::diag::{Code, Diagnostic, SourceMap};

/// A rules file larger than this is refused: rules are written by hand, and the limit keeps
/// spans within `u32` and a mistaken path (a log file, a binary) from being parsed.
pub const MAX_RULES_FILE: usize = 4 * 1024 * 1024;

/// The default rules, embedded so the binary works with no rules folder at all.
pub const DEFAULT_RULES: [(&str, &str); 2] = [
    ("audit.rules", include_str!("../../rules/audit.rules")),
    ("mist.rules", include_str!("../../rules/mist.rules")),
];

/// The golden cases of the default rules, embedded with them: `(name, NAME.json,
/// NAME.expected)`.
pub const DEFAULT_CASES: [(&str, &str, &str); 8] = [
    (
        "audit_all_codes",
        include_str!("../../rules/tests/audit_all_codes.json"),
        include_str!("../../rules/tests/audit_all_codes.expected"),
    ),
    (
        "audit_shapes",
        include_str!("../../rules/tests/audit_shapes.json"),
        include_str!("../../rules/tests/audit_shapes.expected"),
    ),
    (
        "audit_unmatched_and_missing",
        include_str!("../../rules/tests/audit_unmatched_and_missing.json"),
        include_str!("../../rules/tests/audit_unmatched_and_missing.expected"),
    ),
    (
        "mist_fixture_org",
        include_str!("../../rules/tests/mist_fixture_org.json"),
        include_str!("../../rules/tests/mist_fixture_org.expected"),
    ),
    (
        "upstream_conch_bulk",
        include_str!("../../rules/tests/upstream_conch_bulk.json"),
        include_str!("../../rules/tests/upstream_conch_bulk.expected"),
    ),
    (
        "upstream_conch_single",
        include_str!("../../rules/tests/upstream_conch_single.json"),
        include_str!("../../rules/tests/upstream_conch_single.expected"),
    ),
    (
        "upstream_srvfl",
        include_str!("../../rules/tests/upstream_srvfl.json"),
        include_str!("../../rules/tests/upstream_srvfl.expected"),
    ),
    (
        "upstream_unknown_severity",
        include_str!("../../rules/tests/upstream_unknown_severity.json"),
        include_str!("../../rules/tests/upstream_unknown_severity.expected"),
    ),
];

/// Where rules come from and how `env.*` resolves.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Folder whose `*.rules` files are loaded; `None` means the defaults embedded in the binary.
    pub dir: Option<PathBuf>,
    /// `env.NAME` values that take precedence over the process environment (tests, `--env`).
    pub env: BTreeMap<String, String>,
}

/// What a rules folder holds: the `*.rules` files, and files whose names look meant to be
/// rules files but are not read (`audit.rule`, `audit.rules.txt`, `audit.RULES`).
pub(super) struct Folder {
    pub files: Vec<(String, String)>,
    pub near_misses: Vec<String>,
}

/// A name an operator probably meant as a rules file. Editor backups (`~`, `.bak`, `.orig`,
/// `.swp`) are left alone: they are meant to be ignored.
fn near_miss(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    (extension != "rules" && extension.eq_ignore_ascii_case("rules"))
        || ["rule", "rls", "ruels", "rulse", "rues"]
            .contains(&extension.to_ascii_lowercase().as_str())
        || lower.ends_with(".rules.txt")
        || lower.ends_with(".rules.conf")
}

pub(super) fn read_dir(dir: &Path) -> Result<Folder, LoadError> {
    let file_error = |name: String, message: String| {
        let mut sources = SourceMap::default();
        let id = sources.add(name, String::new());
        LoadError {
            diagnostics: vec![Diagnostic::error(Code::E0104, Span::new(id, 0, 0), message)],
            sources,
        }
    };
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        file_error(
            shown.clone(),
            format!("cannot read the rules folder {shown}: {e}"),
        )
    })?;
    let all: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    let mut near_misses: Vec<String> = all
        .iter()
        .filter(|path| near_miss(path))
        .map(|path| path.display().to_string())
        .collect();
    near_misses.sort();
    let mut paths: Vec<PathBuf> = all
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rules"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        let hint = match near_misses.first() {
            Some(near) => format!(" ({near} is not read: rules files end in `.rules`)"),
            None => String::new(),
        };
        return Err(file_error(
            shown.clone(),
            format!("the rules folder {shown} has no *.rules file{hint}"),
        ));
    }
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path)
            .map_err(|e| file_error(name.clone(), format!("cannot read {name}: {e}")))?;
        if bytes.len() > MAX_RULES_FILE {
            return Err(file_error(
                name.clone(),
                format!(
                    "{name} is {} bytes; rules files are limited to {MAX_RULES_FILE}",
                    bytes.len()
                ),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            file_error(
                name.clone(),
                format!(
                    "{name} is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        files.push((name, text));
    }
    Ok(Folder { files, near_misses })
}

/// Rules that did not load: every diagnostic of every file.
#[derive(Debug)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
    sources: SourceMap,
}

impl LoadError {
    pub(super) fn new(diagnostics: Vec<Diagnostic>, sources: SourceMap) -> LoadError {
        LoadError {
            diagnostics,
            sources,
        }
    }

    /// The diagnostics as text, with colour for a terminal.
    pub fn render(&self, color: bool) -> String {
        self.sources.render(&self.diagnostics, color)
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(false).trim_end())
    }
}

impl std::error::Error for LoadError {}
