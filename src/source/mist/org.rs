//! Org-stats mode: the org's device stats and inventory, grouped by site.
//!
//! After the site list, two lists (device stats, inventory) are fetched side by side, each
//! paged to its end; that is the whole cost whatever the number of sites. Device stats are
//! grouped by site as their pages arrive and kept as compact JSON text until their site is
//! built: with a projection (the fields the rules read) that is a few dozen bytes a device,
//! so memory follows the projection, not the organisation; without one, the records' own
//! text.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::FetchOptions;
use super::client::MistClient;
use super::document::{InventoryDevice, SiteFailure, site_id, site_outcome};
use super::error::MistError;
use super::ordered::ordered_map;
use super::pagination::{Paging, for_each_page};
use super::project::Projection;

/// Fetches the two org-wide lists and hands over every site of `sites`.
pub(super) fn fetch<P: Send>(
    client: &MistClient,
    options: &FetchOptions,
    sites: Vec<Value>,
    prepare: &(dyn Fn(Value) -> P + Sync),
    on_site: &mut dyn FnMut(Result<P, SiteFailure>),
) -> Result<(), MistError> {
    let org = options.org_id.as_str();
    let paging = options.paging;
    let (stats, inventory) = std::thread::scope(|scope| {
        let stats = scope.spawn(|| device_stats(client, org, paging, options.devices.as_deref()));
        let inventory = inventory(client, org, paging);
        (joined(stats.join()), inventory)
    });
    let (mut stats, inventory) = (stats?, inventory?);

    let mut missing: HashMap<String, Vec<InventoryDevice>> = HashMap::new();
    for item in inventory {
        let (Some(mac), Some(site)) = (&item.mac, &item.site_id) else {
            continue; // unassigned: belongs to no site agent
        };
        if !stats.macs.contains(mac) {
            missing.entry(site.clone()).or_default().push(item);
        }
    }
    // Each site with its devices (`None`: the site has no id), taken once by the thread
    // that builds it.
    type Slot = Option<(Value, Option<(Vec<Box<str>>, Vec<InventoryDevice>)>)>;
    let site_count = sites.len();
    let slots: Vec<Mutex<Slot>> = sites
        .into_iter()
        .map(|site| {
            let devices = site_id(&site).map(|id| {
                (
                    stats.by_site.remove(id).unwrap_or_default(),
                    missing.remove(id).unwrap_or_default(),
                )
            });
            Mutex::new(Some((site, devices)))
        })
        .collect();
    let unplaced = stats.by_site.values().map(Vec::len).sum::<usize>() + stats.without_site;
    if unplaced > 0 {
        tracing::debug!("{unplaced} device(s) in the org stats belong to no listed site");
    }

    let concurrency = options.concurrency.max(1);
    ordered_map(
        site_count,
        concurrency,
        concurrency * 4,
        |index| {
            let slot = match slots[index].lock() {
                Ok(mut slot) => slot.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            // Every index is dispatched once, so its slot is full.
            let (site, devices) = slot.unwrap_or_default();
            let devices = match devices {
                None => Err("the site has no id".to_owned()),
                Some((raw, missing)) => site_devices(&raw, &missing),
            };
            site_outcome(index, site, devices).map(prepare)
        },
        |_, outcome| on_site(outcome),
    );
    Ok(())
}

/// A site's devices: its device stats parsed, then its inventory devices missing from them.
fn site_devices(raw: &[Box<str>], missing: &[InventoryDevice]) -> Result<Vec<Value>, String> {
    let mut devices = Vec::with_capacity(raw.len() + missing.len());
    for (n, text) in raw.iter().enumerate() {
        let device = serde_json::from_str::<Value>(text)
            .map_err(|e| format!("device #{} of the org stats: {e}", n + 1))?;
        devices.push(device);
    }
    devices.extend(missing.iter().map(InventoryDevice::as_device_stats));
    Ok(devices)
}

fn joined<T>(result: std::thread::Result<Result<T, MistError>>) -> Result<T, MistError> {
    result.unwrap_or_else(|_| Err(MistError::Client("a fetching thread panicked".to_owned())))
}

/// The org's device stats as raw texts grouped by `site_id`, and every MAC seen.
#[derive(Default)]
struct GroupedStats {
    by_site: HashMap<String, Vec<Box<str>>>,
    macs: HashSet<String>,
    without_site: usize,
}

/// The two fields grouping needs; the rest of the device is skipped (but still checked).
#[derive(Deserialize)]
struct DeviceKey {
    site_id: Option<Value>,
    mac: Option<Value>,
}

fn device_stats(
    client: &MistClient,
    org: &str,
    paging: Paging,
    projection: Option<&Projection>,
) -> Result<GroupedStats, MistError> {
    if let Some(projection) = projection {
        return projected_device_stats(client, org, paging, projection);
    }
    let mut grouped = GroupedStats::default();
    for_each_page(
        client,
        &["api", "v1", "orgs", org, "stats", "devices"],
        &[("type", "all".to_owned())],
        paging,
        |response| {
            let not_json = |message: String| MistError::Json {
                path: response.path.clone(),
                message,
            };
            // Kept as the elements' text, not as values: the org-wide list must be held whole
            // before it can be grouped by site, and text costs its size in bytes, where
            // `serde_json::Value`s cost several times that. Each element is parsed whole
            // later, once, when its site is built.
            let devices: Vec<&RawValue> =
                serde_json::from_slice(&response.body).map_err(|e| not_json(e.to_string()))?;
            for (n, device) in devices.iter().enumerate() {
                let key: DeviceKey = serde_json::from_str(device.get())
                    .map_err(|e| not_json(format!("device #{}: {e}", n + 1)))?;
                if let Some(Value::String(mac)) = key.mac {
                    grouped.macs.insert(mac);
                }
                match key.site_id {
                    Some(Value::String(site)) => {
                        grouped
                            .by_site
                            .entry(site)
                            .or_default()
                            .push(Box::from(device.get()));
                    }
                    _ => grouped.without_site += 1,
                }
            }
            Ok(devices.len())
        },
    )?;
    Ok(grouped)
}

/// [`device_stats`] with each record parsed into the projection (plus the two fields
/// grouping needs) and kept as the projected record's text.
fn projected_device_stats(
    client: &MistClient,
    org: &str,
    paging: Paging,
    projection: &Projection,
) -> Result<GroupedStats, MistError> {
    let each = projection.clone().with_key("site_id").with_key("mac");
    let mut grouped = GroupedStats::default();
    for_each_page(
        client,
        &["api", "v1", "orgs", org, "stats", "devices"],
        &[("type", "all".to_owned())],
        paging,
        |response| {
            let devices = response.projected_array(&each)?;
            let count = devices.len();
            for device in devices {
                if let Some(Value::String(mac)) = device.get("mac") {
                    grouped.macs.insert(mac.clone());
                }
                match device.get("site_id") {
                    Some(Value::String(site)) => {
                        let text = device.to_string().into_boxed_str();
                        match grouped.by_site.get_mut(site.as_str()) {
                            Some(texts) => texts.push(text),
                            None => {
                                grouped.by_site.insert(site.clone(), vec![text]);
                            }
                        }
                    }
                    _ => grouped.without_site += 1,
                }
            }
            Ok(count)
        },
    )?;
    Ok(grouped)
}

fn inventory(
    client: &MistClient,
    org: &str,
    paging: Paging,
) -> Result<Vec<InventoryDevice>, MistError> {
    let mut items = Vec::new();
    for_each_page(
        client,
        &["api", "v1", "orgs", org, "inventory"],
        &[],
        paging,
        |response| {
            let page: Vec<InventoryDevice> = match serde_json::from_slice(&response.body) {
                Ok(page) => page,
                // Tell a body that is not JSON from one whose entries have unexpected types.
                Err(e) if e.is_data() => {
                    return Err(MistError::Shape {
                        path: response.path.clone(),
                        expected: "an array of inventory entries",
                        found: e.to_string(),
                    });
                }
                Err(e) => {
                    return Err(MistError::Json {
                        path: response.path.clone(),
                        message: e.to_string(),
                    });
                }
            };
            let count = page.len();
            items.extend(page);
            Ok(count)
        },
    )?;
    Ok(items)
}
