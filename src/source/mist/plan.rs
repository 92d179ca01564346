//! Which calls a run makes, chosen to stay inside the token's hourly budget.
//!
//! Mist allows 5,000 calls an hour per token, and the plugin server runs the plugin every
//! `interval` (300 s: 12 runs an hour), so one run may spend `calls_per_hour × interval /
//! 3600` calls (416). The per-site plan spends one call per site plus the site list's pages;
//! the org-stats plan a few pages whatever the number of sites. `auto` takes per-site while
//! it fits (its output is per site and a failure touches one site only), org-stats beyond.
//! Whatever the plan, a run never makes more calls than its share, unless the operator
//! forced the per-site plan, whose one call per site is then allowed and no more.

use std::time::Duration;

/// Which calls fetch the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Per-site while `sites + pages of the site list` fits the run's share of the hourly
    /// budget, org-stats beyond.
    #[default]
    Auto,
    /// One device-stats call per site.
    PerSite,
    /// Org-wide device stats plus the org inventory.
    OrgStats,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::PerSite => "per-site",
            Mode::OrgStats => "org-stats",
        }
    }
}

/// Mist's limit: calls an hour per token.
pub const DEFAULT_CALLS_PER_HOUR: u32 = 5000;
/// The plugin server's default module interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The hourly budget of the token, and how often the run is repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    pub calls_per_hour: u32,
    /// Time between two runs.
    pub interval: Duration,
}

impl Default for CallBudget {
    fn default() -> CallBudget {
        CallBudget {
            calls_per_hour: DEFAULT_CALLS_PER_HOUR,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl CallBudget {
    /// Calls one run may make: its share of the hourly budget (at least one).
    pub fn per_run(&self) -> usize {
        let share = u128::from(self.calls_per_hour) * self.interval.as_millis() / 3_600_000;
        usize::try_from(share).unwrap_or(usize::MAX).max(1)
    }

    /// Runs an hour, for messages.
    pub fn runs_per_hour(&self) -> f64 {
        3600.0 / self.interval.as_secs_f64().max(1.0)
    }
}

/// The plan for the devices, once the site list is known, and the calls the whole run may
/// make (the site list's included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub call_cap: usize,
}

/// Chooses the plan for `sites` sites whose list took `site_pages` calls.
pub fn choose(wanted: Mode, sites: usize, site_pages: usize, budget: CallBudget) -> Plan {
    let share = budget.per_run();
    let per_site_calls = site_pages.saturating_add(sites);
    match wanted {
        Mode::Auto if per_site_calls <= share => Plan {
            mode: Mode::PerSite,
            call_cap: share,
        },
        Mode::Auto | Mode::OrgStats => Plan {
            mode: Mode::OrgStats,
            call_cap: share,
        },
        Mode::PerSite => Plan {
            mode: Mode::PerSite,
            call_cap: share.max(per_site_calls),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_share_is_416_calls_a_run() {
        let budget = CallBudget::default();
        assert_eq!(budget.per_run(), 416);
        assert_eq!(budget.runs_per_hour(), 12.0);
        let hourly = CallBudget {
            calls_per_hour: 5000,
            interval: Duration::from_secs(3600),
        };
        assert_eq!(hourly.per_run(), 5000);
        let tiny = CallBudget {
            calls_per_hour: 1,
            interval: Duration::from_secs(1),
        };
        assert_eq!(tiny.per_run(), 1);
    }

    #[test]
    fn auto_takes_per_site_while_it_fits_then_org_stats() {
        let budget = CallBudget::default();
        // 415 sites in one page: 416 calls, exactly the share.
        assert_eq!(
            choose(Mode::Auto, 415, 1, budget),
            Plan {
                mode: Mode::PerSite,
                call_cap: 416
            }
        );
        assert_eq!(choose(Mode::Auto, 416, 1, budget).mode, Mode::OrgStats);
        assert_eq!(choose(Mode::Auto, 10_000, 10, budget).call_cap, 416);
        assert_eq!(choose(Mode::Auto, 4, 1, budget).mode, Mode::PerSite);
    }

    #[test]
    fn a_forced_plan_is_kept_and_capped() {
        let budget = CallBudget::default();
        assert_eq!(
            choose(Mode::OrgStats, 4, 1, budget),
            Plan {
                mode: Mode::OrgStats,
                call_cap: 416
            }
        );
        // Forced per-site on a large org: one call per site, no more.
        assert_eq!(
            choose(Mode::PerSite, 10_000, 10, budget),
            Plan {
                mode: Mode::PerSite,
                call_cap: 10_010
            }
        );
    }
}
