//! When the login the CLI runs with cannot see the plan's usage windows, what to say where
//! the bars would be, and how to fix it; and how fresh the numbers shown are.
//!
//! The CLI sees the windows only with a claude.ai login that carries the `user:profile`
//! scope (what `claude auth login` stores). A `claude setup-token` token — the kind
//! `claude-max-proxy login` stores and hands over as `CLAUDE_CODE_OAUTH_TOKEN` — has the
//! inference scope only, and an API key has no plan at all. The windows that answers'
//! rate-limit headers report are still shown in either case.

use serde::Serialize;

use super::{PlanState, QuotaSnapshot};
use crate::clock;

/// Why the windows are not visible, and the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blind {
    /// What is wrong, in one sentence.
    pub reason: String,
    /// What to do about it.
    pub fix: String,
}

/// Whether the windows cannot be seen, given the credentials in use (`auth` is the source's
/// short name: `api-key`, `stored-token`, `env-token`, `cli-login`) and the last `get_usage`
/// answer. `None`: they can be seen, or nothing says otherwise yet.
pub fn blind(auth: &str, plan: Option<&PlanState>) -> Option<Blind> {
    if auth == "api-key" {
        return Some(Blind {
            reason: "The proxy runs in API-key mode: requests are billed to the key, and no \
                     subscription windows apply."
                .into(),
            fix: "Set `auth_mode = \"subscription\"` to use the subscription instead.".into(),
        });
    }
    let plan = plan?;
    if plan.rate_limits_available {
        return None;
    }
    let (reason, fix) = match auth {
        "stored-token" => (
            "The token `claude-max-proxy login` stored has the inference scope only (like \
             `claude setup-token`), so the claude CLI cannot see the plan's usage windows.",
            "Run `claude-max-proxy login --cli`: it logs the claude CLI in with the profile \
             scope (the CLI then owns and refreshes that login) and removes the stored token. \
             Or run `claude auth login`, then `claude-max-proxy logout`.",
        ),
        "env-token" => (
            "CLAUDE_CODE_OAUTH_TOKEN in the daemon's environment is an inference-only token \
             (`claude setup-token`), so the claude CLI cannot see the plan's usage windows.",
            "Remove CLAUDE_CODE_OAUTH_TOKEN from the daemon's environment and log the claude \
             CLI in with `claude-max-proxy login --cli` (or `claude auth login`).",
        ),
        _ => (
            "The claude CLI's login cannot see the plan's usage windows (no claude.ai \
             subscription, or a login without the `user:profile` scope).",
            "Log the claude CLI in again with `claude auth login` (or `claude-max-proxy login \
             --cli`).",
        ),
    };
    Some(Blind {
        reason: reason.into(),
        fix: fix.into(),
    })
}

/// How fresh the numbers are, in one sentence: when the claude CLI was last asked and how
/// often it is, or why asking failed. `refresh_secs` is `quota_refresh_secs` (0: never asks).
pub fn freshness(quota: &QuotaSnapshot, refresh_secs: u64, now: i64) -> String {
    if refresh_secs == 0 {
        return "The claude CLI is not asked for the plan's usage (`quota_refresh_secs = 0`); \
                windows come from answers' rate-limit headers only."
            .to_string();
    }
    let schedule = format!(
        "asked again when it is over {} old and this page, /health, /metrics or `status` is read",
        clock::span(refresh_secs as i64)
    );
    if let Some(error) = &quota.checks.error {
        return format!("{}; {schedule}.", capitalized(error));
    }
    match quota.checks.answered_at {
        Some(at) => format!(
            "Usage from the claude CLI's get_usage {} ago; {schedule}.",
            clock::span(now - at)
        ),
        None if quota.checks.asked_at.is_some() => {
            "Asking the claude CLI for the plan's usage…".to_string()
        }
        None => format!("The claude CLI has not been asked for the plan's usage yet; {schedule}."),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(available: bool) -> PlanState {
        PlanState {
            subscription_type: None,
            rate_limits_available: available,
            rate_limits_known: false,
            extra_usage: None,
            answered_at: 0,
        }
    }

    #[test]
    fn freshness_says_when_and_how_often() {
        let mut quota = QuotaSnapshot::default();
        assert!(freshness(&quota, 0, 0).contains("not asked"));
        assert!(freshness(&quota, 60, 0).contains("not been asked"));
        quota.checks.answered_at = Some(100);
        let text = freshness(&quota, 60, 112);
        assert!(text.contains("12 s ago"), "{text}");
        assert!(text.contains("over 1 min old"), "{text}");
        quota.checks.error = Some("could not ask: timeout".into());
        assert!(freshness(&quota, 60, 112).starts_with("Could not ask: timeout;"));
    }

    #[test]
    fn each_credential_gets_its_own_fix() {
        assert_eq!(blind("cli-login", None), None, "nothing known yet");
        assert_eq!(blind("cli-login", Some(&plan(true))), None);
        let stored = blind("stored-token", Some(&plan(false))).expect("blind");
        assert!(stored.fix.contains("login --cli"), "{}", stored.fix);
        assert!(stored.fix.contains("claude auth login"), "{}", stored.fix);
        let env = blind("env-token", Some(&plan(false))).expect("blind");
        assert!(env.fix.contains("CLAUDE_CODE_OAUTH_TOKEN"), "{}", env.fix);
        let key = blind("api-key", None).expect("blind");
        assert!(key.reason.contains("API-key mode"), "{}", key.reason);
    }
}
