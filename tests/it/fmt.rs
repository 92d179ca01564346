//! `monbridge fmt`: formatting never changes what rules mean, is idempotent, keeps comments,
//! and the shipped rules are formatted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use monbridge::lang::syntax::{format_file, parse_file};
use proptest::prelude::*;

use crate::common;

fn monbridge(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(common::bin("monbridge"))
        .args(args)
        .current_dir(common::repo_root())
        .env_remove("MONBRIDGE_RULES")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run monbridge");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("monbridge ends")
}

/// The items of a text as `{:?}` with every span blanked: what the text means.
fn meaning(text: &str) -> Option<String> {
    let (items, diagnostics) = parse_file(0, text);
    if !diagnostics.is_empty() {
        return None;
    }
    let debug = format!("{items:?}");
    // `Span { file: 0, start: 1, end: 2 }` → `Span`.
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span {") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        let end = rest[at..].find('}').expect("a closing brace");
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Formats and checks both properties; `None` if the text does not parse.
fn check_formatting(name: &str, text: &str) -> Option<String> {
    let before = meaning(text)?;
    let formatted = format_file(0, text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
    assert_eq!(
        meaning(&formatted).as_deref(),
        Some(before.as_str()),
        "{name}: formatting changed the meaning:\n{formatted}"
    );
    let again = format_file(0, &formatted).unwrap_or_else(|d| panic!("{name}: {d:?}"));
    assert_eq!(again, formatted, "{name}: formatting is not idempotent");
    assert_eq!(
        comments(text),
        comments(&formatted),
        "{name}: a comment was lost or changed:\n{formatted}"
    );
    Some(formatted)
}

/// The comments of a text, in order: `#` outside string literals, to the end of the line.
/// (A string inside `${…}` toggles twice, so only a `#` in such a nested string would fool it.)
fn comments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_string = false;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '#' if !in_string => {
                let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
                found.push(text[at..end].trim_end().to_owned());
                while chars.next().is_some_and(|(_, c)| c != '\n') {}
            }
            _ => {}
        }
    }
    found
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

#[test]
fn formatting_every_rules_file_of_the_repository_keeps_its_meaning() {
    let root = common::repo_root();
    let mut paths = Vec::new();
    files_under(&root.join("rules"), "rules", &mut paths);
    files_under(&root.join("tests/cases"), "rules", &mut paths);
    files_under(&root.join("tests/cases"), "case", &mut paths);
    let mut formatted = 0;
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("read");
        // An eval case is rules, a `---` line, then its input.
        let rules = match text.find("\n---") {
            Some(end) if path.extension().is_some_and(|e| e == "case") => &text[..=end],
            _ => &text[..],
        };
        if check_formatting(&path.display().to_string(), rules).is_some() {
            formatted += 1;
        }
    }
    assert!(formatted >= 30, "only {formatted} files parsed");
}

#[test]
fn layout_and_comments() {
    let text = "# header\n\n\n\
        trap  t   when a.b==\"x\"and not(c.d)   { # opens\n\
        oid 1.3.6.1.4.1.1.0.1\n   base 1.3.6.1.4.1.1.1\n\
        # about the objects\n\
        1 n=count([1,2,],.x>=-1.5)   \n\
        12 longer:string = a.b ?? # inside\n \"none\"  # end\n\n\n\
        use common\n}   # after\n\
        objects common {}\n\
        agent s for s in mist.sites where s.on {\n\
        name = s.name\n\
        module \"m\" {\n type = generic_data\n data = 1 }\n}\n";
    let expected = "# header\n\n\
        trap t when a.b == \"x\" and not (c.d) { # opens\n    \
        oid  1.3.6.1.4.1.1.0.1\n    \
        base 1.3.6.1.4.1.1.1\n    \
        # about the objects\n    \
        1  n               = count([1, 2], .x >= -1.5)\n    \
        # inside\n    \
        12 longer : string = a.b ?? \"none\" # end\n\n    \
        use common\n\
        } # after\n\n\
        objects common {}\n\n\
        agent s for s in mist.sites where s.on {\n    \
        name = s.name\n    \
        module \"m\" {\n        \
        type = generic_data\n        \
        data = 1\n    \
        }\n\
        }\n";
    assert_eq!(check_formatting("layout", text).as_deref(), Some(expected));
}

#[test]
fn the_shipped_rules_are_formatted() {
    let output = monbridge(&["fmt", "--check", "rules/"], None);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn check_lists_and_diffs_rewrite_replaces_a_broken_file_stays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let messy = dir.path().join("a.rules");
    let tidy = dir.path().join("b.rules");
    let broken = dir.path().join("c.rules");
    let messy_text = "objects o {\n1 x=a.b\n  22 yy = 1\n}\n";
    std::fs::write(&messy, messy_text).expect("write");
    std::fs::write(&tidy, "objects p {\n    1 x = a.b\n}\n").expect("write");
    std::fs::write(&broken, "objects q {\n    1 x = \n}\n").expect("write");
    let folder = dir.path().display().to_string();

    let check = monbridge(&["fmt", "--check", &folder], None);
    assert_eq!(check.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&check.stdout);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stdout.contains("+    1  x  = a.b"), "{stdout}");
    assert!(!stdout.contains("b.rules"), "{stdout}");
    assert!(stderr.contains("error[E0101]"), "{stderr}");
    assert!(stdout.contains("a.rules"), "{stdout}");
    assert!(
        stderr.contains("1 file not formatted: ") && stderr.contains("1 file did not parse"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&messy).expect("read"), messy_text);

    let rewrite = monbridge(&["fmt", "--rules", &folder], None);
    assert_eq!(rewrite.status.code(), Some(1), "the broken file fails");
    assert_eq!(
        std::fs::read_to_string(&messy).expect("read"),
        "objects o {\n    1  x  = a.b\n    22 yy = 1\n}\n"
    );
    assert_eq!(
        std::fs::read_to_string(&broken).expect("read"),
        "objects q {\n    1 x = \n}\n"
    );
    let again = monbridge(&["fmt", "--check", &messy.display().to_string()], None);
    assert!(again.status.success());
}

#[test]
fn stdin_to_stdout() {
    let output = monbridge(&["fmt", "-"], Some("objects o { 1 x=a }"));
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "objects o {\n    1 x = a\n}\n"
    );
    let check = monbridge(&["fmt", "--check", "-"], Some("objects o { 1 x=a }"));
    assert_eq!(check.status.code(), Some(1));
}

/// Rules text built from the grammar's pieces, with white space and comments anywhere.
fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![" ", "  ", "\n", "\t", " # c\n", "\n\n", "\n# d\n\n"])
}

fn expression() -> impl Strategy<Value = Vec<String>> {
    let leaf = prop::sample::select(vec![
        "a.b",
        "a[\"k y\"].c",
        "\"s ${x.y} #t\"",
        "-1.5",
        "true",
        "null",
        ".rel",
    ])
    .prop_map(|t| vec![t.to_owned()]);
    leaf.prop_recursive(3, 16, 3, |inner| {
        let op = prop::sample::select(vec!["==", "!=", "<=", "and", "or", "in", "??"]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(l, o, r)| {
                let mut v = l;
                v.push(o.to_owned());
                v.extend(r);
                v
            }),
            inner.clone().prop_map(|e| {
                let mut v = vec!["not".to_owned(), "(".to_owned()];
                v.extend(e);
                v.push(")".to_owned());
                v
            }),
            (inner.clone(), inner).prop_map(|(a, b)| {
                let mut v = vec!["count".to_owned(), "(".to_owned(), "[".to_owned()];
                v.extend(a);
                v.push(",".to_owned());
                v.extend(b);
                v.extend(["]".to_owned(), ")".to_owned()]);
                v
            }),
        ]
    })
}

fn rules_text() -> impl Strategy<Value = String> {
    let object = (1u8..30, prop::bool::ANY, expression()).prop_map(|(i, typed, e)| {
        let mut v = vec![i.to_string(), format!("name{i}")];
        if typed {
            v.extend([":".to_owned(), "string".to_owned()]);
        }
        v.push("=".to_owned());
        v.extend(e);
        v
    });
    let trap = (expression(), prop::collection::vec(object, 0..4)).prop_map(|(c, objects)| {
        let mut v = vec!["trap".to_owned(), "t".to_owned(), "when".to_owned()];
        v.extend(c);
        v.extend(["{", "oid", "1.3.6.1.4.1.1.0.1", "use", "x"].map(str::to_owned));
        v.extend(objects.into_iter().flatten());
        v.push("}".to_owned());
        v
    });
    let field = (
        prop::sample::select(vec!["name", "alias", "description"]),
        expression(),
    )
        .prop_map(|(n, e)| {
            let mut v = vec![n.to_owned(), "=".to_owned()];
            v.extend(e);
            v
        });
    let agent = prop::collection::vec(field, 0..4).prop_map(|fields| {
        let mut v = [
            "agent", "s", "for", "s", "in", "m.sites", "{", "module", "\"m\"", "{",
        ]
        .map(str::to_owned)
        .to_vec();
        v.extend(fields.into_iter().flatten());
        v.extend(["}".to_owned(), "}".to_owned()]);
        v
    });
    (prop::collection::vec(prop_oneof![trap, agent], 1..3))
        .prop_flat_map(|items| {
            let tokens: Vec<String> = items.into_iter().flatten().collect();
            let n = tokens.len();
            (Just(tokens), prop::collection::vec(separator(), n))
        })
        .prop_map(|(tokens, separators)| {
            tokens
                .iter()
                .zip(separators)
                .map(|(t, s)| format!("{t}{s}"))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn generated_rules_keep_their_meaning(text in rules_text()) {
        prop_assert!(check_formatting("generated", &text).is_some(), "did not parse:\n{}", text);
    }
}
