//! What can go wrong talking to the Mist API. Every message names the request (method and
//! path with query) and never the token, which travels only in a header.

use std::time::Duration;

/// A failed Mist API request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MistError {
    #[error(
        "GET {path}: the Mist API rejected the token (HTTP 401{}); check the token, and that it was issued by this cloud (choose the regional host with --host)",
        detail_suffix(detail)
    )]
    Unauthorized {
        path: String,
        detail: Option<String>,
    },
    #[error(
        "GET {path}: the token lacks privilege on this organisation (HTTP 403{})",
        detail_suffix(detail)
    )]
    Forbidden {
        path: String,
        detail: Option<String>,
    },
    #[error(
        "GET {path}: not found (HTTP 404): wrong organisation id, or the organisation lives on another Mist cloud (choose its regional host with --host)"
    )]
    NotFound { path: String },
    #[error(
        "GET {path}: rate limited (HTTP 429{}): {reason}",
        detail_suffix(detail)
    )]
    RateLimited {
        path: String,
        detail: Option<String>,
        reason: String,
    },
    #[error("GET {path}: HTTP {status}{}", detail_suffix(detail))]
    Status {
        path: String,
        status: String,
        detail: Option<String>,
    },
    #[error(
        "GET {path}: no complete response in time (the whole run has {} s, see --timeout)",
        budget.as_secs_f64()
    )]
    Timeout { path: String, budget: Duration },
    #[error(
        "GET {path}: not sent, the run's {} s are spent (see --timeout)",
        budget.as_secs_f64()
    )]
    BudgetSpent { path: String, budget: Duration },
    #[error("GET {path}: {message}")]
    Transport { path: String, message: String },
    #[error("GET {path}: the response body could not be read: {message}")]
    Body { path: String, message: String },
    #[error("GET {path}: the response is not valid JSON ({message})")]
    Json { path: String, message: String },
    #[error("GET {path}: expected {expected}, found {found}")]
    Shape {
        path: String,
        expected: &'static str,
        found: String,
    },
    #[error(
        "GET {path}: still more pages after {max_pages} (X-Page-Total {total}); stopped as a safety net"
    )]
    TooManyPages {
        path: String,
        max_pages: u32,
        total: u64,
    },
    #[error("GET {path}: response header {header} has the invalid value {value:?}")]
    BadHeader {
        path: String,
        header: &'static str,
        value: String,
    },
    #[error(
        "GET {path}: the response is larger than the {} MB cap (see --max-response-mb)",
        cap_bytes.div_ceil(1_000_000)
    )]
    TooLarge { path: String, cap_bytes: u64 },
    #[error(
        "GET {path}: not sent, the run may make at most {cap} API calls (the share of --calls-per-hour for one --interval, or what the site count needs)"
    )]
    CallCap { path: String, cap: usize },
    #[error(
        "GET {path}: the page holds {items} item(s) where X-Page-Limit {limit} and X-Page-Total {total} announce a full page; stopped rather than trust the paging headers"
    )]
    PageLie {
        path: String,
        items: usize,
        limit: u64,
        total: u64,
    },
    #[error(
        "GET {path}: X-Page-Total {total} at {limit} a page needs {pages} more call(s), but only {left} are left in this run's share of the hourly budget (see --calls-per-hour and --interval)"
    )]
    OverBudget {
        path: String,
        total: u64,
        limit: u64,
        pages: u64,
        left: usize,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(text) => format!(": {text}"),
        None => String::new(),
    }
}

impl MistError {
    /// Errors that make every further request pointless (the token is refused, the rate
    /// limit or the time budget is spent): the remaining sites are not even tried.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            MistError::Unauthorized { .. }
                | MistError::Forbidden { .. }
                | MistError::RateLimited { .. }
                | MistError::BudgetSpent { .. }
                | MistError::CallCap { .. }
                | MistError::OverBudget { .. }
                | MistError::Client(_)
        )
    }
}
