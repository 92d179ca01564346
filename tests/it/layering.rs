//! The layering of `src/`, read from its `use crate::…` and `super::…` paths, so that it stays
//! as DESIGN.md draws it:
//!
//! - `record` and `files` are the ground floor: they import nothing of the crate above them;
//! - `lang` (the language and its interpreter) imports only the ground floor;
//! - `source` and `sink` import only the ground floor, and not each other;
//! - `pipeline` and `import` build on those; `package` on `pipeline`; `serve` on all but
//!   `cli` and `package`; nothing below `cli` imports `cli`;
//! - no two sibling modules import each other, directly or through others, at any depth.
//!
//! Test modules (`#[cfg(test)] mod tests`) are left out: a test may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules each top-level module may import.
const ALLOWED: &[(&str, &[&str])] = &[
    ("record", &[]),
    ("files", &[]),
    ("mib", &["record"]),
    ("lang", &["mib", "record", "files"]),
    ("source", &["record", "files"]),
    ("sink", &["record", "files"]),
    ("import", &["lang", "record", "files"]),
    ("lsp", &["lang", "record", "files"]),
    ("pipeline", &["lang", "source", "sink", "record", "files"]),
    ("package", &["pipeline", "record", "files"]),
    (
        "serve",
        &["lang", "source", "sink", "pipeline", "record", "files"],
    ),
    (
        "cli",
        &[
            "lang", "mib", "source", "sink", "pipeline", "import", "package", "serve", "lsp",
            "record", "files",
        ],
    ),
];

type ModPath = Vec<String>;

struct Crate {
    /// Every module backed by a file, with its text (test modules removed).
    files: BTreeMap<ModPath, String>,
    /// `pub use child::…::{Name}` in a module: the name and the child path it comes from.
    reexports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
    /// Modules declared inline (`mod x { … }`) are not modelled; files are.
    modules: BTreeSet<ModPath>,
}

fn module_path(src: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs").to_owned();
    if stem != "mod" && stem != "lib" {
        parts.push(stem);
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without its test module and without comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn load() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut files = BTreeMap::new();
    for path in paths {
        // Binaries are the top of the house: they may use anything.
        if path.starts_with(src.join("bin")) || path.ends_with("main.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        files.insert(module_path(&src, &path), code_of(&text));
    }
    let modules: BTreeSet<ModPath> = files.keys().cloned().collect();
    let mut reexports = BTreeMap::new();
    for (module, text) in &files {
        let mut names = BTreeMap::new();
        for statement in use_statements(text, true) {
            for path in expand(&statement) {
                let Some(name) = path.last().cloned() else {
                    continue;
                };
                let target = resolve(module, &path, &modules);
                if let Some(target) = target
                    && target.len() > module.len()
                {
                    names.insert(name, target);
                }
            }
        }
        reexports.insert(module.clone(), names);
    }
    Crate {
        files,
        reexports,
        modules,
    }
}

/// The `use` statements (only the public ones when `public`), each up to its `;`, with
/// whitespace made single spaces.
fn use_statements(text: &str, public: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim_start();
        let rest = if let Some(rest) = line.strip_prefix("use ") {
            if public {
                continue;
            }
            rest
        } else if let Some(rest) = ["pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix))
        {
            rest
        } else {
            continue;
        };
        let mut statement = rest.to_owned();
        while !statement.contains(';') {
            match lines.next() {
                Some(more) => {
                    statement.push(' ');
                    statement.push_str(more);
                }
                None => break,
            }
        }
        let statement = statement.split(';').next().unwrap_or_default();
        out.push(statement.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (each as segments; `as` dropped).
fn expand(statement: &str) -> Vec<Vec<String>> {
    fn go(prefix: &[String], text: &str, out: &mut Vec<Vec<String>>) {
        let text = text.trim();
        if let Some(open) = text.find('{') {
            let head: Vec<String> = text[..open]
                .trim()
                .trim_end_matches("::")
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut base = prefix.to_vec();
            base.extend(head);
            let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&base, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            go(&base, &inner[start..], out);
        } else if !text.is_empty() {
            let text = text.split(" as ").next().unwrap_or(text);
            let mut path = prefix.to_vec();
            path.extend(
                text.split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            out.push(path);
        }
    }
    let mut out = Vec::new();
    go(&[], statement, &mut out);
    out
}

/// The module a path names, from inside `module`: `crate::…`, `super::…`, `self::…` or a
/// child of `module`. `None` for paths outside the crate.
fn resolve(module: &ModPath, path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut base: ModPath = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => {
            let mut parent = module.clone();
            parent.pop();
            parent
        }
        Some("self") => module.clone(),
        Some(first) => {
            let mut child = module.clone();
            child.push(first.to_owned());
            if !modules.contains(&child) {
                return None;
            }
            module.clone()
        }
        None => return None,
    };
    let skip = usize::from(matches!(
        path.first().map(String::as_str),
        Some("crate" | "super" | "self")
    ));
    let mut segments = path[skip..].iter().peekable();
    // `super::super::x`
    while segments.peek().is_some_and(|s| *s == "super") {
        segments.next();
        base.pop();
    }
    for segment in segments {
        let mut deeper = base.clone();
        deeper.push(segment.clone());
        if modules.contains(&deeper) {
            base = deeper;
        } else {
            break;
        }
    }
    Some(base)
}

/// Every path the module's code names: `crate::a::b` anywhere, and the paths of its `use`
/// statements.
fn imports(krate: &Crate, module: &ModPath, text: &str) -> BTreeSet<ModPath> {
    let mut out = BTreeSet::new();
    let mut add = |path: Vec<String>| {
        if let Some(target) = resolve(module, &path, &krate.modules) {
            // A name re-exported by a facade resolves to the module that defines it.
            let target = path
                .last()
                .and_then(|name| krate.reexports.get(&target)?.get(name).cloned())
                .unwrap_or(target);
            out.insert(target);
        }
    };
    for statement in use_statements(text, false) {
        for path in expand(&statement) {
            add(path);
        }
    }
    // Paths written inline, outside `use`: `crate::a::b::f()`, `super::x::T`.
    for anchor in ["crate::", "super::"] {
        let mut rest = text;
        while let Some(at) = rest.find(anchor) {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            rest = &tail[end..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            add(tail[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect());
        }
    }
    out
}

/// Every import edge, from module file to module.
fn edges(krate: &Crate) -> Vec<(ModPath, ModPath)> {
    let mut out = Vec::new();
    for (module, text) in &krate.files {
        for target in imports(krate, module, text) {
            if &target != module {
                out.push((module.clone(), target));
            }
        }
    }
    out
}

fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

#[test]
fn top_level_modules_import_only_the_layers_below_them() {
    let krate = load();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (from, to) in edges(&krate) {
        let (Some(a), Some(b)) = (from.first(), to.first()) else {
            continue;
        };
        if a == b {
            continue;
        }
        match allowed.get(a.as_str()) {
            Some(ok) if ok.contains(&b.as_str()) => {}
            Some(_) => wrong.push(format!("{} imports {}", name(&from), name(&to))),
            None => wrong.push(format!(
                "{} is a top-level module the layering does not know: add it to ALLOWED",
                a
            )),
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_sibling_modules_import_each_other() {
    let krate = load();
    // Sibling graph at each parent: an edge a → b when something inside a imports something
    // inside b. An import of an ancestor (a facade's re-export that was not resolved) is not
    // an edge between siblings.
    let mut graphs: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (from, to) in edges(&krate) {
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        graphs
            .entry(from[..common].to_vec())
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .insert(to[common].clone());
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            let prefix = if parent.is_empty() {
                String::new()
            } else {
                format!("{}::", name(parent))
            };
            cycles.push(
                cycle
                    .iter()
                    .map(|m| format!("{prefix}{m}"))
                    .collect::<Vec<_>>()
                    .join(" → "),
            );
        }
    }
    assert!(cycles.is_empty(), "import circles:\n{}", cycles.join("\n"));
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, graph, &mut state, &mut stack) {
                return Some(cycle);
            }
        }
    }
    None
}

#[test]
fn no_source_file_outside_tests_is_over_700_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut long = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("readable source");
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text,
        };
        // Files that are wholly tests (`tests.rs` beside a module) are tests.
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let lines = code.lines().count();
        if lines > 700 {
            long.push(format!("{} has {lines} lines", path.display()));
        }
    }
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}

#[test]
fn the_checker_reads_grouped_and_relative_imports() {
    let paths = expand("crate::{lang::{RuleSet, eval::Params}, record::Trap as T}");
    assert_eq!(
        paths,
        vec![
            vec!["crate", "lang", "RuleSet"],
            vec!["crate", "lang", "eval", "Params"],
            vec!["crate", "record", "Trap"],
        ]
    );
    let modules: BTreeSet<ModPath> = [
        vec![],
        vec!["serve".to_owned()],
        vec!["serve".to_owned(), "queue".to_owned()],
    ]
    .into_iter()
    .collect();
    let here = vec!["serve".to_owned(), "metrics".to_owned()];
    assert_eq!(
        resolve(
            &here,
            &["super".into(), "queue".into(), "Queue".into()],
            &modules
        ),
        Some(vec!["serve".to_owned(), "queue".to_owned()])
    );
    assert_eq!(resolve(&here, &["std".into(), "fs".into()], &modules), None);

    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("intake".to_owned(), BTreeSet::from(["metrics".to_owned()])),
        ("metrics".to_owned(), BTreeSet::from(["queue".to_owned()])),
        ("queue".to_owned(), BTreeSet::from(["intake".to_owned()])),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(
            vec!["intake", "metrics", "queue", "intake"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    let mut acyclic = graph;
    acyclic.remove("queue");
    assert_eq!(find_cycle(&acyclic), None);
}
