//! The Juniper Mist cloud API, fetched into the document agent mappings read.
//!
//! The site list first, then one of two ways to fetch the devices, chosen by [`plan`] to
//! stay inside the token's hourly budget:
//! - [`Mode::PerSite`]: the site list, then each site's device stats
//!   (`/sites/{id}/stats/devices?type=all`), several sites in flight at once. Costs
//!   `1 + sites` calls (plus pages) and isolates failures to one site.
//! - [`Mode::OrgStats`]: the site list, the org's device stats
//!   (`/orgs/{id}/stats/devices?type=all`) grouped by `site_id`, and the org inventory,
//!   which adds devices the stats omit. Costs three calls (plus pages) whatever the size
//!   of the organisation, which matters under the 5,000 calls/hour limit.
//!
//! `type=all` matters: without it the API returns access points only.
//!
//! Sites are handed over one at a time, in API order, as they complete ([`fetch`]), so the
//! caller can evaluate and write a site while others download, and memory stays bounded
//! by the sites in flight rather than by the organisation. [`fetch_document`] collects
//! them into one document instead.

mod body;
mod client;
mod document;
mod error;
mod host;
mod inventory;
mod ordered;
mod org;
mod pagination;
mod per_site;
mod plan;
mod project;
mod scan;
mod token;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use client::{ClientConfig, MistClient};
pub use client::{MAX_429_RETRIES, retry_delay};
pub use document::{DocumentWriter, SiteFailure, site_id, site_label, site_name};
pub use error::MistError;
pub use host::{BaseUrl, DEFAULT_HOST, HostError, MIST_API_HOSTS};
pub use pagination::{
    DEFAULT_PAGE_LIMIT, MAX_PAGES, PageInfo, Paging, contradicts, next_page, pages_after,
};
pub use plan::{CallBudget, DEFAULT_CALLS_PER_HOUR, DEFAULT_INTERVAL, Mode, Plan, choose};
pub use project::{Project, Projection, parse_array};
pub use token::{ApiToken, TokenError};

/// The whole run's time budget by default, below the Pandora plugin server's usual limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Requests in flight at once in per-site mode by default.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Connection set-up limit; a longer wait means the host is unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A response body larger than this fails: a page of 1,000 devices of 8 KB is 8 MB, and
/// eight requests are in flight at once.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64_000_000;

/// What to fetch and how.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub base: BaseUrl,
    pub token: ApiToken,
    pub org_id: String,
    pub mode: Mode,
    /// The whole run's budget: every request's timeout is capped by what is left of it.
    pub budget: Duration,
    /// When the budget ends; by default `budget` after the fetch starts. Set when the run
    /// started earlier (rules loaded first), so one deadline covers all of it.
    pub deadline: Option<Instant>,
    /// The token's hourly budget and the run's interval: they choose the plan and cap the
    /// calls of the run.
    pub calls: CallBudget,
    /// Bytes a response body may have at most.
    pub max_response_bytes: u64,
    /// What to keep of each device record (`None`: all of it).
    pub devices: Option<Arc<Projection>>,
    /// What to keep of each site object (`None`: all of it); its `id` and `name` are
    /// always kept.
    pub sites: Option<Arc<Projection>>,
    pub connect_timeout: Duration,
    pub paging: Paging,
    /// Sites fetched at once (per-site mode) or built at once (org mode).
    pub concurrency: usize,
}

impl FetchOptions {
    /// Options with the defaults: the plan chosen for 5,000 calls an hour and a run every
    /// 300 s, 15 s, 8 in flight, 1000 items a page, 64 MB a response.
    pub fn new(base: BaseUrl, token: ApiToken, org_id: &str) -> FetchOptions {
        FetchOptions {
            base,
            token,
            org_id: org_id.to_owned(),
            mode: Mode::default(),
            budget: DEFAULT_TIMEOUT,
            deadline: None,
            calls: CallBudget::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            devices: None,
            sites: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            paging: Paging::default(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// How a fetch went, site by site.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// Sites in the organisation's site list.
    pub sites: usize,
    /// Sites handed over with their devices.
    pub fetched: usize,
    /// Sites handed over as failures, in site order.
    pub failures: Vec<SiteFailure>,
    /// HTTP requests made, retries and pages included.
    pub calls: usize,
    /// The plan the devices were fetched with.
    pub mode: Mode,
    /// Requests the run was allowed.
    pub call_cap: usize,
}

/// A fetch that produced no site at all (the site list or an org-wide list failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct FetchFailure {
    pub error: MistError,
    pub calls: usize,
}

/// Fetches the organisation and hands each site to `on_site` in API order: the site object
/// with its `devices`, or why its devices could not be fetched.
pub fn fetch(
    options: &FetchOptions,
    on_site: impl FnMut(Result<Value, SiteFailure>),
) -> Result<FetchReport, FetchFailure> {
    fetch_with(options, Value::take, on_site, || {})
}

/// [`fetch`], with `prepare` run on each site on the fetching threads, as soon as the site
/// is complete and before it is handed over: the work done per site overlaps the fetching
/// and uses every core, while `on_site` still sees the sites one by one, in API order.
/// `prepare` takes what it keeps of the site; what it leaves there the source may reuse for
/// later sites.
///
/// `lists_in` is called, on this thread, once nothing more can fail the run as a whole: in
/// the org-stats plan, when both org-wide lists are in (before any site is handed over); in
/// the per-site plan never, since any later request may still find the token refused.
pub fn fetch_with<P: Send>(
    options: &FetchOptions,
    prepare: impl Fn(&mut Value) -> P + Sync,
    mut on_site: impl FnMut(Result<P, SiteFailure>),
    lists_in: impl Fn(),
) -> Result<FetchReport, FetchFailure> {
    let client = MistClient::new(&ClientConfig {
        base: options.base.clone(),
        token: options.token.clone(),
        budget: options.budget,
        deadline: options.deadline,
        connect_timeout: options.connect_timeout,
        max_response_bytes: options.max_response_bytes,
    })
    .map_err(|error| FetchFailure { error, calls: 0 })?;
    tracing::debug!(
        "fetching organisation {} from {} with token {} ({:?} mode)",
        options.org_id,
        options.base.as_str(),
        options.token.masked(),
        options.mode
    );
    let mut report = FetchReport::default();
    let mut hand_over = |outcome: Result<P, SiteFailure>| {
        match &outcome {
            Ok(_) => report.fetched += 1,
            Err(failure) => report.failures.push(failure.clone()),
        }
        on_site(outcome);
    };
    // Until the plan is known, the site list alone is held to the run's share.
    client.set_call_cap(options.calls.per_run());
    let sites = match list_sites(&client, options) {
        Ok(sites) => sites,
        Err(error) => {
            return Err(FetchFailure {
                error,
                calls: client.calls(),
            });
        }
    };
    let plan = plan::choose(options.mode, sites.len(), client.calls(), options.calls);
    client.set_call_cap(plan.call_cap);
    log_plan(options, plan, sites.len(), client.calls());
    report.mode = plan.mode;
    report.call_cap = plan.call_cap;
    report.sites = sites.len();
    let fetched = match plan.mode {
        Mode::OrgStats => org::fetch(&client, options, sites, &prepare, &mut hand_over, &lists_in),
        Mode::PerSite | Mode::Auto => {
            per_site::fetch(&client, options, sites, &prepare, &mut hand_over)
        }
    };
    report.calls = client.calls();
    match fetched {
        Ok(()) => Ok(report),
        Err(error) => Err(FetchFailure {
            error,
            calls: report.calls,
        }),
    }
}

fn log_plan(options: &FetchOptions, plan: Plan, sites: usize, site_pages: usize) {
    let share = options.calls.per_run();
    let per_site = site_pages + sites;
    let why = match (options.mode, plan.mode) {
        (Mode::Auto, Mode::PerSite) => format!(
            "auto: {sites} site(s) need {per_site} call(s) a run, within the {share} of {} calls/hour over {:.1} runs/hour",
            options.calls.calls_per_hour,
            options.calls.runs_per_hour()
        ),
        (Mode::Auto, _) => format!(
            "auto: {sites} site(s) would need {per_site} call(s) a run per site, above the {share} of {} calls/hour over {:.1} runs/hour",
            options.calls.calls_per_hour,
            options.calls.runs_per_hour()
        ),
        _ => "as asked".to_owned(),
    };
    tracing::info!(
        "plan {} ({why}); at most {} call(s) this run",
        plan.mode.name(),
        plan.call_cap
    );
    if options.mode == Mode::PerSite && per_site > share {
        tracing::warn!(
            "the per-site plan spends {per_site} call(s) a run, above this run's share of {share} ({} calls/hour, a run every {} s): the token will run out within the hour; --plan auto would stay inside it",
            options.calls.calls_per_hour,
            options.calls.interval.as_secs()
        );
    }
}

/// A whole organisation in one document.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `{"sites":[...]}` without the failed sites.
    pub document: Value,
    pub report: FetchReport,
}

/// Fetches the organisation into one document (see [`fetch`] to process it site by site).
pub fn fetch_document(options: &FetchOptions) -> Result<Fetched, FetchFailure> {
    let mut sites = Vec::new();
    let report = fetch(options, |outcome| {
        if let Ok(site) = outcome {
            sites.push(site);
        }
    })?;
    let mut document = serde_json::Map::new();
    document.insert("sites".to_owned(), Value::Array(sites));
    Ok(Fetched {
        document: Value::Object(document),
        report,
    })
}

/// Every site of the organisation, in API order.
fn list_sites(client: &MistClient, options: &FetchOptions) -> Result<Vec<Value>, MistError> {
    let each = options
        .sites
        .as_deref()
        .map(|sites| sites.clone().with_key("id").with_key("name"));
    pagination::collect_all(
        client,
        pagination::List {
            segments: &["api", "v1", "orgs", &options.org_id, "sites"],
            query: &[],
            paging: options.paging,
        },
        options.concurrency,
        each.as_ref(),
        false,
    )
}
