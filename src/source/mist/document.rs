//! The document agent mappings read: `{"sites":[{...every site field..., "devices":[...]}]}`.
//!
//! Sites keep the API's order and every field it sent; `devices` holds the site's device
//! stats in API order. A site whose devices could not be fetched is left out: the rules then
//! never see partial data, and a saved document only holds what was fetched completely.

use std::io::{self, Write};

use serde_json::Value;

/// A site that is not in the document, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFailure {
    /// Position in the site list.
    pub index: usize,
    pub id: Option<String>,
    pub name: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for SiteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = label(self.name.as_deref(), self.id.as_deref(), Some(self.index));
        write!(f, "{label}: {}", self.reason)
    }
}

/// How messages name a site: `site "Madrid HQ" (6f9b...)`, or whatever identifies it.
pub fn site_label(site: &Value) -> String {
    label(site_name(site), site_id(site), None)
}

fn label(name: Option<&str>, id: Option<&str>, index: Option<usize>) -> String {
    match (name, id, index) {
        (Some(name), Some(id), _) => format!("site {name:?} ({id})"),
        (None, Some(id), _) => format!("site {id}"),
        (Some(name), None, _) => format!("site {name:?} (no id)"),
        (None, None, Some(index)) => format!("site #{}", index + 1),
        (None, None, None) => "a site without name or id".to_owned(),
    }
}

/// The `id` of a site object, the key of its device calls.
pub fn site_id(site: &Value) -> Option<&str> {
    site.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

pub fn site_name(site: &Value) -> Option<&str> {
    site.get("name").and_then(Value::as_str)
}

/// A failure for the site at `index`, with whatever identifies it.
pub fn failure(index: usize, site: &Value, reason: String) -> SiteFailure {
    SiteFailure {
        index,
        id: site_id(site).map(str::to_owned),
        name: site_name(site).map(str::to_owned),
        reason,
    }
}

/// The site with its `devices` (replacing any `devices` field the site object had).
pub fn site_with_devices(
    index: usize,
    site: Value,
    devices: Vec<Value>,
) -> Result<Value, SiteFailure> {
    match site {
        Value::Object(mut fields) => {
            fields.insert("devices".to_owned(), Value::Array(devices));
            Ok(Value::Object(fields))
        }
        other => Err(failure(
            index,
            &other,
            format!(
                "the site list holds {} instead of a site object",
                super::client::json_kind(&other)
            ),
        )),
    }
}

/// What the site at `index` becomes once its devices are known (or why they are not).
pub fn site_outcome(
    index: usize,
    site: Value,
    devices: Result<Vec<Value>, String>,
) -> Result<Value, SiteFailure> {
    match devices {
        Ok(devices) => site_with_devices(index, site, devices),
        Err(reason) => Err(failure(index, &site, reason)),
    }
}

/// Writes a document one site at a time, so a saved document never needs the whole
/// organisation in memory.
pub struct DocumentWriter<W: Write> {
    out: W,
    sites: usize,
}

impl<W: Write> DocumentWriter<W> {
    pub fn new(mut out: W) -> io::Result<DocumentWriter<W>> {
        out.write_all(b"{\"sites\":[")?;
        Ok(DocumentWriter { out, sites: 0 })
    }

    pub fn site(&mut self, site: &Value) -> io::Result<()> {
        if self.sites > 0 {
            self.out.write_all(b",")?;
        }
        self.out.write_all(b"\n")?;
        serde_json::to_writer(&mut self.out, site)?;
        self.sites += 1;
        Ok(())
    }

    /// Closes the document; returns the writer for the caller to flush or persist.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn devices_are_added_to_every_site_field() {
        let site = json!({"id": "s1", "name": "A", "country_code": "US", "devices": "stale"});
        let built = site_with_devices(0, site, vec![json!({"mac": "m1"})]).unwrap();
        assert_eq!(
            built,
            json!({"id": "s1", "name": "A", "country_code": "US", "devices": [{"mac": "m1"}]})
        );
        let refused = site_with_devices(3, json!("x"), vec![]).unwrap_err();
        assert_eq!(refused.index, 3);
        assert!(
            refused
                .to_string()
                .starts_with("site #4: the site list holds a string")
        );
    }

    #[test]
    fn written_documents_parse_back() {
        let mut writer = DocumentWriter::new(Vec::new()).unwrap();
        writer.site(&json!({"id": "a", "devices": []})).unwrap();
        writer
            .site(&json!({"id": "b", "devices": [{"mac": "m"}]}))
            .unwrap();
        let text = writer.finish().unwrap();
        let parsed: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(
            parsed,
            json!({"sites": [{"id": "a", "devices": []}, {"id": "b", "devices": [{"mac": "m"}]}]})
        );
        let empty = DocumentWriter::new(Vec::new()).unwrap().finish().unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).unwrap(),
            json!({"sites": []})
        );
    }
}
