//! A local mock of the Mist API serving `tests/fixtures/mist/` as `manifest.json` maps them,
//! and helpers to run the Mist commands against it with bounded waits.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use httpmock::{Mock, MockServer};
use serde_json::Value;

use super::read_fixture;

/// The organisation of every fixture.
pub const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
/// A token distinctive enough that finding it in any output means it leaked.
pub const TOKEN: &str = "tok3n-M1st-f4c7b2e9d0a8c6b1e3f5a7d9c2b4e6f8";

/// The fixture sites, in API order: (id, name).
pub const SITES: [(&str, &str); 4] = [
    ("497f6eca-6276-5007-bfeb-53cbbbba6f19", "Mist Office"),
    ("6f9b2e75-2d1c-4f0a-9c7e-3b5a8d2e4f10", "Madrid HQ"),
    (
        "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        "O'Brien's Café & Bar <Dublin>",
    ),
    ("0b7e4a2c-9d13-4e58-a6f1-5c2d8e9b3a70", "Lab - Staging"),
];

/// One `manifest.json` entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
}

/// Every entry of `manifest.json`, in order.
pub fn manifest() -> Vec<Entry> {
    let manifest: Value =
        serde_json::from_slice(&read_fixture("mist/manifest.json")).expect("manifest.json is JSON");
    let strings = |value: &Value| -> BTreeMap<String, String> {
        value
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    manifest["responses"]
        .as_array()
        .expect("manifest has responses")
        .iter()
        .map(|r| Entry {
            file: r["file"].as_str().expect("file").to_owned(),
            path: r["path"].as_str().expect("path").to_owned(),
            query: strings(&r["query"]),
            status: r["status"].as_u64().expect("status") as u16,
            headers: strings(&r["headers"]),
        })
        .collect()
}

/// The manifest entry serving `file`.
pub fn entry(file: &str) -> Entry {
    manifest()
        .into_iter()
        .find(|e| e.file == file)
        .unwrap_or_else(|| panic!("no manifest entry for {file}"))
}

/// The parsed JSON of a Mist fixture.
pub fn fixture_json(file: &str) -> Value {
    serde_json::from_slice(&read_fixture(&format!("mist/{file}"))).expect("fixture is JSON")
}

/// How a mock matches the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// Every query parameter of the manifest entry.
    Exact,
    /// The manifest's parameters except `limit` and `page`: the mock then answers any page
    /// size with the whole fixture and its own `X-Page-*` headers, as a server that caps or
    /// ignores the limit asked for.
    AnyPaging,
}

/// The mock Mist API.
pub struct MistMock {
    pub server: MockServer,
}

impl MistMock {
    pub fn start() -> MistMock {
        MistMock {
            server: MockServer::start(),
        }
    }

    /// The `--api-url` of the mock.
    pub fn url(&self) -> String {
        self.server.base_url()
    }

    /// Serves `file` as its manifest entry says (status, headers, body), to requests
    /// carrying the right token.
    pub fn serve(&self, file: &str, query: Query) -> Mock<'_> {
        let body = read_fixture(&format!("mist/{file}"));
        self.serve_entry(&entry(file), query, body, None)
    }

    /// Serves `entry` with another body, optionally after a delay.
    pub fn serve_entry(
        &self,
        entry: &Entry,
        query: Query,
        body: Vec<u8>,
        delay: Option<Duration>,
    ) -> Mock<'_> {
        let entry = entry.clone();
        self.server.mock(move |mut when, mut then| {
            when = when
                .method(GET)
                .path(entry.path.as_str())
                .header("authorization", format!("Token {TOKEN}"));
            for (key, value) in &entry.query {
                if query == Query::Exact || (key != "limit" && key != "page") {
                    when = when.query_param(key.as_str(), value.as_str());
                }
            }
            then = then.status(entry.status);
            for (key, value) in &entry.headers {
                then = then.header(key.as_str(), value.as_str());
            }
            then = then.body(body);
            if let Some(delay) = delay {
                then.delay(delay);
            }
        })
    }

    /// Serves an error fixture as its manifest entry says, to any query on its path.
    pub fn manifest_error(&self, file: &str) -> Mock<'_> {
        let e = entry(file);
        let headers: Vec<(&str, &str)> = e
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.fail(&e.path, e.status, &e.file, &headers, None)
    }

    /// Answers `path` (any query) with an error fixture, a status and extra headers.
    pub fn fail(
        &self,
        path: &str,
        status: u16,
        file: &str,
        headers: &[(&str, &str)],
        times: Option<usize>,
    ) -> Mock<'_> {
        let body = read_fixture(&format!("mist/{file}"));
        let path = path.to_owned();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.server.mock(move |when, mut then| {
            when.method(GET).path(path.as_str());
            then = then
                .status(status)
                .header("Content-Type", "application/json")
                .body(body);
            for (key, value) in &headers {
                then = then.header(key.as_str(), value.as_str());
            }
            if let Some(times) = times {
                then.up_to_n_times(times);
            }
        })
    }

    /// The per-site calls with page size 100: the site list and four device lists.
    pub fn per_site(&self) -> Vec<Mock<'_>> {
        let mut mocks = vec![self.serve("sites.json", Query::Exact)];
        mocks.extend(self.site_devices(Query::Exact));
        mocks
    }

    /// The four per-site device lists.
    pub fn site_devices(&self, query: Query) -> Vec<Mock<'_>> {
        [
            "site_stats_devices_mist_office.json",
            "site_stats_devices_madrid_hq.json",
            "site_stats_devices_dublin_edge.json",
            "site_stats_devices_lab_empty.json",
        ]
        .iter()
        .map(|file| self.serve(file, query))
        .collect()
    }

    /// The org-stats calls with page size 100: sites, org device stats, inventory.
    pub fn org_stats(&self) -> Vec<Mock<'_>> {
        vec![
            self.serve("sites.json", Query::Exact),
            self.serve("org_stats_devices.json", Query::Exact),
            self.serve("org_inventory.json", Query::Exact),
        ]
    }
}

/// `/api/v1/orgs/{ORG}/sites`.
pub fn sites_path() -> String {
    format!("/api/v1/orgs/{ORG}/sites")
}

/// `/api/v1/sites/{site}/stats/devices`.
pub fn site_devices_path(site: &str) -> String {
    format!("/api/v1/sites/{site}/stats/devices")
}

/// What a child process did.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end, killing it (and failing the test) after `limit`.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Finished {
    let mut child = super::peers::spawn(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `pandora_mist` against the mock, with the test token in the environment, debug logs,
/// and UTC as the local time zone.
pub fn pandora_mist(mock: &MistMock, data_dir: &Path, extra: &[&str]) -> Command {
    pandora_mist_for(ORG, mock, data_dir, extra)
}

/// Likewise for another organisation id.
pub fn pandora_mist_for(org: &str, mock: &MistMock, data_dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(super::bin("pandora_mist"));
    command
        .env("MIST_API_TOKEN", TOKEN)
        .env("MONBRIDGE_LOG", "debug")
        .env("TZ", "UTC")
        .env_remove("MONBRIDGE_RULES")
        .args(["-o", org, "-p", "MIST", "--api-url"])
        .arg(mock.url())
        .arg("--data_dir")
        .arg(data_dir)
        .args(extra);
    command
}

/// `monbridge mist` against the mock, likewise.
pub fn monbridge_mist(mock: &MistMock, data_dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(super::bin("monbridge"));
    command
        .env("MIST_API_TOKEN", TOKEN)
        .env("MONBRIDGE_LOG", "debug")
        .env("TZ", "UTC")
        .env_remove("MONBRIDGE_RULES")
        .args(["mist", "--org", ORG, "--prefix", "MIST", "--api-url"])
        .arg(mock.url())
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra);
    command
}

/// The files of a directory, sorted by name.
pub fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("readable directory")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

/// An agent data file parsed the way the Pandora data server parses it: Perl XML::Simple,
/// `XMLin($file, forcearray => 'module')`, printed as canonical JSON.
pub fn parse_like_pandora(file: &Path) -> Value {
    let script = "use XML::Simple; use JSON::PP; \
                  my $d = XMLin($ARGV[0], forcearray => 'module'); \
                  print JSON::PP->new->utf8->canonical->encode($d);";
    let output = super::peers::output(Command::new("perl").args(["-e", script]).arg(file));
    assert!(
        output.status.success(),
        "XML::Simple refused {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("perl printed JSON")
}
