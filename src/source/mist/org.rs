//! Org-stats mode: the org's device stats and inventory, grouped by site.
//!
//! After the site list, two lists (device stats, inventory) are fetched side by side, their
//! pages several at a time; that is the whole cost whatever the number of sites. Each page
//! of device stats is parsed as it arrives, on the thread that fetched it, and its records
//! kept as compact JSON text grouped by site until their site is built: with a projection
//! (the fields the rules read) that is about a hundred bytes a device, so memory follows
//! the projection, not the organisation; without one, the records' own text.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::FetchOptions;
use super::client::{MistClient, RawResponse};
use super::document::{SiteFailure, site_id, site_outcome};
use super::error::MistError;
use super::inventory::{self, InventoryDevice};
use super::ordered::ordered_map;
use super::pagination::{List, Paging, for_each_page, map_pages};
use super::project::{
    Projection, Texts, parse_array_text, parse_array_text_capturing, record_value,
    record_value_over, spent,
};

/// Fetches the two org-wide lists and hands over every site of `sites`.
pub(super) fn fetch<P: Send>(
    client: &MistClient,
    options: &FetchOptions,
    sites: Vec<Value>,
    prepare: &(dyn Fn(&mut Value) -> P + Sync),
    on_site: &mut dyn FnMut(Result<P, SiteFailure>),
    lists_in: &dyn Fn(),
) -> Result<(), MistError> {
    let org = options.org_id.as_str();
    let paging = options.paging;
    // The two lists share the requests in flight by the work they bring: as many pages
    // each, but a page of device stats is several times the bytes and parsing of a page of
    // inventory, so an even split leaves the stats downloading alone at the end.
    let (for_stats, for_inventory) = split_concurrency(options.concurrency);
    let (stats, inventory) = std::thread::scope(|scope| {
        let stats = scope
            .spawn(|| device_stats(client, org, paging, for_stats, options.devices.as_deref()));
        let inventory = inventory(client, org, paging, for_inventory);
        (joined(stats.join()), inventory)
    });
    let (mut stats, inventory) = (stats?, inventory?);
    // From here on every site is handed over, whatever happens to any one of them.
    lists_in();

    let mut missing: HashMap<String, Vec<InventoryDevice>, Hashing> = HashMap::default();
    for item in inventory {
        let (Some(mac), Some(site)) = (item.mac(), item.site_id()) else {
            continue; // unassigned: belongs to no site agent
        };
        if !stats.macs.contains(mac) {
            missing.entry(site.to_owned()).or_default().push(item);
        }
    }
    // Each site with its devices (`None`: the site has no id), taken once by the thread
    // that builds it.
    type Slot = Option<(Value, Option<(Vec<Record>, Vec<InventoryDevice>)>)>;
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

    // Every list is in: building is processor work only, one thread a core. Builders take
    // sites a run at a time, so handing results over costs a wake-up per run, not per site.
    let concurrency = options.concurrency.max(1);
    let builders = std::thread::available_parallelism().map_or(concurrency, usize::from);
    let runs = site_count.div_ceil(SITES_PER_BUILD);
    ordered_map(
        runs,
        builders.min(concurrency),
        concurrency * 4,
        |run| {
            let first = run * SITES_PER_BUILD;
            (first..site_count.min(first + SITES_PER_BUILD))
                .map(|index| {
                    let slot = match slots[index].lock() {
                        Ok(mut slot) => slot.take(),
                        Err(poisoned) => poisoned.into_inner().take(),
                    };
                    // Every index is dispatched once, so its slot is full.
                    let (site, devices) = slot.unwrap_or_default();
                    let devices = match devices {
                        None => Err("the site has no id".to_owned()),
                        Some((records, missing)) => site_devices(&records, &stats.pages, &missing),
                    };
                    site_outcome(index, site, devices).map(|mut site| {
                        let prepared = prepare(&mut site);
                        spent::keep_site_devices(site);
                        prepared
                    })
                })
                .collect::<Vec<_>>()
        },
        |_, outcomes| outcomes.into_iter().for_each(&mut *on_site),
    );
    Ok(())
}

/// Sites a builder takes at a time once the lists are in.
const SITES_PER_BUILD: usize = 16;

/// A site's devices: its device stats parsed, then its inventory devices missing from them.
fn site_devices(
    records: &[Record],
    pages: &[Texts],
    missing: &[InventoryDevice],
) -> Result<Vec<Value>, String> {
    let mut devices = Vec::with_capacity(records.len() + missing.len());
    for (n, record) in records.iter().enumerate() {
        let text = pages
            .get(record.page as usize)
            .and_then(|page| page.get(record.index as usize))
            .ok_or_else(|| {
                format!(
                    "device #{} of the org stats: its record was not kept",
                    n + 1
                )
            })?;
        let device = match spent::take().map_or_else(
            || record_value(text),
            |spent| record_value_over(text, spent),
        ) {
            Some(device) => device,
            None => serde_json::from_str::<Value>(text)
                .map_err(|e| format!("device #{} of the org stats: {e}", n + 1))?,
        };
        devices.push(device);
    }
    devices.extend(missing.iter().map(InventoryDevice::as_device_stats));
    Ok(devices)
}

/// Requests in flight for the device stats and for the inventory: a quarter for the
/// inventory, at least one each.
fn split_concurrency(concurrency: usize) -> (usize, usize) {
    let for_inventory = (concurrency / 4).max(1);
    (
        (concurrency.saturating_sub(for_inventory)).max(1),
        for_inventory,
    )
}

fn joined<T>(result: std::thread::Result<Result<T, MistError>>) -> Result<T, MistError> {
    result.unwrap_or_else(|_| Err(MistError::Client("a fetching thread panicked".to_owned())))
}

/// How the org's sites and MACs are hashed: a hundred thousand keys a run, where SipHash
/// was a twentieth of the run's instructions. foldhash is still seeded at random per
/// process, so a server cannot choose keys that collide.
type Hashing = foldhash::fast::RandomState;

/// The org's device stats: the texts of every page, each site's records in them, and
/// every MAC seen.
#[derive(Default)]
struct GroupedStats {
    pages: Vec<Texts>,
    by_site: HashMap<String, Vec<Record>, Hashing>,
    macs: MacSet,
    without_site: usize,
}

/// Where a device's record is: its page, and its place in the page.
#[derive(Debug, Clone, Copy)]
struct Record {
    page: u32,
    index: u32,
}

/// A device's MAC as the stats give it. Mist writes twelve lowercase hex digits, kept as a
/// number (no allocation, quick to hash, for as many MACs as the org has devices); any
/// other text is kept as it is, so MACs match exactly as their texts would.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Mac {
    Hex(u64),
    Text(String),
}

impl Mac {
    fn hex(text: &str) -> Option<u64> {
        let lowercase_hex = |byte: u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
        if text.len() == 12 && text.bytes().all(lowercase_hex) {
            u64::from_str_radix(text, 16).ok()
        } else {
            None
        }
    }

    fn new(text: Cow<'_, str>) -> Mac {
        match Mac::hex(&text) {
            Some(number) => Mac::Hex(number),
            None => Mac::Text(text.into_owned()),
        }
    }
}

/// Every MAC of the device stats.
#[derive(Default)]
struct MacSet {
    hex: HashSet<u64, Hashing>,
    text: HashSet<String, Hashing>,
}

impl MacSet {
    fn insert(&mut self, mac: Mac) {
        match mac {
            Mac::Hex(number) => self.hex.insert(number),
            Mac::Text(text) => self.text.insert(text),
        };
    }

    fn contains(&self, mac: &str) -> bool {
        match Mac::hex(mac) {
            Some(number) => self.hex.contains(&number),
            None => self.text.contains(mac),
        }
    }
}

/// The two fields grouping needs; the rest of the device is skipped (but still checked).
#[derive(Deserialize)]
struct DeviceKey {
    site_id: Option<Value>,
    mac: Option<Value>,
}

/// A page of the org stats: its records' texts, and each record's site and MAC.
struct StatsPage {
    texts: Texts,
    keys: Vec<DeviceKeys>,
}

/// The keys a device of the org stats is grouped by.
struct DeviceKeys {
    site: Option<String>,
    mac: Option<Mac>,
}

/// Pages of the org device stats, fetched side by side; each page parsed on the thread that
/// fetched it into the projection (plus the two fields grouping needs), or, without one,
/// into the records' own text.
fn device_stats(
    client: &MistClient,
    org: &str,
    paging: Paging,
    concurrency: usize,
    projection: Option<&Projection>,
) -> Result<GroupedStats, MistError> {
    let each = projection.map(|p| p.clone().with_key("site_id").with_key("mac"));
    // Grouped page by page, in page order, while later pages still download.
    let mut grouped = GroupedStats::default();
    for_each_page(
        client,
        List {
            segments: &["api", "v1", "orgs", org, "stats", "devices"],
            query: &[("type", "all".to_owned())],
            paging,
        },
        concurrency,
        &|response| match &each {
            Some(each) => projected_page(response, each),
            None => raw_page(response),
        },
        &mut |page| {
            let page_number = u32::try_from(grouped.pages.len()).unwrap_or(u32::MAX);
            for (index, keys) in page.keys.into_iter().enumerate() {
                if let Some(mac) = keys.mac {
                    grouped.macs.insert(mac);
                }
                let record = Record {
                    page: page_number,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                match keys.site {
                    // Most records join a site already seen: its key is not copied again.
                    Some(site) => match grouped.by_site.get_mut(&site) {
                        Some(records) => records.push(record),
                        None => {
                            grouped.by_site.insert(site, vec![record]);
                        }
                    },
                    None => grouped.without_site += 1,
                }
            }
            grouped.pages.push(page.texts);
        },
    )?;
    Ok(grouped)
}

fn projected_page(
    response: &RawResponse,
    each: &Projection,
) -> Result<(usize, StatsPage), MistError> {
    if let Some((texts, captured)) =
        parse_array_text_capturing(&response.body, each, ["site_id", "mac"])
    {
        let keys: Vec<DeviceKeys> = captured
            .into_iter()
            .map(|[site, mac]| DeviceKeys {
                site: site.map(Cow::into_owned),
                mac: mac.map(Mac::new),
            })
            .collect();
        return Ok((keys.len(), StatsPage { texts, keys }));
    }
    let texts = parse_array_text(&response.body, each).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => MistError::Shape {
            path: response.path.clone(),
            expected: "a JSON array",
            found: e.to_string(),
        },
        _ => MistError::Json {
            path: response.path.clone(),
            message: e.to_string(),
        },
    })?;
    let mut keys = Vec::with_capacity(texts.len());
    for text in texts.iter() {
        // The projected record is short: reading its two keys again costs little.
        let key: DeviceKey = serde_json::from_str(text).map_err(|e| MistError::Json {
            path: response.path.clone(),
            message: e.to_string(),
        })?;
        let field = |value: Option<Value>| match value {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        keys.push(DeviceKeys {
            site: field(key.site_id),
            mac: field(key.mac).map(|mac| Mac::new(Cow::Owned(mac))),
        });
    }
    Ok((keys.len(), StatsPage { texts, keys }))
}

fn raw_page(response: &RawResponse) -> Result<(usize, StatsPage), MistError> {
    let not_json = |message: String| MistError::Json {
        path: response.path.clone(),
        message,
    };
    // Kept as the elements' text, not as values: text costs its size in bytes, where
    // `serde_json::Value`s cost several times that. Each element is parsed whole later,
    // once, when its site is built.
    let devices: Vec<&RawValue> =
        serde_json::from_slice(&response.body).map_err(|e| not_json(e.to_string()))?;
    let mut texts = Texts::default();
    let mut keys = Vec::with_capacity(devices.len());
    for (n, device) in devices.iter().enumerate() {
        let key: DeviceKey = serde_json::from_str(device.get())
            .map_err(|e| not_json(format!("device #{}: {e}", n + 1)))?;
        let text = |value: Option<Value>| match value {
            Some(Value::String(text)) => Some(text),
            _ => None,
        };
        keys.push(DeviceKeys {
            site: text(key.site_id),
            mac: text(key.mac).map(|mac| Mac::new(Cow::Owned(mac))),
        });
        texts.push(device.get());
    }
    Ok((keys.len(), StatsPage { texts, keys }))
}

fn inventory(
    client: &MistClient,
    org: &str,
    paging: Paging,
    concurrency: usize,
) -> Result<Vec<InventoryDevice>, MistError> {
    let pages = map_pages(
        client,
        List {
            segments: &["api", "v1", "orgs", org, "inventory"],
            query: &[],
            paging,
        },
        concurrency,
        &|response| {
            let page = match inventory::parse_page(&response.body) {
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
            Ok((page.len(), page))
        },
    )?;
    Ok(pages.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stats_get_three_quarters_of_the_requests_in_flight() {
        assert_eq!(split_concurrency(8), (6, 2));
        assert_eq!(split_concurrency(4), (3, 1));
        assert_eq!(split_concurrency(2), (1, 1));
        assert_eq!(split_concurrency(1), (1, 1));
        assert_eq!(split_concurrency(0), (1, 1));
    }

    #[test]
    fn macs_match_exactly_as_their_texts_would() {
        const SEEN: [&str; 5] = [
            "5c5b35000001",
            "000000000000",
            "AABBCCDDEEFF",
            "aa:bb:cc:dd:ee:ff",
            "5c5b3500000",
        ];
        let mut macs = MacSet::default();
        for mac in SEEN {
            macs.insert(Mac::new(Cow::Borrowed(mac)));
        }
        assert_eq!(macs.hex.len(), 2);
        for mac in SEEN {
            assert!(macs.contains(mac), "{mac}");
        }
        for mac in [
            "5C5B35000001",
            "aabbccddeeff",
            "5c5b350000010",
            "0",
            "",
            "+5c5b3500000",
        ] {
            assert!(!macs.contains(mac), "{mac}");
        }
    }
}
