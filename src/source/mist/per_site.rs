//! Per-site mode: one device-stats call per site, several in flight.

use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use super::FetchOptions;
use super::client::MistClient;
use super::document::{SiteFailure, site_id, site_outcome};
use super::error::MistError;
use super::ordered::ordered_map;
use super::pagination::{List, collect_all};
use super::project::spent;

/// Fetches the devices of every site of `sites`.
pub(super) fn fetch<P: Send>(
    client: &MistClient,
    options: &FetchOptions,
    sites: Vec<Value>,
    prepare: &(dyn Fn(&mut Value) -> P + Sync),
    on_site: &mut dyn FnMut(Result<P, SiteFailure>),
) -> Result<(), MistError> {
    let ids: Vec<Option<String>> = sites
        .iter()
        .map(|s| site_id(s).map(str::to_owned))
        .collect();
    // Each site is taken, once, by the thread that completes it.
    let sites: Vec<Mutex<Value>> = sites.into_iter().map(Mutex::new).collect();
    // Set by the first error that dooms every later request (token refused, rate limit,
    // budget spent): the sites not yet started are then reported without being tried.
    let fatal: OnceLock<String> = OnceLock::new();
    let concurrency = options.concurrency.max(1);
    ordered_map(
        sites.len(),
        concurrency,
        concurrency * 4,
        |index| {
            let devices = match (&ids[index], fatal.get()) {
                (None, _) => Err("the site has no id".to_owned()),
                (Some(_), Some(reason)) => {
                    Err(format!("not fetched after an earlier failure: {reason}"))
                }
                (Some(id), None) => site_devices(client, id, options).map_err(|error| {
                    if error.is_fatal() {
                        let _ = fatal.set(error.to_string());
                    }
                    error.to_string()
                }),
            };
            site_outcome(index, take_site(&sites[index]), devices).map(|mut site| {
                let prepared = prepare(&mut site);
                spent::keep_site_devices(site);
                prepared
            })
        },
        |_, outcome| on_site(outcome),
    );
    Ok(())
}

/// The site object out of its slot (a poisoned lock only means another thread panicked).
fn take_site(slot: &Mutex<Value>) -> Value {
    match slot.lock() {
        Ok(mut site) => std::mem::take(&mut *site),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

/// Device stats of one site, every type, every page, each device parsed into the
/// projection when there is one, over the device values of the sites this thread built.
fn site_devices(
    client: &MistClient,
    site_id: &str,
    options: &FetchOptions,
) -> Result<Vec<Value>, MistError> {
    collect_all(
        client,
        List {
            segments: &["api", "v1", "sites", site_id, "stats", "devices"],
            query: &[("type", "all".to_owned())],
            paging: options.paging,
        },
        // Sites are already fetched side by side; a site's pages come one at a time.
        1,
        options.devices.as_deref(),
        true,
    )
}
