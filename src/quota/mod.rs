//! The subscription's quota as the CLI reported it: one entry per window (five-hour, weekly,
//! weekly per model, OAuth apps, extra usage) with its utilization, reset time, when it was
//! seen and from which report; the plan (`subscription_type`) and its extra-usage spend.
//! `/health`, `/metrics`, the status page and `claude-max-proxy status` read it.
//!
//! Two reports feed it, both from the CLI (the daemon itself never asks Anthropic):
//! - `rate_limit_event` lines of request runs ([`QuotaBook::record`]): what one answer's
//!   `anthropic-ratelimit-unified-*` headers said, with a status (`allowed`,
//!   `allowed_warning`, `rejected`); only after a request, and only the windows those
//!   headers carried.
//! - the CLI's `get_usage` answer ([`QuotaBook::record_usage`], asked by the runner on a
//!   schedule): every window the plan has, before any request.
//!
//! Per window the newer report wins, unless its reset time shows it describes a period that
//! has already ended (a cached answer); each entry keeps when it was seen and by which report.
//!
//! - [`names`]: windows in words.
//! - [`refusal`]: the 429 a client gets for a used-up window, from the freshest data.
//! - [`visibility`]: when the login cannot see its windows, what to say and how to fix it.
//! - [`gauges`]: the quota as Prometheus gauges.

pub mod gauges;
pub mod names;
pub mod refusal;
pub mod visibility;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::claude::rate_limit::RateLimitInfo;
use crate::claude::usage::{ExtraUsage, PlanUsage};

pub use names::{extra_usage_text, plan_name, window_label, window_name};
pub use refusal::limit_error;

/// Which report a window's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// A request's `rate_limit_event` (the answer's rate-limit headers).
    RateLimitEvent,
    /// The CLI's `get_usage` answer.
    GetUsage,
}

/// One window as last reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowState {
    /// `five_hour`, `seven_day`, `seven_day_opus`, `seven_day_sonnet`,
    /// `seven_day_oauth_apps`, `model_scoped`, `overage`, …
    pub window: String,
    /// The server's model label of a `model_scoped` window (e.g. `Fable`).
    pub model: Option<String>,
    /// 0.0 ..= 1.0 (may exceed 1.0 slightly).
    pub utilization: Option<f64>,
    /// `allowed`, `allowed_warning`, `rejected` (a `rate_limit_event`'s word; `get_usage`
    /// has none, so it is kept from an event of the same period or left out).
    pub status: Option<String>,
    /// Unix seconds.
    pub resets_at: Option<i64>,
    /// Unix seconds.
    pub seen_at: i64,
    pub source: Report,
}

impl WindowState {
    fn key(&self) -> (String, Option<String>) {
        (self.window.clone(), self.model.clone())
    }

    /// Used up: reported rejected, or at 100 %.
    pub fn exhausted(&self) -> bool {
        self.status.as_deref() == Some("rejected") || self.utilization.is_some_and(|u| u >= 0.995)
    }
}

/// The overall state of the last `rate_limit_event`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overall {
    pub status: String,
    /// The window that decides (`five_hour`, …).
    pub representative: Option<String>,
    pub resets_at: Option<i64>,
    pub using_overage: bool,
    pub overage_status: Option<String>,
    pub overage_resets_at: Option<i64>,
    pub seen_at: i64,
}

/// What the last `get_usage` answer said about the login and its plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanState {
    /// `pro`, `max`, `team`, `enterprise`, or `None` (API key, or a token that does not say).
    pub subscription_type: Option<String>,
    /// False: this login cannot see the plan's windows (no `user:profile` scope, API key).
    pub rate_limits_available: bool,
    /// Whether the CLI had numbers (it could reach Anthropic's usage endpoint).
    pub rate_limits_known: bool,
    pub extra_usage: Option<ExtraUsageState>,
    /// Unix seconds.
    pub answered_at: i64,
}

/// The extra-usage spend of the billing period, as `get_usage` reported it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExtraUsageState {
    pub is_enabled: bool,
    /// Minor units of `currency` (cents for USD).
    pub monthly_limit: Option<f64>,
    /// Minor units of `currency`.
    pub used_credits: Option<f64>,
    /// 0.0 ..= 1.0 of the monthly limit.
    pub utilization: Option<f64>,
    pub currency: Option<String>,
}

impl From<&ExtraUsage> for ExtraUsageState {
    fn from(extra: &ExtraUsage) -> ExtraUsageState {
        ExtraUsageState {
            is_enabled: extra.is_enabled,
            monthly_limit: extra.monthly_limit,
            used_credits: extra.used_credits,
            utilization: extra.utilization,
            currency: extra.currency.clone(),
        }
    }
}

/// How asking the CLI for the usage went.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UsageChecks {
    /// When the last ask started (Unix seconds).
    pub asked_at: Option<i64>,
    /// When the last answer came (Unix seconds).
    pub answered_at: Option<i64>,
    /// Why the last ask failed, when it did.
    pub error: Option<String>,
    /// Asks since start.
    pub asked: u64,
}

/// What `/health` shows under `quota`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuotaSnapshot {
    /// Most used first.
    pub windows: Vec<WindowState>,
    /// The last `rate_limit_event`.
    pub last: Option<Overall>,
    /// The last `get_usage` answer.
    pub plan: Option<PlanState>,
    pub checks: UsageChecks,
}

/// The most windows kept: the CLI knows about a dozen kinds; anything beyond is noise.
const MAX_WINDOWS: usize = 24;
/// Two reports of the same window whose resets differ by less than this describe the same
/// period (headers and the usage endpoint round differently).
const SAME_PERIOD_SECS: i64 = 300;

/// The latest quota reports.
#[derive(Debug, Default)]
pub struct QuotaBook {
    state: Mutex<QuotaSnapshot>,
    /// Bumped by every change, so that what is rendered from the book can be kept until
    /// the book changes.
    version: AtomicU64,
}

impl QuotaBook {
    pub fn new() -> QuotaBook {
        QuotaBook::default()
    }

    fn read<T>(&self, f: impl FnOnce(&QuotaSnapshot) -> T) -> T {
        let state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&state)
    }

    /// Changes the book under its lock and counts the change.
    fn change<T>(&self, f: impl FnOnce(&mut QuotaSnapshot) -> T) -> T {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let result = f(&mut state);
        self.version.fetch_add(1, Ordering::Release);
        result
    }

    /// Changes so far: equal versions mean an unchanged book.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Records a `rate_limit_event` seen at `now` (unix seconds): its windows replace
    /// what was known of them.
    pub fn record(&self, info: &RateLimitInfo, now: i64) {
        let mut reported: Vec<WindowState> = info
            .windows
            .iter()
            .filter(|(name, _)| valid_window_name(name))
            .map(|(name, window)| WindowState {
                window: name.clone(),
                model: None,
                utilization: window.utilization,
                status: Some(window.status.clone().unwrap_or_else(|| "allowed".into())),
                resets_at: window.resets_at,
                seen_at: now,
                source: Report::RateLimitEvent,
            })
            .collect();
        // Older CLIs report only the representative window.
        if let Some(name) = &info.rate_limit_type
            && valid_window_name(name)
            && !reported.iter().any(|w| &w.window == name)
        {
            reported.push(WindowState {
                window: name.clone(),
                model: None,
                utilization: info.utilization,
                status: Some(info.status.clone()),
                resets_at: info.resets_at,
                seen_at: now,
                source: Report::RateLimitEvent,
            });
        }
        let overall = Overall {
            status: info.status.clone(),
            representative: info.rate_limit_type.clone(),
            resets_at: info.resets_at,
            using_overage: info.is_using_overage,
            overage_status: info.overage_status.clone(),
            overage_resets_at: info.overage_resets_at,
            seen_at: now,
        };
        self.change(|state| {
            let mut windows = by_key(std::mem::take(&mut state.windows));
            for window in reported {
                windows.insert(window.key(), window);
            }
            state.windows = sorted(windows);
            state.last = Some(overall);
        });
    }

    /// Records that the usage is being asked for at `now`.
    pub fn usage_asked(&self, now: i64) {
        self.change(|state| {
            state.checks.asked_at = Some(now);
            state.checks.asked += 1;
        });
    }

    /// Records why asking for the usage failed; what was known stays.
    pub fn usage_failed(&self, error: String) {
        self.change(|state| state.checks.error = Some(error));
    }

    /// Records a `get_usage` answer received at `now`. Its windows replace what was known
    /// of them, except where a known report has a later reset (the answer is of an ended
    /// period, e.g. from the CLI's cache) or the answer's own reset has passed; windows
    /// an earlier `get_usage` reported and this one does not are dropped (all of them when
    /// the login can no longer see its windows; none when the CLI had no numbers).
    pub fn record_usage(&self, usage: &PlanUsage, now: i64) {
        let plan = PlanState {
            subscription_type: usage.subscription_type.clone(),
            rate_limits_available: usage.rate_limits_available,
            rate_limits_known: usage.rate_limits_known,
            extra_usage: usage.extra_usage.as_ref().map(ExtraUsageState::from),
            answered_at: now,
        };
        self.change(|state| {
            state.plan = Some(plan);
            state.checks.answered_at = Some(now);
            state.checks.error = None;
            if !usage.rate_limits_available {
                // The login in use cannot see its windows (e.g. the credentials changed to
                // an inference-only token): what an earlier get_usage said is not its own.
                state.windows.retain(|w| w.source != Report::GetUsage);
                return;
            }
            if !usage.rate_limits_known {
                // Anthropic was not reachable: keep what is known, with its age.
                return;
            }
            let mut windows = by_key(std::mem::take(&mut state.windows));
            windows.retain(|key, known| {
                known.source != Report::GetUsage
                    || usage
                        .windows
                        .iter()
                        .any(|w| (w.window.clone(), w.model.clone()) == *key)
            });
            for answered in &usage.windows {
                if answered.resets_at.is_some_and(|reset| reset <= now) {
                    continue;
                }
                let key = (answered.window.clone(), answered.model.clone());
                let known = windows.get(&key);
                let ended_period = match (known.and_then(|k| k.resets_at), answered.resets_at) {
                    (Some(known), Some(answered)) => known > answered + SAME_PERIOD_SECS,
                    _ => false,
                };
                if ended_period {
                    continue;
                }
                let same_period = match (known.and_then(|k| k.resets_at), answered.resets_at) {
                    (Some(known), Some(answered)) => (known - answered).abs() <= SAME_PERIOD_SECS,
                    _ => false,
                };
                let status = known.filter(|_| same_period).and_then(|k| k.status.clone());
                windows.insert(
                    key,
                    WindowState {
                        window: answered.window.clone(),
                        model: answered.model.clone(),
                        utilization: answered.utilization,
                        status,
                        resets_at: answered.resets_at,
                        seen_at: now,
                        source: Report::GetUsage,
                    },
                );
            }
            state.windows = sorted(windows);
        });
    }

    pub fn snapshot(&self) -> QuotaSnapshot {
        self.read(|state| state.clone())
    }

    /// Whether the next request will likely be billed as extra usage: the last report said
    /// so and its window has not reset since.
    pub fn overage_expected(&self, now: i64) -> bool {
        self.read(|state| {
            state.last.as_ref().is_some_and(|last| {
                last.using_overage && last.resets_at.is_none_or(|reset| reset > now)
            })
        })
    }
}

type Key = (String, Option<String>);

fn by_key(windows: Vec<WindowState>) -> BTreeMap<Key, WindowState> {
    windows.into_iter().map(|w| (w.key(), w)).collect()
}

/// Most used first (then by name), at most [`MAX_WINDOWS`].
fn sorted(windows: BTreeMap<Key, WindowState>) -> Vec<WindowState> {
    let mut list: Vec<WindowState> = windows.into_values().collect();
    list.sort_by(|a, b| {
        b.utilization
            .unwrap_or(0.0)
            .total_cmp(&a.utilization.unwrap_or(0.0))
            .then_with(|| a.key().cmp(&b.key()))
    });
    list.truncate(MAX_WINDOWS);
    list
}

/// A window name from the headers: a short identifier (it becomes a metric label).
fn valid_window_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claude::rate_limit::WindowInfo;
    use crate::claude::usage::UsageWindow;

    pub(crate) fn report(status: &str, five: f64, overage: bool) -> RateLimitInfo {
        RateLimitInfo {
            status: status.to_string(),
            resets_at: Some(10_000),
            rate_limit_type: Some("five_hour".into()),
            utilization: Some(five),
            is_using_overage: overage,
            windows: vec![
                (
                    "five_hour".into(),
                    WindowInfo {
                        utilization: Some(five),
                        resets_at: Some(10_000),
                        status: Some(status.into()),
                    },
                ),
                (
                    "seven_day".into(),
                    WindowInfo {
                        utilization: Some(0.41),
                        resets_at: Some(500_000),
                        status: Some("allowed".into()),
                    },
                ),
            ],
            ..RateLimitInfo::default()
        }
    }

    fn usage_window(name: &str, model: Option<&str>, used: f64, reset: i64) -> UsageWindow {
        UsageWindow {
            window: name.into(),
            model: model.map(str::to_string),
            utilization: Some(used),
            resets_at: Some(reset),
        }
    }

    fn usage(windows: Vec<UsageWindow>) -> PlanUsage {
        PlanUsage {
            subscription_type: Some("max".into()),
            rate_limits_available: true,
            rate_limits_known: true,
            windows,
            extra_usage: None,
        }
    }

    #[test]
    fn keeps_the_latest_report_per_window_most_used_first() {
        let book = QuotaBook::new();
        book.record(&report("allowed_warning", 0.87, false), 100);
        let snapshot = book.snapshot();
        assert_eq!(snapshot.windows[0].window, "five_hour");
        assert_eq!(snapshot.windows[0].utilization, Some(0.87));
        assert_eq!(snapshot.windows[1].window, "seven_day");
        let mut later = report("allowed", 0.2, false);
        later.windows.truncate(1);
        book.record(&later, 200);
        let snapshot = book.snapshot();
        assert_eq!(
            snapshot.windows[0].window, "seven_day",
            "kept from the earlier report"
        );
        assert_eq!(snapshot.windows[1].seen_at, 200);
        assert!(!book.overage_expected(300));
    }

    #[test]
    fn overage_is_expected_until_the_window_resets() {
        let book = QuotaBook::new();
        book.record(&report("rejected", 1.0, true), 100);
        assert!(book.overage_expected(200));
        assert!(!book.overage_expected(10_001));
    }

    /// A `get_usage` answer fills in windows no event carried and replaces the event's
    /// numbers of the same period, keeping its status; each entry says where it came from.
    #[test]
    fn usage_answers_merge_with_events() {
        let book = QuotaBook::new();
        book.record(&report("allowed_warning", 0.87, false), 100);
        book.record_usage(
            &usage(vec![
                usage_window("five_hour", None, 0.9, 10_060),
                usage_window("seven_day_opus", None, 0.63, 500_000),
                usage_window("model_scoped", Some("Fable"), 0.31, 500_000),
            ]),
            150,
        );
        let snapshot = book.snapshot();
        let find = |name: &str| {
            snapshot
                .windows
                .iter()
                .find(|w| w.window == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} missing: {snapshot:?}"))
        };
        let five = find("five_hour");
        assert_eq!(five.utilization, Some(0.9));
        assert_eq!(five.source, Report::GetUsage);
        assert_eq!(five.seen_at, 150);
        assert_eq!(
            five.status.as_deref(),
            Some("allowed_warning"),
            "same period"
        );
        let week = find("seven_day");
        assert_eq!(
            week.source,
            Report::RateLimitEvent,
            "kept: get_usage said nothing"
        );
        assert_eq!(week.seen_at, 100);
        let fable = find("model_scoped");
        assert_eq!(fable.model.as_deref(), Some("Fable"));
        assert_eq!(fable.status, None);
        let plan = snapshot.plan.expect("plan");
        assert_eq!(plan.subscription_type.as_deref(), Some("max"));
        assert_eq!(snapshot.checks.answered_at, Some(150));
        assert_eq!(snapshot.windows.len(), 4);
    }

    /// A cached answer (an ended period) does not overwrite a newer event, a passed reset is
    /// ignored, and a window the next answer leaves out is dropped.
    #[test]
    fn stale_usage_answers_lose() {
        let book = QuotaBook::new();
        book.record(&report("allowed", 0.05, false), 100);
        book.record_usage(
            &usage(vec![
                usage_window("five_hour", None, 0.99, 4_000),
                usage_window("seven_day_opus", None, 0.5, 50),
                usage_window("seven_day_sonnet", None, 0.2, 500_000),
            ]),
            200,
        );
        let snapshot = book.snapshot();
        let five = snapshot.windows.iter().find(|w| w.window == "five_hour");
        assert_eq!(
            five.and_then(|w| w.utilization),
            Some(0.05),
            "the event's period is newer"
        );
        assert!(
            !snapshot
                .windows
                .iter()
                .any(|w| w.window == "seven_day_opus")
        );
        assert!(
            snapshot
                .windows
                .iter()
                .any(|w| w.window == "seven_day_sonnet")
        );
        book.record_usage(&usage(vec![]), 300);
        let snapshot = book.snapshot();
        assert!(
            !snapshot
                .windows
                .iter()
                .any(|w| w.window == "seven_day_sonnet")
        );
        assert_eq!(snapshot.windows.len(), 2, "the event's windows stay");
    }

    /// An answer without numbers keeps the windows when Anthropic was unreachable, and drops
    /// the earlier get_usage ones (not the events') when the login cannot see them; the
    /// plan is recorded either way, and a failure keeps everything and says why.
    #[test]
    fn answers_without_numbers_and_failures_keep_what_is_known() {
        let book = QuotaBook::new();
        book.record(&report("allowed", 0.3, false), 100);
        book.record_usage(
            &usage(vec![usage_window("seven_day_opus", None, 0.5, 500_000)]),
            120,
        );
        book.record_usage(
            &PlanUsage {
                rate_limits_available: true,
                ..PlanUsage::default()
            },
            130,
        );
        assert_eq!(book.snapshot().windows.len(), 3, "unreachable: all kept");
        book.usage_asked(150);
        book.record_usage(
            &PlanUsage {
                rate_limits_available: false,
                ..PlanUsage::default()
            },
            160,
        );
        let snapshot = book.snapshot();
        assert_eq!(snapshot.windows.len(), 2);
        assert_eq!(snapshot.plan.map(|p| p.rate_limits_available), Some(false));
        assert_eq!(snapshot.checks.asked, 1);
        book.usage_failed("the CLI did not answer".into());
        assert_eq!(
            book.snapshot().checks.error.as_deref(),
            Some("the CLI did not answer")
        );
        assert_eq!(book.snapshot().windows.len(), 2);
    }

    #[test]
    fn header_window_names_are_bounded() {
        let mut info = report("allowed", 0.1, false);
        info.windows
            .push(("Bad Name\n".into(), WindowInfo::default()));
        let book = QuotaBook::new();
        book.record(&info, 1);
        assert_eq!(book.snapshot().windows.len(), 2);
    }
}
