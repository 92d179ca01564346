//! A Fledge audit log, newest first, served by a mock `GET /fledge/audit` with `limit` and
//! `skip` as Fledge pages it, optionally only for one `source` and one `authorization` token.

use std::time::{Duration, Instant};

use httpmock::Method::GET;
use httpmock::MockServer;
use serde_json::{Value, json};

use super::serve::WAIT;

/// Entries per page the daemon is configured to ask for in these tests.
pub const PAGE: usize = 2;

pub struct FledgeLog<'a> {
    server: &'a MockServer,
    entries: Vec<Value>,
    /// The `authorization` header the mock requires, if any.
    pub token: Option<String>,
    /// The `source` query the mock requires, if any.
    source: Option<String>,
    mocks: Vec<httpmock::Mock<'a>>,
}

impl<'a> FledgeLog<'a> {
    pub fn new(server: &'a MockServer, token: Option<&str>, source: Option<&str>) -> FledgeLog<'a> {
        let mut log = FledgeLog {
            server,
            entries: Vec::new(),
            token: token.map(str::to_owned),
            source: source.map(str::to_owned),
            mocks: Vec::new(),
        };
        log.publish();
        log
    }

    /// Appends an entry (the newest) and serves the new log.
    pub fn add(&mut self, entry: Value) {
        self.entries.insert(0, entry);
        self.publish();
    }

    /// Serves the log as it is now, page by page.
    pub fn publish(&mut self) {
        for mut mock in self.mocks.drain(..) {
            mock.delete();
        }
        for page in 0..=self.entries.len() / PAGE {
            let skip = page * PAGE;
            let body = json!({
                "audit": self.entries.iter().skip(skip).take(PAGE).collect::<Vec<_>>(),
                "totalCount": self.entries.len(),
            });
            self.mocks.push(self.server.mock(|when, then| {
                let mut when = when
                    .method(GET)
                    .path("/fledge/audit")
                    .query_param("limit", PAGE.to_string())
                    .query_param("skip", skip.to_string());
                if let Some(source) = &self.source {
                    when = when.query_param("source", source);
                }
                if let Some(token) = &self.token {
                    when = when.header("authorization", token);
                }
                let _ = when;
                then.status(200).json_body(body);
            }));
        }
    }

    /// Polls served so far (page 0 requests).
    pub fn polls(&self) -> usize {
        self.mocks.first().map_or(0, |mock| mock.calls())
    }

    /// Waits, bounded, for `more` polls after those served so far.
    pub fn wait_polls(&self, more: usize) {
        let target = self.polls() + more;
        let deadline = Instant::now() + WAIT;
        while self.polls() < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(self.polls() >= target, "the daemon stopped polling");
    }
}
