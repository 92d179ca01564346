//! Import of FledgePOWER's `link_audit_trap` configuration into trap bindings.
//!
//! The JSON binds an audit (by name, such as `stateLink`, or by code, such as `STLNK`) to a
//! trap OID and up to N objects `{"oid", "dest", "origin": "audit"|"env"|"static", "value"}`
//! keyed by their index. It may come bare, or as the Fledge configuration item whose
//! `default` (or `value`) holds it, as a JSON string or an object.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::lang::diag::did_you_mean;
use crate::record::Oid;

/// Audit names of the FledgePOWER specification with their codes; the name becomes the
/// binding's name.
pub const AUDIT_NAMES: [(&str, &str); 11] = [
    ("stateLink", "STLNK"),
    ("stateChannel", "STCHA"),
    ("stateService", "STSRV"),
    ("START", "START"),
    ("FSTOP", "FSTOP"),
    ("CONCH", "CONCH"),
    ("SRVFL", "SRVFL"),
    ("SNMPAuthenficationFailure", "SNAUF"),
    ("eventinfo", "EVTIF"),
    ("eventwarning", "EVTWA"),
    ("eventfatal", "EVTFA"),
];

/// Other spellings found in the specification's own text.
const ALIASES: [(&str, &str); 3] = [
    ("SNMPAuthenticationFailure", "SNAUF"),
    ("SNAUTF", "SNAUF"),
    ("SNMPAuthentificationFailure", "SNAUF"),
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("the link_audit_trap item's {0} is not valid JSON: {1}")]
    NotJsonInside(&'static str, String),
    #[error("expected a JSON object of audit bindings, found {0}")]
    NotAnObject(&'static str),
    #[error("`{key}`: {problem}")]
    Binding { key: String, problem: String },
}

fn binding_error(key: &str, problem: impl Into<String>) -> ImportError {
    ImportError::Binding {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// Converts the configuration to rules text: one trap binding per audit, in input order.
pub fn import(bytes: &[u8]) -> Result<String, ImportError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let bindings = unwrap_config_item(value)?;
    let Value::Object(bindings) = bindings else {
        return Err(ImportError::NotAnObject(kind(&bindings)));
    };
    let mut out = String::from(
        "# Imported from a FledgePOWER link_audit_trap configuration by `monbridge import link-audit-trap`.\n\
         # Objects keep the configuration's OIDs and names; add `: TYPE` to an object to change its SNMP type.\n",
    );
    let mut names = BTreeSet::new();
    for (key, binding) in &bindings {
        out.push('\n');
        out.push_str(&binding_rules(key, binding, &mut names)?);
    }
    Ok(out)
}

/// The bindings themselves, out of a Fledge configuration item if they are wrapped in one.
fn unwrap_config_item(value: Value) -> Result<Value, ImportError> {
    let Value::Object(mut map) = value else {
        return Ok(value);
    };
    let Some(item) = map.remove("link_audit_trap") else {
        return Ok(Value::Object(map));
    };
    let inner = match item {
        Value::Object(mut item) => {
            let (field, content) = match item.remove("value") {
                Some(value) => ("value", value),
                None => ("default", item.remove("default").unwrap_or(Value::Null)),
            };
            match content {
                // Fledge stores JSON items as strings.
                Value::String(text) => serde_json::from_str(&text)
                    .map_err(|e| ImportError::NotJsonInside(field, e.to_string()))?,
                Value::Null => Value::Object(item),
                other => other,
            }
        }
        other => other,
    };
    Ok(inner)
}

fn binding_rules(
    raw_key: &str,
    binding: &Value,
    names: &mut BTreeSet<String>,
) -> Result<String, ImportError> {
    let key = raw_key.trim();
    let code = audit_code(key).ok_or_else(|| {
        let known = AUDIT_NAMES.iter().flat_map(|(n, c)| [*n, *c]);
        let hint = did_you_mean(key, known)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        binding_error(key, format!("not an audit name or code{hint}"))
    })?;
    let Value::Object(fields) = binding else {
        return Err(binding_error(
            key,
            format!("expected an object, found {}", kind(binding)),
        ));
    };
    let trap_oid = oid_field(key, fields, "oid")?;
    let name = unique(rule_name(key, code), names);
    let mut objects: Vec<(u32, String)> = Vec::new();
    let mut object_names = BTreeSet::new();
    for (index_text, object) in fields.iter().filter(|(k, _)| k.as_str() != "oid") {
        let index: u32 = index_text
            .trim()
            .parse()
            .ok()
            .filter(|i| (1..=crate::record::MAX_OBJECT_INDEX).contains(i))
            .ok_or_else(|| {
                binding_error(
                    key,
                    format!("`{index_text}` is not an object index (\"1\" to \"128\")"),
                )
            })?;
        let where_ = format!("{key}.{index_text}");
        let Value::Object(object) = object else {
            return Err(binding_error(
                &where_,
                format!("expected an object, found {}", kind(object)),
            ));
        };
        let dest = string_field(&where_, object, "dest")?;
        let dest = unique(identifier(dest), &mut object_names);
        let origin = string_field(&where_, object, "origin")?;
        let value = string_field(&where_, object, "value")?;
        let expression = match origin.trim() {
            "audit" => audit_path(&where_, value)?,
            "env" => env_path(&where_, value)?,
            "static" => string_literal(value),
            other => {
                return Err(binding_error(
                    &where_,
                    format!("origin `{other}` is not one of audit, env, static"),
                ));
            }
        };
        let oid = match object.get("oid") {
            Some(_) => format!(" oid {}", oid_field(&where_, object, "oid")?),
            None => String::new(),
        };
        objects.push((index, format!("    {index} {dest}{oid} = {expression}\n")));
    }
    objects.sort_by_key(|(index, _)| *index);
    if let Some(pair) = objects.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(binding_error(
            key,
            format!("object index {} is given twice", pair[0].0),
        ));
    }
    let mut text = String::new();
    let _ = writeln!(text, "trap {name} when audit.source == \"{code}\" {{");
    let _ = writeln!(text, "    oid {trap_oid}");
    for (_, line) in objects {
        text.push_str(&line);
    }
    text.push_str("}\n");
    Ok(text)
}

fn audit_code(key: &str) -> Option<&'static str> {
    AUDIT_NAMES
        .iter()
        .chain(ALIASES.iter())
        .find(|(name, code)| name.eq_ignore_ascii_case(key) || code.eq_ignore_ascii_case(key))
        .map(|(_, code)| *code)
}

/// The binding's name: the audit name for a known code, else the key made an identifier.
fn rule_name(key: &str, code: &str) -> String {
    if AUDIT_NAMES.iter().any(|(_, c)| c.eq_ignore_ascii_case(key)) {
        let name = AUDIT_NAMES
            .iter()
            .find(|(_, c)| *c == code)
            .map(|(n, _)| *n)
            .unwrap_or(code);
        return identifier(name);
    }
    identifier(key)
}

fn unique(mut name: String, taken: &mut BTreeSet<String>) -> String {
    let base = name.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// A name the rules language accepts: letters, digits and `_`, not starting with a digit,
/// not a keyword.
fn identifier(text: &str) -> String {
    let mut name: String = text
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    const KEYWORDS: [&str; 15] = [
        "agent", "trap", "objects", "for", "in", "where", "when", "module", "use", "and", "or",
        "not", "true", "false", "null",
    ];
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// `detail.nameLink` → `audit.detail.nameLink`; odd keys are quoted.
fn audit_path(where_: &str, value: &str) -> Result<String, ImportError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(binding_error(
            where_,
            "an audit value needs a field name, such as detail.nameService",
        ));
    }
    let mut path = String::from("audit");
    for segment in value.split('.') {
        if segment.is_empty() {
            return Err(binding_error(
                where_,
                format!("`{value}` has an empty part"),
            ));
        }
        if is_plain_key(segment) {
            path.push('.');
            path.push_str(segment);
        } else {
            path.push_str(&format!("[{}]", string_literal(segment)));
        }
    }
    Ok(path)
}

fn env_path(where_: &str, value: &str) -> Result<String, ImportError> {
    let value = value.trim();
    if !is_plain_key(value) {
        return Err(binding_error(
            where_,
            format!("`{value}` is not an environment variable name"),
        ));
    }
    Ok(format!("env.{value}"))
}

fn is_plain_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A rules string literal that means exactly `text`.
fn string_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_field<'v>(
    where_: &str,
    object: &'v Map<String, Value>,
    field: &str,
) -> Result<&'v str, ImportError> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(binding_error(
            where_,
            format!("`{field}` must be a string, found {}", kind(other)),
        )),
        None => Err(binding_error(where_, format!("`{field}` is missing"))),
    }
}

fn oid_field(where_: &str, object: &Map<String, Value>, field: &str) -> Result<Oid, ImportError> {
    let text = string_field(where_, object, field)?;
    text.trim()
        .parse::<Oid>()
        .map_err(|e| binding_error(where_, format!("`{field}` {text:?} is not an OID: {e}")))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
