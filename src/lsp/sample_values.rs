//! Hover on a path: the value it has in the first golden case beside the rules that has it,
//! as `explain` would show it, so an operator sees what `audit.detail.nameLink` or
//! `device.status` hold without running anything.

use std::path::Path;

use serde_json::Value;

/// The dotted path under the cursor (`audit.detail.nameLink`, `site.name`), if any.
pub fn path_at(text: &str, offset: usize) -> Option<&str> {
    let is_path = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_path(c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|&(_, c)| !is_path(c))
        .map_or(text.len(), |(i, _)| offset + i);
    let path = text[start..end].trim_matches('.');
    path.contains('.').then_some(path)
}

/// `**value** in tests/NAME.json` for `path`, from the golden cases in `tests`.
pub fn describe(path: &str, tests: &Path) -> Option<String> {
    let mut segments = path.split('.');
    let root = segments.next()?;
    let rest: Vec<&str> = segments.collect();
    let mut files: Vec<_> = std::fs::read_dir(tests)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let Some(document) = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        else {
            continue;
        };
        let found = match root {
            "audit" => first(&document, &|v| audit_value(v, &rest)),
            "mist" => first(&document, &|v| {
                v.get("sites").and_then(|_| lookup(v, &rest)).cloned()
            }),
            // A loop variable: an item of a `sites` or `devices` list of the documents.
            _ => first(&document, &|v| {
                ["sites", "devices"].iter().find_map(|list| {
                    v.get(list)?
                        .as_array()?
                        .iter()
                        .find_map(|item| lookup(item, &rest).cloned())
                })
            }),
        };
        if let Some(value) = found {
            let name = file.file_name()?.to_string_lossy().into_owned();
            return Some(format!("`{path}` = `{value}` in `tests/{name}`"));
        }
    }
    None
}

/// A field of an audit, in any of Fledge's shapes: `detail` is `details` in REST entries and
/// `log` in storage payloads, `source` is `code` there.
fn audit_value(value: &Value, rest: &[&str]) -> Option<Value> {
    let is_audit = value.get("source").is_some() || value.get("code").is_some();
    if !is_audit {
        return None;
    }
    let (head, tail) = rest.split_first()?;
    let keys: &[&str] = match *head {
        "detail" => &["detail", "details", "log"],
        "source" => &["source", "code"],
        other => return lookup(value.get(other)?, tail).cloned(),
    };
    keys.iter()
        .find_map(|key| lookup(value.get(key)?, tail).cloned())
}

fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

/// The first value, depth first, for which `find` gives something.
fn first(value: &Value, find: &dyn Fn(&Value) -> Option<Value>) -> Option<Value> {
    if let Some(found) = find(value) {
        return Some(found);
    }
    match value {
        Value::Object(map) => map.values().find_map(|inner| first(inner, find)),
        Value::Array(items) => items.iter().find_map(|inner| first(inner, find)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_from_the_golden_cases() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"kind": "trap", "input": {"audit": [{"source": "STLNK", "severity": "WARNING",
                "details": {"nameLink": "PA-Lyon-1"}, "timestamp": "x"}]}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"kind": "mist", "input": {"sites": [{"name": "Madrid", "devices": [{"status": "connected"}]}]}}"#,
        )
        .unwrap();
        let text = "    4 labelVariable = audit.detail.nameLink\n";
        let path = path_at(text, text.find("name").unwrap()).unwrap();
        assert_eq!(path, "audit.detail.nameLink");
        assert_eq!(
            describe(path, dir.path()).unwrap(),
            "`audit.detail.nameLink` = `\"PA-Lyon-1\"` in `tests/a.json`"
        );
        assert!(
            describe("device.status", dir.path())
                .unwrap()
                .contains("\"connected\"")
        );
        assert!(
            describe("site.name", dir.path())
                .unwrap()
                .contains("\"Madrid\"")
        );
        assert_eq!(describe("audit.detail.nothing", dir.path()), None);
        assert_eq!(path_at("count(x)", 2), None);
    }
}
