//! Integration tests: the Mist source against a local mock of the API (both fetch modes,
//! pagination, every error path), and the `pandora_mist` / `monbridge mist` commands end to
//! end (stdout contract, exit codes, messages, spool files, no token anywhere).

use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{Value, json};

use crate::common::mist_mock::{
    Finished, MistMock, ORG, Query, SITES, TOKEN, entry, files_in, fixture_json, monbridge_mist,
    pandora_mist, pandora_mist_for, parse_like_pandora, run_bounded, site_devices_path, sites_path,
};
use monbridge::source::mist::{
    ApiToken, BaseUrl, FetchFailure, FetchOptions, Fetched, MAX_PAGES, MistError, Mode, Paging,
    fetch_document,
};

/// Long enough for a debug build on a busy machine, far below the 73 s of a Retry-After.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

const SITE_DEVICE_FILES: [&str; 4] = [
    "site_stats_devices_mist_office.json",
    "site_stats_devices_madrid_hq.json",
    "site_stats_devices_dublin_edge.json",
    "site_stats_devices_lab_empty.json",
];

fn options(mock: &MistMock, mode: Mode, limit: u32) -> FetchOptions {
    let base = BaseUrl::from_api_url(&mock.url()).expect("mock URL");
    let mut options = FetchOptions::new(base, ApiToken::new(TOKEN).expect("token"), ORG);
    options.mode = mode;
    options.paging = Paging {
        limit,
        max_pages: MAX_PAGES,
    };
    options
}

/// The document the fixtures describe: every site field plus its devices.
fn expected_document(org_stats: bool) -> Value {
    let sites = fixture_json("sites.json");
    let sites: Vec<Value> = sites
        .as_array()
        .expect("array")
        .iter()
        .zip(SITE_DEVICE_FILES)
        .map(|(site, devices_file)| {
            let mut site = site.clone();
            let mut devices = fixture_json(devices_file);
            if org_stats && site["id"] == SITES[3].0 {
                // In the inventory, absent from the stats.
                devices = json!([{
                    "mac": "0c8126c4d5e6", "type": "ap", "name": "LAB-AP01",
                    "site_id": SITES[3].0, "model": "AP45", "serial": "A1234567890LB",
                    "connected": false, "status": "disconnected"
                }]);
            }
            site["devices"] = devices;
            site
        })
        .collect();
    json!({ "sites": sites })
}

fn fetch_ok(options: &FetchOptions) -> Fetched {
    fetch_document(options).unwrap_or_else(|e| panic!("fetch failed: {e}"))
}

fn fetch_err(options: &FetchOptions) -> FetchFailure {
    match fetch_document(options) {
        Ok(fetched) => panic!("expected a failure, fetched {:?}", fetched.report),
        Err(failure) => {
            assert!(!failure.to_string().contains(TOKEN), "token in {failure}");
            failure
        }
    }
}

// ---------------------------------------------------------------- the source, per site

#[test]
fn per_site_mode_fetches_every_site_with_all_device_types() {
    let mock = MistMock::start();
    let mocks = mock.per_site();
    let fetched = fetch_ok(&options(&mock, Mode::PerSite, 100));
    assert_eq!(fetched.document, expected_document(false));
    // Sites and devices in API order.
    let names: Vec<&str> = fetched.document["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SITES.map(|(_, name)| name));
    assert_eq!(fetched.report.sites, 4);
    assert_eq!(fetched.report.fetched, 4);
    assert!(fetched.report.failures.is_empty());
    assert_eq!(fetched.report.calls, 5);
    for m in &mocks {
        m.assert_calls(1);
    }
}

#[test]
fn per_site_mode_pages_the_site_list() {
    let mock = MistMock::start();
    let page1 = mock.serve("sites_page1.json", Query::Exact);
    let page2 = mock.serve("sites_page2.json", Query::Exact);
    // The device lists answer any page size with everything and X-Page-Limit 100: the
    // limit is read from the response, so no second page is asked for.
    let devices = mock.site_devices(Query::AnyPaging);
    let fetched = fetch_ok(&options(&mock, Mode::PerSite, 2));
    assert_eq!(fetched.document, expected_document(false));
    page1.assert_calls(1);
    page2.assert_calls(1);
    for m in &devices {
        m.assert_calls(1);
    }
    assert_eq!(fetched.report.calls, 6);
}

#[test]
fn a_site_whose_devices_fail_is_left_out_and_reported() {
    let mock = MistMock::start();
    mock.serve("sites.json", Query::Exact);
    mock.serve(SITE_DEVICE_FILES[0], Query::Exact);
    mock.fail(
        &site_devices_path(SITES[1].0),
        500,
        "error_400.json",
        &[],
        None,
    );
    mock.serve(SITE_DEVICE_FILES[2], Query::Exact);
    mock.serve(SITE_DEVICE_FILES[3], Query::Exact);
    let fetched = fetch_ok(&options(&mock, Mode::PerSite, 100));
    let mut expected = expected_document(false);
    expected["sites"].as_array_mut().unwrap().remove(1);
    assert_eq!(fetched.document, expected);
    assert_eq!(fetched.report.sites, 4);
    assert_eq!(fetched.report.fetched, 3);
    let [failure] = fetched.report.failures.as_slice() else {
        panic!("one failure expected: {:?}", fetched.report.failures);
    };
    assert_eq!(failure.id.as_deref(), Some(SITES[1].0));
    assert_eq!(failure.name.as_deref(), Some("Madrid HQ"));
    let text = failure.to_string();
    assert!(text.contains("Madrid HQ"), "{text}");
    assert!(text.contains("HTTP 500 Internal Server Error"), "{text}");
    assert!(
        text.contains("JSON parse error"),
        "the body's detail: {text}"
    );
    assert!(text.contains(&site_devices_path(SITES[1].0)), "{text}");
}

#[test]
fn a_refused_token_stops_the_remaining_sites() {
    let mock = MistMock::start();
    mock.serve("sites.json", Query::Exact);
    let refused = mock.server.mock(|when, then| {
        when.path_includes("/stats/devices");
        then.status(401).body(r#"{"detail": "Invalid token."}"#);
    });
    let mut options = options(&mock, Mode::PerSite, 100);
    options.concurrency = 1;
    let fetched = fetch_ok(&options);
    assert_eq!(fetched.document, json!({"sites": []}));
    assert_eq!(fetched.report.failures.len(), 4);
    // One refusal is enough: the other sites are reported, not tried.
    refused.assert_calls(1);
    assert!(
        fetched.report.failures[0]
            .reason
            .contains("rejected the token")
    );
    for failure in &fetched.report.failures[1..] {
        assert!(
            failure
                .reason
                .starts_with("not fetched after an earlier failure"),
            "{failure}"
        );
    }
}

// ---------------------------------------------------------------- the source, org-wide

#[test]
fn org_stats_mode_groups_devices_by_site_and_adds_inventory_only_devices() {
    let mock = MistMock::start();
    let mocks = mock.org_stats();
    let fetched = fetch_ok(&options(&mock, Mode::OrgStats, 100));
    assert_eq!(fetched.document, expected_document(true));
    assert_eq!(fetched.report.calls, 3);
    for m in &mocks {
        m.assert_calls(1);
    }
}

#[test]
fn org_stats_mode_pages_the_device_stats_with_the_fewest_calls() {
    let mock = MistMock::start();
    mock.serve("sites.json", Query::AnyPaging);
    let page1 = mock.serve("org_stats_devices_page1.json", Query::Exact);
    let page2 = mock.serve("org_stats_devices_page2.json", Query::Exact);
    mock.serve("org_inventory.json", Query::AnyPaging);
    let fetched = fetch_ok(&options(&mock, Mode::OrgStats, 5));
    assert_eq!(fetched.document, expected_document(true));
    page1.assert_calls(1);
    page2.assert_calls(1);
    // 10 devices by 5: two pages; sites and inventory: one each.
    assert_eq!(fetched.report.calls, 4);
}

#[test]
fn org_stats_mode_fails_whole_when_an_org_list_fails() {
    let mock = MistMock::start();
    mock.serve("sites.json", Query::Exact);
    mock.serve("org_stats_devices.json", Query::Exact);
    mock.fail(
        &format!("/api/v1/orgs/{ORG}/inventory"),
        403,
        "error_403.json",
        &[],
        None,
    );
    let failure = fetch_err(&options(&mock, Mode::OrgStats, 100));
    assert!(
        matches!(failure.error, MistError::Forbidden { .. }),
        "{failure}"
    );
    assert_eq!(failure.calls, 3);
}

// ---------------------------------------------------------------- errors

#[test]
fn http_401_names_the_token_problem() {
    let mock = MistMock::start();
    mock.manifest_error("error_401.json");
    let failure = fetch_err(&options(&mock, Mode::PerSite, 100));
    let text = failure.to_string();
    assert!(
        matches!(failure.error, MistError::Unauthorized { .. }),
        "{text}"
    );
    assert!(text.contains("rejected the token (HTTP 401"), "{text}");
    assert!(
        text.contains("Authentication credentials were not provided."),
        "{text}"
    );
    assert!(text.contains(&sites_path()), "{text}");
}

#[test]
fn http_403_names_the_missing_privilege() {
    let mock = MistMock::start();
    mock.manifest_error("error_403.json");
    let text = fetch_err(&options(&mock, Mode::PerSite, 100)).to_string();
    assert!(
        text.contains("the token lacks privilege on this organisation (HTTP 403"),
        "{text}"
    );
}

#[test]
fn http_404_suggests_the_org_id_or_the_regional_host() {
    let mock = MistMock::start();
    mock.manifest_error("error_404.json");
    let mut options = options(&mock, Mode::PerSite, 100);
    options.org_id = "00000000-0000-0000-0000-000000000000".to_owned();
    let text = fetch_err(&options).to_string();
    assert!(text.contains("not found (HTTP 404)"), "{text}");
    assert!(text.contains("wrong organisation id"), "{text}");
    assert!(text.contains("--host"), "{text}");
    assert!(text.contains(&entry("error_404.json").path), "{text}");
}

#[test]
fn http_429_with_a_retry_after_that_fits_is_retried() {
    let mock = MistMock::start();
    // Created first, so it answers the first request only; the fixture follows.
    let limited = mock.fail(
        &sites_path(),
        429,
        "error_429.json",
        &[("Retry-After", "1")],
        Some(1),
    );
    mock.per_site();
    let fetched = fetch_ok(&options(&mock, Mode::PerSite, 100));
    limited.assert_calls(1);
    assert_eq!(fetched.document, expected_document(false));
    assert_eq!(fetched.report.calls, 6);
}

#[test]
fn http_429_with_a_retry_after_beyond_the_budget_fails_at_once() {
    let mock = MistMock::start();
    assert_eq!(entry("error_429.json").headers["Retry-After"], "73");
    let limited = mock.manifest_error("error_429.json");
    let failure = fetch_err(&options(&mock, Mode::PerSite, 100));
    let text = failure.to_string();
    assert!(
        matches!(failure.error, MistError::RateLimited { .. }),
        "{text}"
    );
    assert!(text.contains("Retry-After of 73 s does not fit"), "{text}");
    assert!(text.contains("Too Many Request"), "{text}");
    limited.assert_calls(1);
}

#[test]
fn http_429_without_retry_after_backs_off_within_the_budget_only() {
    let mock = MistMock::start();
    let limited = mock.fail(&sites_path(), 429, "error_429.json", &[], None);
    let mut options = options(&mock, Mode::PerSite, 100);
    // The 1 s back-off fits in 2 s, the next one (2 s) cannot.
    options.budget = Duration::from_secs(2);
    let text = fetch_err(&options).to_string();
    assert!(text.contains("rate limited (HTTP 429"), "{text}");
    assert!(text.contains("back-off of"), "{text}");
    let calls = limited.calls();
    assert!((1..=2).contains(&calls), "{calls} calls");
}

#[test]
fn http_500_reports_status_and_detail() {
    let mock = MistMock::start();
    mock.server.mock(|when, then| {
        when.path(sites_path());
        then.status(500)
            .body(r#"{"detail": "Internal error, try again later"}"#);
    });
    let text = fetch_err(&options(&mock, Mode::PerSite, 100)).to_string();
    assert!(text.contains("HTTP 500 Internal Server Error"), "{text}");
    assert!(text.contains("Internal error, try again later"), "{text}");
}

#[test]
fn a_response_slower_than_the_budget_fails() {
    let mock = MistMock::start();
    let e = entry("sites.json");
    mock.serve_entry(
        &e,
        Query::Exact,
        crate::common::read_fixture("mist/sites.json"),
        Some(Duration::from_secs(5)),
    );
    let mut options = options(&mock, Mode::PerSite, 100);
    options.budget = Duration::from_secs(1);
    let failure = fetch_err(&options);
    assert!(
        matches!(failure.error, MistError::Timeout { .. }),
        "{failure}"
    );
    assert!(failure.to_string().contains("no complete response in time"));
}

#[test]
fn a_truncated_body_names_the_request() {
    let mock = MistMock::start();
    let body = crate::common::read_fixture("mist/sites.json");
    mock.serve_entry(
        &entry("sites.json"),
        Query::Exact,
        body[..body.len() / 2].to_vec(),
        None,
    );
    let text = fetch_err(&options(&mock, Mode::PerSite, 100)).to_string();
    assert!(text.contains("the response is not valid JSON"), "{text}");
    assert!(
        text.contains(&format!("{}?limit=100&page=1", sites_path())),
        "{text}"
    );
}

#[test]
fn a_truncated_org_stats_page_names_the_request() {
    let mock = MistMock::start();
    mock.serve("sites.json", Query::Exact);
    mock.serve("org_inventory.json", Query::Exact);
    let body = crate::common::read_fixture("mist/org_stats_devices.json");
    mock.serve_entry(
        &entry("org_stats_devices.json"),
        Query::Exact,
        body[..body.len() - 10].to_vec(),
        None,
    );
    let text = fetch_err(&options(&mock, Mode::OrgStats, 100)).to_string();
    assert!(text.contains("the response is not valid JSON"), "{text}");
    assert!(
        text.contains("/stats/devices?type=all&limit=100&page=1"),
        "{text}"
    );
}

#[test]
fn a_server_that_never_finishes_paging_hits_the_safety_cap() {
    let mock = MistMock::start();
    // Claims a million sites in pages of two: more pages than the cap, known at once.
    let sites = mock.server.mock(|when, then| {
        when.path(sites_path());
        then.status(200)
            .header("X-Page-Total", "1000000")
            .header("X-Page-Limit", "2")
            .header("X-Page-Page", "1")
            .body(crate::common::read_fixture("mist/sites_page1.json"));
    });
    let mut options = options(&mock, Mode::PerSite, 2);
    options.paging.max_pages = 3;
    options.calls.calls_per_hour = 1_000_000_000;
    let text = fetch_err(&options).to_string();
    assert!(text.contains("still more pages after 3"), "{text}");
    sites.assert_calls(1);
}

#[test]
fn a_server_that_repeats_a_page_stops_the_paging() {
    let mock = MistMock::start();
    // Three pages announced, page 1 served whatever page is asked.
    mock.server.mock(|when, then| {
        when.path(sites_path());
        then.status(200)
            .header("X-Page-Total", "6")
            .header("X-Page-Limit", "2")
            .header("X-Page-Page", "1")
            .body(crate::common::read_fixture("mist/sites_page1.json"));
    });
    let text = fetch_err(&options(&mock, Mode::PerSite, 2)).to_string();
    assert!(text.contains("X-Page-Page"), "{text}");
}

// ---------------------------------------------------------------- pandora_mist

fn assert_plugin_failed(run: &Finished, expected: &str) {
    assert_eq!(
        run.stdout, "0\n",
        "stdout must be exactly 0; stderr: {}",
        run.stderr
    );
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in stderr: {}",
        run.stderr
    );
    assert_no_token(run);
}

fn assert_no_token(run: &Finished) {
    assert!(!run.stdout.contains(TOKEN), "token on stdout");
    assert!(
        !run.stderr.contains(TOKEN),
        "token on stderr: {}",
        run.stderr
    );
}

fn assert_no_token_in(dir: &Path) {
    for file in files_in(dir) {
        let text = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(TOKEN),
            "token in {}",
            file.display()
        );
    }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One parsed agent file: attributes of `<agent_data>` and (name → type, data, description).
struct ParsedAgent {
    file: PathBuf,
    parsed: Value,
}

impl ParsedAgent {
    fn attribute(&self, name: &str) -> &str {
        self.parsed[name].as_str().unwrap_or_default()
    }

    fn module(&self, name: &str) -> Option<(String, String, String)> {
        let text = |v: &Value| match v {
            Value::Array(items) => items
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        self.parsed["module"]
            .as_array()?
            .iter()
            .find(|m| text(&m["name"]) == name)
            .map(|m| (text(&m["type"]), text(&m["data"]), text(&m["description"])))
    }

    fn module_names(&self) -> Vec<String> {
        self.parsed["module"]
            .as_array()
            .map(|modules| {
                modules
                    .iter()
                    .filter_map(|m| m["name"][0].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads a spool directory: checks every name is `md5(agent_name).<ts>.data` (with `ts`
/// when given) and returns the agents keyed by site id (the end of the agent name).
fn read_spool(dir: &Path, timestamp: Option<i64>) -> Vec<ParsedAgent> {
    let agents: Vec<ParsedAgent> = files_in(dir)
        .into_iter()
        .map(|file| {
            let parsed = parse_like_pandora(&file);
            ParsedAgent { file, parsed }
        })
        .collect();
    for agent in &agents {
        let name = agent.file.file_name().unwrap().to_str().unwrap();
        let (stem, rest) = name.split_once('.').expect("md5.<ts>.data");
        assert_eq!(stem, md5_hex(agent.attribute("agent_name")), "{name}");
        let ts = rest.strip_suffix(".data").expect(".data suffix");
        assert!(
            ts.chars().all(|c| c.is_ascii_digit()) && !ts.is_empty(),
            "{name}"
        );
        if let Some(expected) = timestamp {
            assert_eq!(ts, expected.to_string());
        }
    }
    agents
}

fn agent_for_site<'a>(agents: &'a [ParsedAgent], site_id: &str) -> &'a ParsedAgent {
    agents
        .iter()
        .find(|a| a.attribute("agent_name").ends_with(&format!("_{site_id}")))
        .unwrap_or_else(|| panic!("no agent for site {site_id}"))
}

/// The fixtures README's expected results, for the sites in `present`.
fn assert_fixture_agents(agents: &[ParsedAgent], present: &[usize], org_stats: bool) {
    assert_eq!(agents.len(), present.len(), "one file per site");
    let names = [
        "MIST_Mist Office_US",
        "MIST_Madrid HQ_ES",
        "MIST_O'Brien's Café & Bar <Dublin>_IE",
    ];
    let totals = [(3, 1), (1, 3), (1, 1), (0, if org_stats { 1 } else { 0 })];
    let devices: [&[(&str, &str, &str)]; 4] = [
        &[
            (
                "ap_Phoenix_5c5b35d0077b",
                "1",
                "IP: 192.168.95.3. Status: connected",
            ),
            (
                "ap_Lobby-AP_5c5b35d00a11",
                "0",
                "IP: 192.168.95.4. Status: disconnected",
            ),
            (
                "switch_xg50b_dc38e1dbf3cd",
                "1",
                "IP: 10.2.11.137. Status: connected",
            ),
            (
                "gateway_wan_srx_tor_hub1-srx_4db14e107134",
                "1",
                "IP: 69.196.157.190. Status: connected",
            ),
        ],
        &[
            (
                "ap_MAD-P1-AP01_d420b0853201",
                "0",
                "IP: 10.20.1.11. Status: restarting",
            ),
            (
                "ap_MAD-P1-AP02_d420b0853202",
                "0",
                "IP: 10.20.1.12. Status: upgrading",
            ),
            (
                "switch_MAD-IDF1-EX2300_2c6bf5a1b200",
                "0",
                "IP: 10.20.0.2. Status: disconnected",
            ),
            (
                "gateway_MAD-SRX320_f4b52f0a9c01",
                "1",
                "IP: 83.42.53.1. Status: connected",
            ),
        ],
        &[(
            "ap_Bar & Terraza 'AP' <1>_a8537d1e0f01",
            "1",
            "IP: 10.30.0.21. Status: connected",
        )],
        &[],
    ];
    for &index in present {
        let (site_id, site_name) = SITES[index];
        let agent = agent_for_site(agents, site_id);
        let agent_name = agent.attribute("agent_name");
        if index < 3 {
            assert_eq!(agent_name, format!("{}_{site_id}", names[index]));
            assert_eq!(agent.attribute("agent_alias"), names[index]);
        } else {
            // No country code: how the gap is shown is the rules' choice.
            assert!(
                agent_name.starts_with(&format!("MIST_{site_name}_")),
                "{agent_name}"
            );
        }
        assert_eq!(agent.attribute("group"), "Mist");
        let (connected, not_connected) = totals[index];
        // The totals' descriptions are the rules' wording; type and value are the contract.
        for (module, value) in [
            ("Total devices connected", connected),
            ("Total devices not connected", not_connected),
        ] {
            assert_eq!(
                agent.module(module).map(|(kind, data, _)| (kind, data)),
                Some(("generic_data".into(), value.to_string())),
                "{agent_name}: {module}"
            );
        }
        for (module, data, description) in devices[index] {
            assert_eq!(
                agent.module(module),
                Some((
                    "generic_proc".into(),
                    data.to_string(),
                    description.to_string()
                )),
                "{agent_name}: {module}"
            );
        }
        let device_modules = agent.module_names().len() - 2;
        let expected_devices = match index {
            2 => 2, // plus the unnamed AP
            3 => usize::from(org_stats),
            i => devices[i].len(),
        };
        assert_eq!(
            device_modules,
            expected_devices,
            "{agent_name}: {:?}",
            agent.module_names()
        );
        if index == 2 {
            let unnamed = agent
                .module_names()
                .into_iter()
                .find(|n| n.starts_with("ap_") && n.ends_with("_a8537d1e0f02"))
                .expect("a module for the unnamed AP");
            let (kind, data, _) = agent.module(&unnamed).unwrap();
            assert_eq!((kind.as_str(), data.as_str()), ("generic_proc", "0"));
        }
        if index == 3 && org_stats {
            let (kind, data, description) = agent.module("ap_LAB-AP01_0c8126c4d5e6").unwrap();
            assert_eq!((kind.as_str(), data.as_str()), ("generic_proc", "0"));
            assert!(
                description.ends_with("Status: disconnected"),
                "{description}"
            );
        }
    }
}

#[test]
fn plugin_writes_one_agent_per_site() {
    let mock = MistMock::start();
    mock.per_site();
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--page-limit", "100"]),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    assert_eq!(run.code, Some(0));
    assert_no_token(&run);
    assert_no_token_in(spool.path());
    let agents = read_spool(spool.path(), None);
    assert_fixture_agents(&agents, &[0, 1, 2, 3], false);
}

#[test]
fn plugin_org_stats_mode_writes_the_same_agents_plus_inventory_devices() {
    let mock = MistMock::start();
    mock.org_stats();
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--org-stats", "--page-limit", "100"]),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    assert_eq!(run.code, Some(0));
    assert_no_token(&run);
    let agents = read_spool(spool.path(), None);
    assert_fixture_agents(&agents, &[0, 1, 2, 3], true);
}

#[test]
fn plugin_with_a_failed_site_writes_the_others_and_prints_0() {
    let mock = MistMock::start();
    mock.serve("sites.json", Query::Exact);
    mock.serve(SITE_DEVICE_FILES[0], Query::Exact);
    mock.serve(SITE_DEVICE_FILES[1], Query::Exact);
    mock.fail(
        &site_devices_path(SITES[2].0),
        500,
        "error_400.json",
        &[],
        None,
    );
    mock.serve(SITE_DEVICE_FILES[3], Query::Exact);
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--page-limit", "100"]),
        CHILD_LIMIT,
    );
    assert_plugin_failed(&run, "O'Brien's Café & Bar <Dublin>");
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
    let agents = read_spool(spool.path(), None);
    assert_fixture_agents(&agents, &[0, 1, 3], false);
}

/// A scenario where the plugin must print 0, say why, and write nothing.
fn plugin_fails(mock: &MistMock, extra: &[&str], expected: &str) -> Finished {
    let spool = tempfile::tempdir().unwrap();
    let mut args = vec!["--page-limit", "100"];
    args.extend_from_slice(extra);
    let run = run_bounded(&mut pandora_mist(mock, spool.path(), &args), CHILD_LIMIT);
    assert_plugin_failed(&run, expected);
    assert!(files_in(spool.path()).is_empty(), "no file may be written");
    run
}

#[test]
fn plugin_reports_401() {
    let mock = MistMock::start();
    mock.manifest_error("error_401.json");
    plugin_fails(&mock, &[], "rejected the token (HTTP 401");
}

#[test]
fn plugin_reports_403() {
    let mock = MistMock::start();
    mock.manifest_error("error_403.json");
    plugin_fails(&mock, &[], "lacks privilege on this organisation (HTTP 403");
}

#[test]
fn plugin_reports_404() {
    let mock = MistMock::start();
    mock.manifest_error("error_404.json");
    let spool = tempfile::tempdir().unwrap();
    let mut command = pandora_mist_for(
        "00000000-0000-0000-0000-000000000000",
        &mock,
        spool.path(),
        &[],
    );
    let run = run_bounded(&mut command, CHILD_LIMIT);
    assert_plugin_failed(&run, "not found (HTTP 404)");
    assert!(run.stderr.contains("--host"), "{}", run.stderr);
}

#[test]
fn plugin_fails_fast_on_429_with_a_long_retry_after() {
    let mock = MistMock::start();
    let limited = mock.fail(
        &sites_path(),
        429,
        "error_429.json",
        &[("Retry-After", "73")],
        None,
    );
    // Bounded well below 73 s by CHILD_LIMIT: the plugin must not sleep.
    plugin_fails(&mock, &[], "Retry-After of 73 s does not fit");
    limited.assert_calls(1);
}

#[test]
fn plugin_retries_429_with_a_short_retry_after() {
    let mock = MistMock::start();
    mock.fail(
        &sites_path(),
        429,
        "error_429.json",
        &[("Retry-After", "1")],
        Some(1),
    );
    mock.per_site();
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--page-limit", "100"]),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("rate limited (HTTP 429); retry 1 of 3"),
        "{}",
        run.stderr
    );
    assert_eq!(files_in(spool.path()).len(), 4);
}

#[test]
fn plugin_reports_429_without_retry_after() {
    let mock = MistMock::start();
    mock.fail(&sites_path(), 429, "error_429.json", &[], None);
    plugin_fails(&mock, &["--timeout", "2"], "rate limited (HTTP 429");
}

#[test]
fn plugin_reports_500() {
    let mock = MistMock::start();
    mock.server.mock(|when, then| {
        when.path(sites_path());
        then.status(500).body(r#"{"detail": "Internal error"}"#);
    });
    plugin_fails(&mock, &[], "HTTP 500 Internal Server Error: Internal error");
}

#[test]
fn plugin_gives_up_on_a_response_slower_than_its_timeout() {
    let mock = MistMock::start();
    mock.serve_entry(
        &entry("sites.json"),
        Query::Exact,
        crate::common::read_fixture("mist/sites.json"),
        Some(Duration::from_secs(5)),
    );
    plugin_fails(&mock, &["--timeout", "1"], "no complete response in time");
}

#[test]
fn plugin_reports_a_truncated_body() {
    let mock = MistMock::start();
    let body = crate::common::read_fixture("mist/sites.json");
    mock.serve_entry(
        &entry("sites.json"),
        Query::Exact,
        body[..100].to_vec(),
        None,
    );
    plugin_fails(&mock, &[], "the response is not valid JSON");
}

#[test]
fn plugin_usage_errors_exit_2_and_still_print_0() {
    let cases: [(&[&str], &str); 4] = [
        (&["-o", ORG], "--token"),
        (&["-t", TOKEN], "--org"),
        (
            &["-t", TOKEN, "-o", ORG, "--host", "api.eu.mist.co"],
            "did you mean `api.eu.mist.com`?",
        ),
        (&["-t", TOKEN, "-o", ORG, "--bogus"], "--bogus"),
    ];
    for (args, expected) in cases {
        let mut command = std::process::Command::new(crate::common::bin("pandora_mist"));
        command.env_remove("MIST_API_TOKEN").args(args);
        let run = run_bounded(&mut command, CHILD_LIMIT);
        assert_eq!(run.stdout, "0\n", "{args:?}");
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert_no_token(&run);
    }
}

#[test]
fn plugin_refuses_a_malformed_token_without_echoing_it() {
    let secret = format!("{TOKEN} with spaces");
    let mut command = std::process::Command::new(crate::common::bin("pandora_mist"));
    command.env("MIST_API_TOKEN", &secret).args(["-o", ORG]);
    let run = run_bounded(&mut command, CHILD_LIMIT);
    assert_eq!((run.stdout.as_str(), run.code), ("0\n", Some(2)));
    assert!(run.stderr.contains("cannot carry"), "{}", run.stderr);
    assert_no_token(&run);
}

#[test]
fn plugin_help_goes_to_stdout_with_the_documented_options() {
    let mut command = std::process::Command::new(crate::common::bin("pandora_mist"));
    command.env("MIST_API_TOKEN", TOKEN).arg("-h");
    let run = run_bounded(&mut command, CHILD_LIMIT);
    assert_eq!(run.code, Some(0));
    for option in [
        "-t, --token <token>",
        "-o, --org <org_id>",
        "-g, --group <group>",
        "-p, --prefix <prefix>",
        "--data_dir <data_dir>",
        "[default: Mist]",
        "[default: /var/spool/pandora/data_in]",
    ] {
        assert!(
            run.stdout.contains(option),
            "{option} missing from help:\n{}",
            run.stdout
        );
    }
    // The token in the environment is not shown by the help either.
    assert_no_token(&run);
}

// ---------------------------------------------------------------- monbridge mist

#[test]
fn monbridge_mist_writes_files_named_after_the_fixed_time() {
    let mock = MistMock::start();
    mock.per_site();
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut monbridge_mist(
            &mock,
            spool.path(),
            &["--page-limit", "100", "--now", "2024-07-10T10:05:00Z"],
        ),
        CHILD_LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains(
            "mist: 4 agent(s) written, 0 agent(s) failed, 0 of 4 site(s) failed, 5 API call(s)"
        ),
        "{}",
        run.stderr
    );
    assert_no_token(&run);
    let agents = read_spool(spool.path(), Some(1_720_605_900));
    assert_fixture_agents(&agents, &[0, 1, 2, 3], false);
    for agent in &agents {
        assert_eq!(agent.attribute("timestamp"), "2024/07/10 10:05:00");
    }
    // Every file exactly as written into the spool, under its own name.
    let mut files: Vec<_> = std::fs::read_dir(spool.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let site = text
            .split("agent_name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .rsplit('_')
            .next()
            .unwrap()
            .to_owned();
        crate::common::snapshot_settings().bind(|| {
            insta::assert_snapshot!(
                format!("mist_spool_{site}"),
                format!("file: {name}\n\n{text}")
            )
        });
    }
}

#[test]
fn monbridge_mist_dry_run_prints_agents_and_writes_nothing() {
    let mock = MistMock::start();
    mock.org_stats();
    let spool = tempfile::tempdir().unwrap();
    let saved = spool.path().join("document.json");
    let out = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut monbridge_mist(
            &mock,
            out.path(),
            &[
                "--org-stats",
                "--page-limit",
                "100",
                "--dry-run",
                "--now",
                "2024-07-10T10:05:00Z",
                "--save",
                saved.to_str().unwrap(),
            ],
        ),
        CHILD_LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_no_token(&run);
    assert!(
        files_in(out.path()).is_empty(),
        "a dry run writes no agent file"
    );
    assert_eq!(
        run.stdout.matches("<agent_data").count(),
        4,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ap_LAB-AP01_0c8126c4d5e6"),
        "{}",
        run.stdout
    );
    // The saved document is the one the rules read.
    let document: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(document, expected_document(true));
    assert_no_token_in(spool.path());
}

#[test]
fn monbridge_mist_reports_a_failed_fetch_with_exit_1() {
    let mock = MistMock::start();
    mock.manifest_error("error_401.json");
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(&mut monbridge_mist(&mock, spool.path(), &[]), CHILD_LIMIT);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("rejected the token (HTTP 401"),
        "{}",
        run.stderr
    );
    assert_no_token(&run);
    assert!(files_in(spool.path()).is_empty());
}

#[test]
fn monbridge_mist_usage_errors_exit_2() {
    let mut command = std::process::Command::new(crate::common::bin("monbridge"));
    command.env("MIST_API_TOKEN", TOKEN).args([
        "mist",
        "--org",
        ORG,
        "--host",
        "manage.eu.mist.com",
    ]);
    let run = run_bounded(&mut command, CHILD_LIMIT);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("did you mean `api.eu.mist.com`?"),
        "{}",
        run.stderr
    );
    assert_no_token(&run);
}

// ---------------------------------------------------------------- call plan and budget

#[test]
fn plugin_by_default_fetches_a_small_org_per_site() {
    let mock = MistMock::start();
    let per_site = mock.per_site();
    let org_stats = [
        mock.serve("org_stats_devices.json", Query::AnyPaging),
        mock.serve("org_inventory.json", Query::AnyPaging),
    ];
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--page-limit", "100"]),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    // 4 sites and their list: 5 calls a run, far inside 5,000 an hour at one run every 300 s.
    for m in &per_site {
        m.assert_calls(1);
    }
    for m in &org_stats {
        m.assert_calls(0);
    }
    assert!(
        run.stderr
            .contains("plan per-site (auto: 4 site(s) need 5 call(s) a run"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("5 Mist API call(s) spent"),
        "{}",
        run.stderr
    );
}

#[test]
fn plugin_by_default_switches_to_org_stats_when_per_site_would_exceed_the_hourly_budget() {
    let mock = MistMock::start();
    let org_stats = mock.org_stats();
    let per_site = mock.site_devices(Query::AnyPaging);
    let spool = tempfile::tempdir().unwrap();
    // 48 calls an hour, a run every 300 s: 4 calls a run, one short of 1 + 4 sites.
    let run = run_bounded(
        &mut pandora_mist(
            &mock,
            spool.path(),
            &["--page-limit", "100", "--calls-per-hour", "48"],
        ),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    for m in &org_stats {
        m.assert_calls(1);
    }
    for m in &per_site {
        m.assert_calls(0);
    }
    assert!(
        run.stderr.contains("plan org-stats (auto"),
        "{}",
        run.stderr
    );
    let agents = read_spool(spool.path(), None);
    assert_fixture_agents(&agents, &[0, 1, 2, 3], true);
}

#[test]
fn a_forced_plan_is_kept_and_the_alias_still_works() {
    let mock = MistMock::start();
    let per_site = mock.per_site();
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(
            &mock,
            spool.path(),
            &[
                "--page-limit",
                "100",
                "--plan",
                "per-site",
                "--calls-per-hour",
                "12",
            ],
        ),
        CHILD_LIMIT,
    );
    // One call a run allowed, yet per-site was asked for: one call per site, and a warning.
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    for m in &per_site {
        m.assert_calls(1);
    }
    assert!(
        run.stderr.contains("above this run's share"),
        "{}",
        run.stderr
    );

    let mock = MistMock::start();
    let org_stats = mock.org_stats();
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--page-limit", "100", "--org-stats"]),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    for m in &org_stats {
        m.assert_calls(1);
    }
}

// ---------------------------------------------------------------- hostile servers

/// A site list holding only the first fixture site.
fn one_site(mock: &MistMock) -> httpmock::Mock<'_> {
    let site = fixture_json("sites.json")[0].clone();
    let body = serde_json::to_vec(&json!([site])).unwrap();
    mock.server.mock(move |when, then| {
        when.path(sites_path());
        then.status(200)
            .header("X-Page-Total", "1")
            .header("X-Page-Limit", "100")
            .header("X-Page-Page", "1")
            .body(body);
    })
}

/// Serves `path` with a body that never ends (until `bytes` are sent) and no length, the
/// way a broken proxy or a hostile server might. Returns the base URL.
fn endless_body_server(path: String, bytes: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                while let Ok(n) = reader.read_line(&mut String::new()) {
                    if n <= 2 {
                        break;
                    }
                }
                let mut stream = stream;
                if !line.contains(&path) {
                    let _ =
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[",
                );
                let chunk = "{\"id\":\"x\",\"name\":\"padding padding padding\"},".repeat(1000);
                let mut sent = 0;
                while sent < bytes {
                    if stream.write_all(chunk.as_bytes()).is_err() {
                        return; // the client hung up: what it should do
                    }
                    sent += chunk.len();
                }
                let _ = stream.write_all(b"{}]");
            });
        }
    });
    url
}

#[test]
fn plugin_stops_reading_a_body_above_the_cap() {
    let url = endless_body_server(sites_path(), 50_000_000);
    let spool = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(crate::common::bin("pandora_mist"));
    command
        .env("MIST_API_TOKEN", TOKEN)
        .env("MONBRIDGE_LOG", "info")
        .env_remove("MONBRIDGE_RULES")
        .args(["-o", ORG, "--api-url", &url, "--max-response-mb", "1"])
        .arg("--data_dir")
        .arg(spool.path());
    let run = run_bounded(&mut command, CHILD_LIMIT);
    assert_plugin_failed(&run, "larger than the 1 MB cap");
    assert!(files_in(spool.path()).is_empty(), "no file may be written");
}

#[test]
fn plugin_refuses_a_body_announced_above_the_cap() {
    let mock = MistMock::start();
    one_site(&mock);
    let e = entry(SITE_DEVICE_FILES[0]);
    mock.serve_entry(&e, Query::AnyPaging, vec![b' '; 3_000_000], None);
    let run = plugin_fails(
        &mock,
        &["--max-response-mb", "2"],
        "larger than the 2 MB cap",
    );
    assert!(
        run.stderr.contains(&site_devices_path(SITES[0].0)),
        "{}",
        run.stderr
    );
}

#[test]
fn plugin_stops_on_paging_headers_its_pages_contradict() {
    let mock = MistMock::start();
    one_site(&mock);
    // Three thousand devices announced in pages of a thousand; one device served.
    let devices = mock.server.mock(|when, then| {
        when.path(site_devices_path(SITES[0].0));
        then.status(200)
            .header("X-Page-Total", "3000")
            .header("X-Page-Limit", "1000")
            .header("X-Page-Page", "1")
            .body(r#"[{"type":"ap","mac":"5c5b35d0077b","name":"A","status":"connected"}]"#);
    });
    plugin_fails(
        &mock,
        &[],
        "the page holds 1 item(s) where X-Page-Limit 1000",
    );
    devices.assert_calls(1);
}

#[test]
fn plugin_refuses_a_site_whose_pages_would_exceed_the_call_budget() {
    let mock = MistMock::start();
    one_site(&mock);
    // A million devices at one a page: what a lying X-Page-Total with one-item pages
    // would cost, refused after the first page.
    let devices = mock.server.mock(|when, then| {
        when.path(site_devices_path(SITES[0].0));
        then.status(200)
            .header("X-Page-Total", "1000000")
            .header("X-Page-Limit", "1")
            .header("X-Page-Page", "1")
            .body(r#"[{"type":"ap","mac":"5c5b35d0077b","name":"A","status":"connected"}]"#);
    });
    let run = plugin_fails(
        &mock,
        &[],
        "X-Page-Total 1000000 at 1 a page needs 999999 more call(s), but only 414 are left",
    );
    devices.assert_calls(1);
    assert!(
        run.stderr.contains("2 Mist API call(s) spent") || run.stderr.contains("2 API call(s)"),
        "{}",
        run.stderr
    );
}

#[test]
fn plugin_sweeps_the_temporary_files_of_a_killed_run() {
    let mock = MistMock::start();
    mock.per_site();
    let spool = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let leftover = spool.path().join(format!(
        ".{}.{dead}.Ab12Cd.tmp",
        md5_hex("MIST_Mist Office_US_x")
    ));
    std::fs::write(&leftover, "<agent_data half").unwrap();
    // Written "tomorrow": a clock set back since; the age alone would keep it.
    std::fs::File::options()
        .write(true)
        .open(&leftover)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(86_400))
        .unwrap();
    let run = run_bounded(
        &mut pandora_mist(&mock, spool.path(), &["--page-limit", "100"]),
        CHILD_LIMIT,
    );
    assert_eq!(run.stdout, "1\n", "stderr: {}", run.stderr);
    assert!(!leftover.exists(), "the killed run's file is swept");
    assert_eq!(read_spool(spool.path(), None).len(), 4);
}

// ---------------------------------------------------------------- projection

const DEEP_RULES: &str = r#"agent site for site in mist.sites {
    name  = "P_${site.id}"
    group = "g"
    module "devices" {
        type = generic_data
        data = count(site.devices)
    }
    for device in site.devices where device.type == "ap" {
        module "${device.mac}_model" {
            type        = generic_data_string
            data        = device.model ?? "none"
            description = "uptime ${device.uptime ?? 0}, ports up ${count(jsonpath(device, "$.port_stat.*.up"))}, band ${device.radio_stat.band_24.channel ?? "-"}"
        }
    }
}
"#;

/// What `monbridge mist --dry-run` prints, devices parsed into what the rules read or (with
/// `--save`, which keeps whole documents) parsed whole.
fn dry_run(plan: &str, rules: Option<&Path>, whole: bool) -> String {
    let mock = MistMock::start();
    if plan == "org-stats" {
        mock.org_stats();
    } else {
        mock.per_site();
    }
    let out = tempfile::tempdir().unwrap();
    let saved = out.path().join("saved.json");
    let mut args = vec![
        "--plan",
        plan,
        "--page-limit",
        "100",
        "--dry-run",
        "--now",
        "2024-07-10T10:05:00Z",
    ];
    if whole {
        args.extend(["--save", saved.to_str().unwrap()]);
    }
    if let Some(rules) = rules {
        args.extend(["--rules", rules.to_str().unwrap()]);
    }
    let run = run_bounded(&mut monbridge_mist(&mock, out.path(), &args), CHILD_LIMIT);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    run.stdout
}

#[test]
fn agents_from_projected_devices_are_those_from_whole_devices() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("deep.rules"), DEEP_RULES).unwrap();
    for plan in ["per-site", "org-stats"] {
        for rules in [None, Some(rules.path())] {
            let projected = dry_run(plan, rules, false);
            let whole = dry_run(plan, rules, true);
            assert!(projected.matches("<agent_data").count() == 4, "{projected}");
            assert_eq!(projected, whole, "{plan}, rules {rules:?}");
        }
    }
    // The deep rules read nested blocks and query them with jsonpath().
    let deep = dry_run("per-site", Some(rules.path()), false);
    assert!(
        deep.contains("uptime 1593120, ports up 2, band 11"),
        "{deep}"
    );
}

/// Serves `items` under `path` in pages of 1,000 with Mist's paging headers.
fn serve_pages(mock: &MistMock, path: &str, items: &[Value]) {
    let pages: Vec<&[Value]> = items.chunks(1000).collect();
    for (number, page) in pages.iter().enumerate() {
        let body = serde_json::to_vec(page).unwrap();
        let total = items.len().to_string();
        mock.server.mock(|when, then| {
            when.path(path)
                .query_param("page", (number + 1).to_string());
            then.status(200)
                .header("X-Page-Total", total.as_str())
                .header("X-Page-Limit", "1000")
                .header("X-Page-Page", (number + 1).to_string())
                .body(body);
        });
    }
}

#[test]
fn org_stats_commits_in_chunks_while_later_sites_are_built_and_writes_every_agent() {
    let mock = MistMock::start();
    let sites: Vec<Value> = (0..2500)
        .map(|n| json!({"id": format!("site-{n:04}"), "name": format!("Site {n}"), "country_code": "ES"}))
        .collect();
    let devices: Vec<Value> = (0..2500)
        .map(|n| {
            json!({"mac": format!("5c5b35{n:06x}"), "site_id": format!("site-{n:04}"), "type": "ap",
                   "name": format!("AP-{n}"), "status": "connected", "ip": "10.0.0.1",
                   "radio_stat": {"band_24": {"channel": 6, "power": 17}}})
        })
        .collect();
    let inventory: Vec<Value> = (0..2500)
        .map(|n| json!({"mac": format!("5c5b35{n:06x}"), "site_id": format!("site-{n:04}"), "type": "ap"}))
        .collect();
    serve_pages(&mock, &sites_path(), &sites);
    serve_pages(
        &mock,
        &format!("/api/v1/orgs/{ORG}/stats/devices"),
        &devices,
    );
    serve_pages(&mock, &format!("/api/v1/orgs/{ORG}/inventory"), &inventory);
    let spool = tempfile::tempdir().unwrap();
    let run = run_bounded(
        &mut monbridge_mist(
            &mock,
            spool.path(),
            &["--plan", "org-stats", "--page-limit", "1000"],
        ),
        CHILD_LIMIT,
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(
        run.stderr
            .contains("mist: 2500 agent(s) written, 0 agent(s) failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("1000 staged file(s) committed while later sites are built"),
        "{}",
        run.stderr
    );
    let files = files_in(spool.path());
    assert_eq!(
        files.len(),
        2500,
        "no temporary file left, every agent written"
    );
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "data"))
    );
    // Two totals and the site's one device, as the default rules build them.
    let agent = parse_like_pandora(&files[0]);
    assert_eq!(agent["module"].as_array().map(Vec::len), Some(3), "{agent}");
}
