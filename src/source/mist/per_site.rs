//! Per-site mode: one device-stats call per site, several in flight.

use std::sync::OnceLock;

use serde_json::Value;

use super::client::MistClient;
use super::document::{SiteFailure, site_id, site_outcome};
use super::error::MistError;
use super::ordered::ordered_map;
use super::pagination::{Paging, collect_all};
use super::{FetchOptions, list_sites};

/// Fetches every site's devices; returns the number of sites.
pub(super) fn fetch(
    client: &MistClient,
    options: &FetchOptions,
    on_site: &mut dyn FnMut(Result<Value, SiteFailure>),
) -> Result<usize, MistError> {
    let mut sites = list_sites(client, &options.org_id, options.paging)?;
    let ids: Vec<Option<String>> = sites
        .iter()
        .map(|s| site_id(s).map(str::to_owned))
        .collect();
    // Set by the first error that dooms every later request (token refused, rate limit,
    // budget spent): the sites not yet started are then reported without being tried.
    let fatal: OnceLock<String> = OnceLock::new();
    let concurrency = options.concurrency.max(1);
    ordered_map(
        sites.len(),
        concurrency,
        concurrency * 4,
        |index| {
            let Some(id) = &ids[index] else {
                return Err("the site has no id".to_owned());
            };
            if let Some(reason) = fatal.get() {
                return Err(format!("not fetched after an earlier failure: {reason}"));
            }
            site_devices(client, id, options.paging).map_err(|error| {
                if error.is_fatal() {
                    let _ = fatal.set(error.to_string());
                }
                error.to_string()
            })
        },
        |index, devices| {
            on_site(site_outcome(
                index,
                std::mem::take(&mut sites[index]),
                devices,
            ));
        },
    );
    Ok(ids.len())
}

/// Device stats of one site, every type, every page.
fn site_devices(
    client: &MistClient,
    site_id: &str,
    paging: Paging,
) -> Result<Vec<Value>, MistError> {
    collect_all(
        client,
        &["api", "v1", "sites", site_id, "stats", "devices"],
        &[("type", "all".to_owned())],
        paging,
    )
}
