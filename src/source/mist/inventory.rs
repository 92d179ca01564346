//! The org inventory: the devices the org-stats plan adds when the stats omit them.
//!
//! An inventory page is a thousand small records of which seven fields are read. It is
//! walked on the fast path of [`super::project`] (keys compared as bytes, other values
//! skipped, plain strings copied without a deserializer); a page the fast path refuses is
//! parsed by `serde_json` into the same structs, which then names what is wrong.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::project::{Kept, Projection, walk_records};

/// The fields of an org inventory entry that describe a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InventoryDevice {
    pub mac: Option<String>,
    #[serde(rename = "type")]
    pub device_type: Option<String>,
    pub name: Option<String>,
    pub site_id: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub connected: Option<bool>,
}

impl InventoryDevice {
    /// A device record for an inventory device that has no stats: the inventory's fields,
    /// and `status` `disconnected`, since the cloud reports nothing for it.
    pub fn as_device_stats(&self) -> Value {
        let mut fields = Map::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                fields.insert(key.to_owned(), Value::String(value.clone()));
            }
        };
        put("mac", &self.mac);
        put("type", &self.device_type);
        put("name", &self.name);
        put("site_id", &self.site_id);
        put("model", &self.model);
        put("serial", &self.serial);
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

/// The keys [`InventoryDevice`] reads, as the API names them.
const KEYS: [&str; 7] = [
    "mac",
    "type",
    "name",
    "site_id",
    "model",
    "serial",
    "connected",
];

/// A page of the inventory, a JSON array of entries.
pub fn parse_page(body: &[u8]) -> Result<Vec<InventoryDevice>, serde_json::Error> {
    match fast_page(body) {
        Some(devices) => Ok(devices),
        None => serde_json::from_slice(body),
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
    let mut device = InventoryDevice::default();
    let mut seen = [false; KEYS.len()];
    for field in fields {
        let slot = KEYS.iter().position(|key| *key == field.key)?;
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        let text = match slot {
            0 => &mut device.mac,
            1 => &mut device.device_type,
            2 => &mut device.name,
            3 => &mut device.site_id,
            4 => &mut device.model,
            5 => &mut device.serial,
            _ => {
                device.connected = match field.value {
                    b"true" => Some(true),
                    b"false" => Some(false),
                    b"null" => None,
                    _ => return None,
                };
                continue;
            }
        };
        *text = field.optional_string()?;
    }
    Some(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn inventory_only_devices_are_disconnected() {
        let item: InventoryDevice = serde_json::from_value(json!({
            "mac": "aabbccddeeff", "type": "switch", "name": null, "site_id": "s1",
            "model": "EX2300", "serial": "X1", "connected": true, "magic": "ignored"
        }))
        .unwrap();
        assert_eq!(
            item.as_device_stats(),
            json!({"mac": "aabbccddeeff", "type": "switch", "site_id": "s1", "model": "EX2300",
                   "serial": "X1", "connected": true, "status": "disconnected"})
        );
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
        let strict: Vec<InventoryDevice> = serde_json::from_slice(body).unwrap();
        assert_eq!(fast, strict);
        assert_eq!(fast[0].name.as_deref(), Some("AP \"1\""));
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
            let strict = serde_json::from_slice::<Vec<InventoryDevice>>(body.as_bytes()).ok();
            match fast_page(body.as_bytes()) {
                Some(fast) => prop_assert_eq!(Some(fast), strict.clone()),
                None => prop_assert!(strict.is_none(), "refused what serde_json reads"),
            }
            prop_assert_eq!(parse_page(body.as_bytes()).ok(), strict);
        }
    }
}
