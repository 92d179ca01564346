//! The org inventory: the devices the org-stats plan adds when the stats omit them.
//!
//! An inventory page is a thousand small records of which seven fields are read. It is
//! walked on the fast path of [`super::project`] (keys compared as bytes, other values
//! skipped, plain strings copied without a deserializer); a page the fast path refuses is
//! parsed by `serde_json` into the same structs, which then names what is wrong.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::project::{Kept, Projection, walk_records};

/// The keys an inventory entry is read for, as the API names them: six texts, then
/// `connected`.
const KEYS: [&str; 7] = [
    "mac",
    "type",
    "name",
    "site_id",
    "model",
    "serial",
    "connected",
];
const MAC: usize = 0;
const SITE_ID: usize = 3;
const TEXTS: usize = 6;

/// An org inventory entry, kept until the device stats are in: its six text fields in one
/// allocation (an org holds as many entries as devices, and most are dropped unread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryDevice {
    texts: Box<str>,
    /// Where each text field ends in `texts`.
    ends: [u32; TEXTS],
    /// Bit `n` set: text field `n` was given (and not `null`).
    present: u8,
    connected: Option<bool>,
}

impl InventoryDevice {
    fn pack(fields: &[Option<Cow<'_, str>>; TEXTS], connected: Option<bool>) -> InventoryDevice {
        let length = fields.iter().flatten().map(|text| text.len()).sum();
        let mut texts = String::with_capacity(length);
        let mut ends = [0; TEXTS];
        let mut present = 0;
        for (n, field) in fields.iter().enumerate() {
            if let Some(text) = field {
                texts.push_str(text);
                present |= 1 << n;
            }
            // A body is capped far below 4 GiB.
            ends[n] = u32::try_from(texts.len()).unwrap_or(u32::MAX);
        }
        InventoryDevice {
            texts: texts.into_boxed_str(),
            ends,
            present,
            connected,
        }
    }

    fn text(&self, n: usize) -> Option<&str> {
        if self.present & (1 << n) == 0 {
            return None;
        }
        let start = if n == 0 { 0 } else { self.ends[n - 1] as usize };
        self.texts.get(start..self.ends[n] as usize)
    }

    pub fn mac(&self) -> Option<&str> {
        self.text(MAC)
    }

    pub fn site_id(&self) -> Option<&str> {
        self.text(SITE_ID)
    }

    /// A device record for an inventory device that has no stats: the inventory's fields,
    /// and `status` `disconnected`, since the cloud reports nothing for it.
    pub fn as_device_stats(&self) -> Value {
        let mut fields = Map::new();
        for (n, key) in KEYS[..TEXTS].iter().enumerate() {
            if let Some(text) = self.text(n) {
                fields.insert((*key).to_owned(), Value::String(text.to_owned()));
            }
        }
        if let Some(connected) = self.connected {
            fields.insert("connected".to_owned(), Value::Bool(connected));
        }
        fields.insert(
            "status".to_owned(),
            Value::String("disconnected".to_owned()),
        );
        Value::Object(fields)
    }
}

/// An inventory entry as `serde_json` reads it, on the strict path.
#[derive(Deserialize)]
struct Entry {
    mac: Option<String>,
    #[serde(rename = "type")]
    device_type: Option<String>,
    name: Option<String>,
    site_id: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    connected: Option<bool>,
}

impl From<Entry> for InventoryDevice {
    fn from(entry: Entry) -> InventoryDevice {
        let texts = [
            entry.mac,
            entry.device_type,
            entry.name,
            entry.site_id,
            entry.model,
            entry.serial,
        ]
        .map(|text| text.map(Cow::Owned));
        InventoryDevice::pack(&texts, entry.connected)
    }
}

/// A page of the inventory, a JSON array of entries.
pub fn parse_page(body: &[u8]) -> Result<Vec<InventoryDevice>, serde_json::Error> {
    match fast_page(body) {
        Some(devices) => Ok(devices),
        None => serde_json::from_slice::<Vec<Entry>>(body)
            .map(|entries| entries.into_iter().map(InventoryDevice::from).collect()),
    }
}

/// [`parse_page`] on the fast path; `None` to take `serde_json`'s.
fn fast_page(body: &[u8]) -> Option<Vec<InventoryDevice>> {
    static EACH: LazyLock<Projection> = LazyLock::new(|| {
        KEYS.iter().fold(Projection::default(), |projection, key| {
            projection.with_key(key)
        })
    });
    let mut devices = Vec::new();
    walk_records(body, &EACH, |fields| {
        devices.push(device(fields)?);
        Some(())
    })?;
    Some(devices)
}

/// One entry from its kept fields; `None` where `serde_json` would refuse it (a field of
/// the wrong type, or given twice).
fn device(fields: &[Kept<'_, '_>]) -> Option<InventoryDevice> {
    let mut texts: [Option<Cow<'_, str>>; TEXTS] = Default::default();
    let mut connected = None;
    let mut seen = [false; KEYS.len()];
    for field in fields {
        let slot = KEYS.iter().position(|key| *key == field.key)?;
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        if slot < TEXTS {
            texts[slot] = field.optional_str()?;
        } else {
            connected = match field.value {
                b"true" => Some(true),
                b"false" => Some(false),
                b"null" => None,
                _ => return None,
            };
        }
    }
    Some(InventoryDevice::pack(&texts, connected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn inventory_only_devices_are_disconnected() {
        let body = br#"[{
            "mac": "aabbccddeeff", "type": "switch", "name": null, "site_id": "s1",
            "model": "EX2300", "serial": "X1", "connected": true, "magic": "ignored"
        }]"#;
        let devices = parse_page(body).unwrap();
        assert_eq!(devices[0].mac(), Some("aabbccddeeff"));
        assert_eq!(devices[0].site_id(), Some("s1"));
        assert_eq!(
            devices[0].as_device_stats(),
            json!({"mac": "aabbccddeeff", "type": "switch", "site_id": "s1", "model": "EX2300",
                   "serial": "X1", "connected": true, "status": "disconnected"})
        );
        let empty = &parse_page(br#"[{"mac":"","site_id":null}]"#).unwrap()[0];
        assert_eq!((empty.mac(), empty.site_id()), (Some(""), None));
        assert_eq!(
            empty.as_device_stats(),
            json!({"mac": "", "status": "disconnected"})
        );
    }

    fn strictly(body: &[u8]) -> Option<Vec<InventoryDevice>> {
        let entries: Vec<Entry> = serde_json::from_slice(body).ok()?;
        Some(entries.into_iter().map(InventoryDevice::from).collect())
    }

    #[test]
    fn entries_read_on_the_fast_path_are_what_serde_json_reads() {
        let body = br#"[
            {"mac":"5c5b35000001","type":"ap","name":"AP \"1\"","site_id":"s1","model":"AP43",
             "serial":"A1","connected":true,"org_id":"o","hw_rev":"B01","created_time":1},
            {"mac":"5c5b35000002","name":null,"connected":false,"radio":{"a":[1,2]}},
            {}
        ]"#;
        let fast = fast_page(body).unwrap();
        assert_eq!(fast, strictly(body).unwrap());
        assert_eq!(fast[0].as_device_stats()["name"], "AP \"1\"");
    }

    #[test]
    fn entries_serde_json_refuses_are_left_to_it_and_its_message() {
        for body in [
            &br#"[{"mac":7}]"#[..],
            br#"[{"connected":"yes"}]"#,
            br#"[{"mac":"a","mac":"b"}]"#,
            br#"["not an entry"]"#,
            br#"[{"mac":"a"} {"mac":"b"}]"#,
            b"<html>",
        ] {
            assert_eq!(fast_page(body), None);
            assert!(parse_page(body).is_err());
        }
    }

    /// Entries with the read fields, unread ones, and values of every type.
    fn pages() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i32>().prop_map(|n| n.to_string()),
            "[a-z\"\\\\ \u{e9}]{0,8}".prop_map(|text| Value::String(text).to_string()),
            Just(r#"{"a":[1,"]"]}"#.to_owned()),
        ];
        let key = prop_oneof![
            Just("mac"),
            Just("type"),
            Just("name"),
            Just("site_id"),
            Just("model"),
            Just("serial"),
            Just("connected"),
            Just("org_id"),
            Just("m\\u0061c"),
        ];
        let entry = proptest::collection::vec((key, value), 0..6).prop_map(|fields| {
            let fields: Vec<String> = fields
                .iter()
                .map(|(key, value)| format!("\"{key}\":{value}"))
                .collect();
            format!("{{{}}}", fields.join(","))
        });
        proptest::collection::vec(entry, 0..5)
            .prop_map(|entries| format!("[{}]", entries.join(",")))
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_reads_what_serde_json_reads(body in pages()) {
            let strict = strictly(body.as_bytes());
            match fast_page(body.as_bytes()) {
                Some(fast) => prop_assert_eq!(Some(fast), strict.clone()),
                None => prop_assert!(strict.is_none(), "refused what serde_json reads"),
            }
            prop_assert_eq!(parse_page(body.as_bytes()).ok(), strict);
        }
    }
}
