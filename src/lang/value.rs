//! Values during evaluation. They borrow from the input document wherever they can, so
//! evaluating a rule over a decoded audit allocates little.

use std::borrow::Cow;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(Cow<'a, str>),
    /// An array or object of the document.
    Json(&'a Value),
    List(Vec<Val<'a>>),
}

impl<'a> Val<'a> {
    pub fn from_json(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) => Val::Json(value),
        }
    }

    /// What the value is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Number(_) => "a number",
            Val::Str(_) => "a string",
            Val::Json(Value::Array(_)) | Val::List(_) => "a list",
            Val::Json(_) => "an object",
        }
    }

    /// `??` and `default()` fall back on null and on the empty string as well as on a
    /// missing path: a name built from an empty value is as broken as one built from nothing.
    pub fn is_empty_like(&self) -> bool {
        match self {
            Val::Null => true,
            Val::Str(s) => s.is_empty(),
            _ => false,
        }
    }

    /// The items of a list value.
    pub fn items(&self) -> Option<Vec<Val<'a>>> {
        match self {
            Val::Json(Value::Array(items)) => Some(items.iter().map(Val::from_json).collect()),
            Val::List(items) => Some(items.clone()),
            _ => None,
        }
    }

    /// The value as text inside an interpolated string.
    pub fn to_text(&self) -> Option<Cow<'a, str>> {
        match self {
            Val::Str(s) => Some(s.clone()),
            Val::Number(n) => Some(Cow::Owned(format_number(*n))),
            Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// A short rendering for `explain` and error messages.
    pub fn preview(&self) -> String {
        match self {
            Val::Null => "null".to_owned(),
            Val::Bool(b) => b.to_string(),
            Val::Number(n) => format_number(*n),
            Val::Str(s) => format!("{s:?}"),
            Val::Json(value) => {
                let text = value.to_string();
                if text.chars().count() > 60 {
                    let cut: String = text.chars().take(57).collect();
                    format!("{cut}...")
                } else {
                    text
                }
            }
            Val::List(items) => format!("[{} items]", items.len()),
        }
    }
}

/// The value of `key` in an object. Audit documents and their details hold a handful of
/// keys, where comparing them in turn is several times cheaper than hashing the key.
pub fn member<'v>(object: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    const LINEAR_UP_TO: usize = 8;
    if object.len() <= LINEAR_UP_TO {
        object
            .iter()
            .find(|(candidate, _)| candidate.as_str() == key)
            .map(|(_, value)| value)
    } else {
        object.get(key)
    }
}

/// Integers print without a fraction; other numbers in their shortest form.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Equality across types is false, never an error: `audit.detail.port == "80"` is simply
/// false when the port is a number.
pub fn values_equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Number(x), Val::Number(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Json(x), Val::Json(y)) => x == y,
        (x, y) => match (x.items(), y.items()) {
            (Some(xs), Some(ys)) => {
                xs.len() == ys.len() && xs.iter().zip(&ys).all(|(a, b)| values_equal(a, b))
            }
            _ => false,
        },
    }
}
