//! Benchmark of the Mist job on a synthetic organisation (10,000 sites, 100,000 devices the
//! size of the fixtures' access points), served by a small multi-threaded HTTP server on
//! 127.0.0.1 that builds its answers from a seed.
//!
//! `cargo bench --bench mist` measures, in both fetch modes, each in its own process under
//! `/usr/bin/time -v` (wall time and peak memory):
//! - `baseline`: merely downloading the same responses and parsing them into JSON values;
//! - `fetch`: the Mist source alone (pagination, grouping, documents), sites dropped;
//! - `monbridge mist`: the whole run, first request to last file renamed, and its own
//!   `elapsed` figure from the summary line.
//!
//! It also counts the API calls each run makes. Options after `--`: `--sites N`,
//! `--devices-per-site N`, `--serve` (only serve the organisation, for profiling by hand). Without `--bench` (as `cargo test --benches` runs it) it runs a
//! tiny organisation once, as a smoke test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ORG: &str = "5e1f0000-0000-4000-8000-00000000b0b0";
const TOKEN: &str = "bench-token-0123456789abcdef";
const PAGE_LIMIT: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let option = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match args.get(1).map(String::as_str) {
        Some("__baseline") => return baseline(&args[2], &args[3], &args[4]),
        Some("__fetch") => return fetch_only(&args[2], &args[3]),
        _ => {}
    }
    let full = args.iter().any(|a| a == "--bench");
    let sites: usize = option("--sites")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000 } else { 20 });
    let per_site: usize = option("--devices-per-site")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10 } else { 3 });

    let org = Arc::new(SyntheticOrg::generate(sites, per_site, 42));
    let calls = Arc::new(AtomicUsize::new(0));
    let url = serve(org.clone(), calls.clone());
    if args.iter().any(|a| a == "--serve") {
        // For profiling by hand: keep serving until killed.
        println!("serving {sites} sites on {url} (org {ORG}, token {TOKEN})");
        loop {
            std::thread::park();
        }
    }
    println!(
        "synthetic organisation: {sites} sites, {} devices, {:.1} MB of device JSON ({} bytes per device on average)",
        org.devices.len(),
        org.device_bytes() as f64 / 1e6,
        org.device_bytes() / org.devices.len().max(1)
    );
    let minimum_org_calls = pages(sites) + pages(org.devices.len()) + pages(org.inventory.len());
    println!(
        "{:<34} {:>9} {:>11} {:>8}",
        "run", "wall s", "peak MB", "calls"
    );
    for mode in ["per-site", "org-stats"] {
        let baseline = measure(
            &format!("baseline download+parse, {mode}"),
            Command::new(std::env::current_exe().expect("own path")).args([
                "__baseline",
                &url,
                mode,
                &sites.to_string(),
            ]),
            &calls,
        );
        measure(
            &format!("source fetch only, {mode}"),
            Command::new(std::env::current_exe().expect("own path")).args(["__fetch", &url, mode]),
            &calls,
        );
        let spool = tempfile::tempdir().expect("temporary spool");
        let mut command = Command::new(env!("CARGO_BIN_EXE_monbridge"));
        command
            .env("MIST_API_TOKEN", TOKEN)
            .env_remove("MONBRIDGE_RULES")
            .args(["mist", "--org", ORG, "--api-url", &url, "--timeout", "600"])
            .arg("--data-dir")
            .arg(spool.path());
        command.args(["--plan", mode]);
        let run = measure(&format!("monbridge mist, {mode}"), &mut command, &calls);
        let files = std::fs::read_dir(spool.path()).map_or(0, |d| d.count());
        if run.ok {
            println!(
                "    {files} files written; whole run / baseline = {:.2}",
                run.wall / baseline.wall
            );
            if let Some(line) = run.stderr.lines().find(|l| l.starts_with("mist:")) {
                println!("    {line}");
            }
        } else {
            println!(
                "    the run failed (the rules or the sink may not be available yet): {}",
                run.stderr
                    .lines()
                    .find(|l| l.contains("error") || l.contains("ERROR"))
                    .unwrap_or("")
            );
        }
        if mode == "org-stats" {
            println!(
                "    minimum calls the pagination allows in org-stats mode: {minimum_org_calls}; made: {}",
                run.calls
            );
            if run.ok {
                assert_eq!(
                    run.calls, minimum_org_calls,
                    "org-stats mode must make the fewest calls"
                );
            }
        }
    }
}

fn pages(items: usize) -> usize {
    items.div_ceil(PAGE_LIMIT).max(1)
}

struct Measured {
    ok: bool,
    wall: f64,
    calls: usize,
    stderr: String,
}

/// Runs `command` under `/usr/bin/time -v` when available; prints wall time, peak RSS, calls.
fn measure(label: &str, command: &mut Command, calls: &AtomicUsize) -> Measured {
    let timed = Path::new("/usr/bin/time").exists();
    let mut full = if timed {
        let mut wrapper = Command::new("/usr/bin/time");
        wrapper
            .arg("-v")
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapper.env(key, value),
                None => wrapper.env_remove(key),
            };
        }
        wrapper
    } else {
        std::mem::replace(command, Command::new("true"))
    };
    calls.store(0, Ordering::SeqCst);
    let started = Instant::now();
    let output = full.output().expect("the measured command starts");
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let peak_mb = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map_or("?".to_owned(), |kb| format!("{:.0}", kb / 1024.0));
    let made = calls.load(Ordering::SeqCst);
    println!("{label:<34} {wall:>9.2} {peak_mb:>11} {made:>8}");
    Measured {
        ok: output.status.success(),
        wall,
        calls: made,
        stderr,
    }
}

// ---------------------------------------------------------------- the synthetic org

struct SyntheticOrg {
    sites: Vec<String>,
    /// Site id → position.
    site_index: HashMap<String, usize>,
    /// Device stats, grouped by site in site order.
    devices: Vec<String>,
    per_site: usize,
    inventory: Vec<String>,
}

impl SyntheticOrg {
    /// Sites after the first fixture site; devices after the fixtures' access points,
    /// each with its own MAC, name, site and a status drawn from `seed`.
    fn generate(sites: usize, per_site: usize, seed: u64) -> SyntheticOrg {
        let site_template: Value =
            serde_json::from_str(include_str!("../tests/fixtures/mist/sites.json")).expect("sites");
        let site_template = site_template[0].clone();
        let devices: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/mist/org_stats_devices.json"
        ))
        .expect("devices");
        let aps: Vec<Value> = devices
            .as_array()
            .expect("array")
            .iter()
            .filter(|d| d["type"] == "ap")
            .cloned()
            .collect();
        let countries = ["US", "ES", "IE", "FR", "DE", "JP"];
        let statuses = [
            "connected",
            "connected",
            "connected",
            "disconnected",
            "restarting",
        ];
        let mut state = seed;
        let mut random = move || {
            // xorshift64*: reproducible without a dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut org = SyntheticOrg {
            sites: Vec::with_capacity(sites),
            site_index: HashMap::with_capacity(sites),
            devices: Vec::with_capacity(sites * per_site),
            per_site,
            inventory: Vec::with_capacity(sites * per_site),
        };
        for s in 0..sites {
            let id = format!("{s:08x}-0000-4000-8000-{:012x}", s as u64 * 7919);
            let mut site = site_template.clone();
            site["id"] = json!(id);
            site["org_id"] = json!(ORG);
            site["name"] = json!(format!("Site {s}"));
            site["country_code"] = json!(countries[s % countries.len()]);
            org.sites.push(site.to_string());
            for d in 0..per_site {
                let n = (s * per_site + d) as u64;
                let mac = format!("{:012x}", 0x5c5b_3500_0000u64 + n);
                let mut device = aps[(n as usize) % aps.len()].clone();
                device["mac"] = json!(mac);
                device["id"] = json!(format!("00000000-0000-0000-1000-{mac}"));
                device["name"] = json!(format!("AP-{s}-{d}"));
                device["site_id"] = json!(id);
                device["org_id"] = json!(ORG);
                device["ip"] = json!(format!(
                    "10.{}.{}.{}",
                    (n >> 16) & 255,
                    (n >> 8) & 255,
                    n & 255
                ));
                let status = statuses[(random() % statuses.len() as u64) as usize];
                device["status"] = json!(status);
                org.inventory.push(
                    json!({
                        "mac": mac, "type": "ap", "name": device["name"], "site_id": id,
                        "model": device["model"], "serial": device["serial"],
                        "connected": status == "connected", "org_id": ORG,
                    })
                    .to_string(),
                );
                org.devices.push(device.to_string());
            }
            org.site_index.insert(id, s);
        }
        org
    }

    fn device_bytes(&self) -> usize {
        self.devices.iter().map(String::len).sum()
    }

    /// The body and X-Page-* headers for a request, or `None` for an unknown path.
    fn answer(
        &self,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Option<(String, usize, usize, usize)> {
        let limit = query
            .get("limit")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, PAGE_LIMIT);
        let page = query
            .get("page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let list: &[String] = match segments.as_slice() {
            ["api", "v1", "orgs", _, "sites"] => &self.sites,
            ["api", "v1", "orgs", _, "stats", "devices"] => &self.devices,
            ["api", "v1", "orgs", _, "inventory"] => &self.inventory,
            ["api", "v1", "sites", site, "stats", "devices"] => {
                let index = *self.site_index.get(*site)?;
                &self.devices[index * self.per_site..(index + 1) * self.per_site]
            }
            _ => return None,
        };
        let start = ((page - 1) * limit).min(list.len());
        let end = (page * limit).min(list.len());
        let mut body =
            String::with_capacity(list[start..end].iter().map(|s| s.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, item) in list[start..end].iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(item);
        }
        body.push(']');
        Some((body, list.len(), limit, page))
    }
}

// ---------------------------------------------------------------- the server

/// Starts the server on an ephemeral port; returns its base URL.
fn serve(org: Arc<SyntheticOrg>, calls: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (org, calls) = (org.clone(), calls.clone());
            std::thread::spawn(move || {
                let _ = connection(stream, &org, &calls);
            });
        }
    });
    url
}

/// Serves keep-alive requests on one connection until the client closes it.
fn connection(stream: TcpStream, org: &SyntheticOrg, calls: &AtomicUsize) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut authorised = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
            if header.to_ascii_lowercase().starts_with("authorization:") {
                authorised = header.trim_end().ends_with(&format!("Token {TOKEN}"));
            }
        }
        calls.fetch_add(1, Ordering::SeqCst);
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: HashMap<String, String> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let answer = if authorised {
            org.answer(path, &query)
        } else {
            None
        };
        match answer {
            Some((body, total, limit, page)) => write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Page-Total: {total}\r\nX-Page-Limit: {limit}\r\nX-Page-Page: {page}\r\n\r\n{body}",
                body.len()
            )?,
            None => {
                let (status, body) = if authorised {
                    ("404 Not Found", r#"{"id":"not found"}"#)
                } else {
                    ("401 Unauthorized", r#"{"detail":"Invalid token."}"#)
                };
                write!(
                    writer,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )?
            }
        }
        writer.flush()?;
    }
}

// ---------------------------------------------------------------- measured roles

/// The same requests as `mode` makes, each body merely parsed into a `serde_json::Value`:
/// what any client must at least do.
fn baseline(url: &str, mode: &str, sites: &str) {
    let sites: usize = sites.parse().expect("site count");
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> Vec<Value> {
        let mut items = Vec::new();
        for page in 1.. {
            let separator = if path.contains('?') { '&' } else { '?' };
            let text = client
                .get(format!(
                    "{url}{path}{separator}limit={PAGE_LIMIT}&page={page}"
                ))
                .header("Authorization", format!("Token {TOKEN}"))
                .send()
                .and_then(|r| r.bytes())
                .expect("download");
            let page_items: Vec<Value> = serde_json::from_slice(&text).expect("JSON");
            let done = page_items.len() < PAGE_LIMIT;
            items.extend(page_items);
            if done {
                break;
            }
        }
        items
    };
    let site_list = get(&format!("/api/v1/orgs/{ORG}/sites"));
    assert_eq!(site_list.len(), sites);
    let mut devices = 0;
    if mode == "org-stats" {
        devices += get(&format!("/api/v1/orgs/{ORG}/stats/devices?type=all")).len();
        std::hint::black_box(get(&format!("/api/v1/orgs/{ORG}/inventory")));
    } else {
        // Same concurrency as the job's default.
        let next = AtomicUsize::new(0);
        let total = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(site) = site_list.get(i) else { break };
                        let id = site["id"].as_str().expect("site id");
                        let n = get(&format!("/api/v1/sites/{id}/stats/devices?type=all")).len();
                        total.fetch_add(n, Ordering::SeqCst);
                    }
                });
            }
        });
        devices = total.load(Ordering::SeqCst);
    }
    std::hint::black_box(devices);
}

/// The Mist source alone: every site fetched and built, then dropped.
fn fetch_only(url: &str, mode: &str) {
    use monbridge::source::mist::{ApiToken, BaseUrl, FetchOptions, Mode, fetch};
    let base = BaseUrl::from_api_url(url).expect("URL");
    let mut options = FetchOptions::new(base, ApiToken::new(TOKEN).expect("token"), ORG);
    options.budget = Duration::from_secs(600);
    options.mode = if mode == "org-stats" {
        Mode::OrgStats
    } else {
        Mode::PerSite
    };
    let mut devices = 0;
    let report = fetch(&options, |site| {
        if let Ok(site) = site {
            devices += site["devices"].as_array().map_or(0, Vec::len);
        }
    })
    .expect("fetch");
    assert!(report.failures.is_empty());
    std::hint::black_box(devices);
}
