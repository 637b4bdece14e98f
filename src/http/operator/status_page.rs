//! `GET /`: the status page — one self-contained HTML document (no external assets, no
//! script needed, works offline) that refreshes itself. It shows what `/health` knows in a
//! form people read: how containers reach the daemon, the CLI and auth source, the plan and
//! one bar per quota window with its reset time (or why the login cannot see them, with the
//! fix), the CLI processes, and the last requests (id, model, status, time to first token,
//! tokens — never prompt text).
//!
//! The markup is written with [`maud`]'s `html!`: the template is Rust checked by the
//! compiler, and every value spliced into it — text or attribute — is escaped by
//! construction (`&`, `<`, `>`, `"`); the only unescaped text is the stylesheet, a constant.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Everything the page shows, gathered by the handler.
#[derive(Clone, Debug, Default)]
pub struct StatusView {
    pub version: String,
    /// `ok` or `degraded`.
    pub status: String,
    pub uptime_secs: u64,
    /// Listener URLs, e.g. `http://127.0.0.1:3456`.
    pub listeners: Vec<String>,
    /// The URL containers use, e.g. `http://host.docker.internal:3456` (None: no port yet).
    pub container_url: Option<String>,
    pub cli_path: Option<String>,
    pub cli_version: Option<String>,
    /// `stored token`, `CLI login`, `API key`, …
    pub auth_source: String,
    pub auth_warning: Option<String>,
    pub in_flight: usize,
    pub queued: usize,
    pub max_concurrent: usize,
    pub warm: usize,
    /// Conversations whose CLI process is kept between turns.
    pub live: usize,
    /// Of those, the ones waiting at client tool calls.
    pub parked: usize,
    /// One per quota window seen, most constrained first.
    pub quota: Vec<QuotaRow>,
    /// The plan as the CLI reports it (`Max`, `Pro`, …), when known.
    pub plan: Option<String>,
    /// Why the login cannot see the plan's windows, and the fix.
    pub quota_blind: Option<(String, String)>,
    /// The extra-usage spend of the billing period, when the plan reports one.
    pub extra_usage: Option<ExtraUsageRow>,
    /// How fresh the numbers are: when the CLI was last asked, or why asking failed.
    pub quota_freshness: Option<String>,
    /// Whether requests are billed as extra usage right now.
    pub using_overage: bool,
    /// Newest first.
    pub recent: Vec<RecentRow>,
    /// Seconds between refreshes.
    pub refresh_secs: u64,
}

#[derive(Clone, Debug, Default)]
pub struct QuotaRow {
    /// `five_hour`, `seven_day`, `seven_day_opus`, `model_scoped`, …
    pub window: String,
    /// The server's model label of a `model_scoped` window.
    pub model: Option<String>,
    /// 0.0 ..= 1.0 (may exceed 1.0 slightly; clamp when drawing).
    pub utilization: Option<f64>,
    /// `allowed`, `allowed_warning`, `rejected`; none when the report had no status.
    pub status: Option<String>,
    /// Reset time already formatted in the host's local time, e.g. `2026-12-03 18:50 (in 1 h 12 min)`.
    pub resets: Option<String>,
    /// How long ago and by what this was reported, e.g. `12 s ago by the usage check`.
    pub seen: String,
}

/// The extra-usage spend, formatted.
#[derive(Clone, Debug, Default)]
pub struct ExtraUsageRow {
    /// 0.0 ..= 1.0 of the monthly limit.
    pub utilization: Option<f64>,
    /// e.g. `12.34 of 50.00 USD spent this billing period`, or `off`.
    pub spent: String,
}

#[derive(Clone, Debug, Default)]
pub struct RecentRow {
    pub id: String,
    /// `chat`, `messages`, `responses`.
    pub endpoint: String,
    pub model: String,
    pub status: u16,
    /// `ok`, `error`, `rejected`, `client_gone`.
    pub outcome: String,
    /// `cold`, `warm`, `live` or empty.
    pub served: String,
    pub ttft_ms: Option<u64>,
    pub duration_ms: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// When it ended, e.g. `17:05:12`.
    pub at: String,
}

/// The page for `view`: one complete HTML5 document (inline CSS, no script, no external
/// assets) that refreshes itself every `view.refresh_secs` seconds.
#[must_use]
pub fn render(view: &StatusView) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta http-equiv="refresh" content=(view.refresh_secs);
                title { "claude-max-proxy" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    (header_section(view))
                    (reach_section(view))
                    (cli_section(view))
                    (quota_section(view))
                    (processes_section(view))
                    (recent_section(view))
                }
            }
        }
    }
    .into_string()
}

/// The inline stylesheet: system fonts only, one palette for light and one for dark
/// backgrounds (`prefers-color-scheme`).
const STYLE: &str = r"
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1d1f23;--muted:#5f6670;--card:#f5f6f8;
--border:#d8dbe0;--track:#e3e6ea;--ok:#1f8a3b;--warn:#b26a00;--bad:#c53030;--unknown:#6b7280}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e6e8eb;--muted:#9aa3ad;
--card:#1e2125;--border:#33383e;--track:#2d3238;--ok:#3fb950;--warn:#d29922;--bad:#f85149;
--unknown:#8b949e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:1280px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:0 0 4px}
h2{font-size:1.1em;margin:0 0 8px}
section{background:var(--card);border:1px solid var(--border);border-radius:8px;
padding:12px 16px;margin:12px 0}
header{margin:8px 0 16px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em;
overflow-wrap:anywhere}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:0 8px;border:1px solid currentColor;border-radius:10px;
font-weight:600;font-size:.85em;vertical-align:middle}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.unknown{color:var(--unknown)}
.notice{border-left:4px solid var(--warn);padding:6px 10px;margin:8px 0;
background:color-mix(in srgb,var(--warn) 12%,transparent)}
.quota{margin:10px 0}
.quota-head{display:flex;justify-content:space-between;gap:8px;flex-wrap:wrap}
.quota-bar{height:12px;background:var(--track);border-radius:6px;overflow:hidden;margin:4px 0}
.quota-fill{height:100%;border-radius:6px}
.fill-ok{background:var(--ok)}.fill-warn{background:var(--warn)}
.fill-bad{background:var(--bad)}.fill-unknown{background:var(--unknown)}
ul{margin:4px 0;padding-left:20px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--border);white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
";

/// The header: name, version, the ok/degraded badge and the uptime.
fn header_section(view: &StatusView) -> Markup {
    let class = if view.status == "ok" { "ok" } else { "warn" };
    html! {
        header {
            h1 {
                "claude-max-proxy "
                span.muted { (view.version) }
                " "
                span.badge.(class) { (view.status) }
            }
            div.muted { "up " (human_uptime(view.uptime_secs)) }
        }
    }
}

/// "Reach it": the listener URLs and the URL containers use, with the lines to paste.
fn reach_section(view: &StatusView) -> Markup {
    html! {
        section #reach {
            h2 { "Reach it" }
            @if view.listeners.is_empty() {
                p.muted { "Not listening yet." }
            } @else {
                p { "Listening on:" }
                ul {
                    @for url in &view.listeners {
                        li { code { (url) } }
                    }
                }
            }
            (container_hint(view.container_url.as_deref()))
        }
    }
}

/// The container URL with the `AI_PROXY_URL=` line and the Linux `extra_hosts` hint.
fn container_hint(container_url: Option<&str>) -> Markup {
    html! {
        @match container_url {
            None => p.muted { "No container URL yet: no port is bound." },
            Some(url) => {
                p { "From a container: " code { (url) } }
                p {
                    "Set " code { "AI_PROXY_URL=" (url) } "; on Linux also add "
                    code { r#"extra_hosts: ["host.docker.internal:host-gateway"]"# }
                    " to the service."
                }
            }
        }
    }
}

/// "CLI and login": the CLI path and version (or "not found"), the auth source and any
/// auth warning.
fn cli_section(view: &StatusView) -> Markup {
    html! {
        section #cli {
            h2 { "CLI and login" }
            p {
                "CLI: "
                @match &view.cli_path {
                    None => span.bad { "not found" },
                    Some(path) => {
                        code { (path) }
                        " "
                        span.muted {
                            "(" (view.cli_version.as_deref().unwrap_or("version unknown")) ")"
                        }
                    }
                }
            }
            p { "Auth: " (view.auth_source) }
            @if let Some(warning) = &view.auth_warning {
                p.notice { (warning) }
            }
        }
    }
}

/// "Subscription quota": the plan, the extra-usage notice, why the windows cannot be seen
/// (with the fix), one bar per quota window and one for the extra-usage spend (or the empty
/// state), and how fresh the numbers are.
fn quota_section(view: &StatusView) -> Markup {
    let nothing_yet = view.quota.is_empty() && view.extra_usage.is_none();
    html! {
        section #quota {
            h2 { "Subscription quota" }
            @if let Some(plan) = &view.plan {
                p #plan { "Plan: " strong { (plan) } }
            }
            @if view.using_overage {
                p.notice #overage {
                    "Requests are billed as extra usage right now: the subscription quota is \
                     used up."
                }
            }
            @if let Some((reason, fix)) = &view.quota_blind {
                p.notice #quota-blind { (reason) " " strong { "Fix:" } " " (fix) }
            }
            @if nothing_yet && view.quota_blind.is_none() {
                p.muted {
                    "No quota information yet: the claude CLI is asked for it at start and \
                     while this page is open, and every answer from Anthropic reports it too."
                }
            }
            @for row in &view.quota {
                (quota_row(row))
            }
            @if let Some(extra) = &view.extra_usage {
                (extra_usage_row(extra))
            }
            @if let Some(freshness) = &view.quota_freshness {
                p.muted #quota-freshness { (freshness) }
            }
        }
    }
}

/// One quota window: its name, percentage and status above a bar filled to the
/// utilization (clamped to 0..100%), its reset time and when it was reported below.
fn quota_row(row: &QuotaRow) -> Markup {
    let utilization = row.utilization.filter(|u| u.is_finite());
    let (text_class, fill_class) = match row.status.as_deref() {
        Some(status) => status_classes(status),
        None => utilization_classes(utilization),
    };
    html! {
        div.quota data-window=(row.window) {
            div.quota-head {
                strong { (window_label(&row.window, row.model.as_deref())) }
                span {
                    (percent(utilization))
                    @if let Some(status) = &row.status {
                        " " span.(text_class) { (status) }
                    }
                }
            }
            (bar(fill_class, utilization))
            div.muted {
                @match &row.resets {
                    Some(resets) => { "resets " (resets) },
                    None => "reset time unknown",
                }
                " · reported " (row.seen)
            }
        }
    }
}

/// The extra-usage spend as a bar against its monthly limit.
fn extra_usage_row(row: &ExtraUsageRow) -> Markup {
    let utilization = row.utilization.filter(|u| u.is_finite());
    let (_, fill_class) = utilization_classes(utilization);
    html! {
        div.quota data-window="extra_usage" {
            div.quota-head {
                strong { "Extra usage" }
                span { (percent(utilization)) }
            }
            (bar(fill_class, utilization))
            div.muted { (row.spent) }
        }
    }
}

/// A bar filled to `utilization` in the colour of `fill_class`.
fn bar(fill_class: &str, utilization: Option<f64>) -> Markup {
    html! {
        div.quota-bar {
            div.quota-fill.(fill_class) style={ "width:" (fill_width(utilization)) "%" } {}
        }
    }
}

/// A utilization as a whole percentage (`130%`: the reported value, unclamped), or "—".
fn percent(utilization: Option<f64>) -> String {
    utilization.map_or_else(|| "—".to_string(), |u| format!("{:.0}%", u * 100.0))
}

/// The (text, fill) CSS classes for a quota status: `allowed` green, `allowed_warning`
/// amber, `rejected` red, anything else grey.
fn status_classes(status: &str) -> (&'static str, &'static str) {
    match status {
        "allowed" => ("ok", "fill-ok"),
        "allowed_warning" => ("warn", "fill-warn"),
        "rejected" => ("bad", "fill-bad"),
        _ => ("unknown", "fill-unknown"),
    }
}

/// The classes for a window reported without a status: green below 80 %, amber below
/// 100 %, red at 100 %, grey when unknown.
fn utilization_classes(utilization: Option<f64>) -> (&'static str, &'static str) {
    match utilization {
        None => ("unknown", "fill-unknown"),
        Some(u) if u >= 0.995 => ("bad", "fill-bad"),
        Some(u) if u >= 0.8 => ("warn", "fill-warn"),
        Some(_) => ("ok", "fill-ok"),
    }
}

/// The bar's width in percent: the utilization clamped to 0..=100, to one decimal
/// (unknown: 0).
fn fill_width(utilization: Option<f64>) -> f64 {
    let percent = utilization.map_or(0.0, |u| (u * 100.0).clamp(0.0, 100.0));
    (percent * 10.0).round() / 10.0
}

/// A quota window's name as people say it (`five_hour` → "5-hour window", a model-scoped
/// window → "7-day Fable"); unknown names as they are.
fn window_label(window: &str, model: Option<&str>) -> String {
    match (window, model) {
        ("model_scoped", Some(model)) => format!("7-day {model}"),
        ("five_hour", _) => "5-hour window".to_string(),
        ("seven_day", _) => "7-day window".to_string(),
        ("seven_day_opus", _) => "7-day Opus".to_string(),
        ("seven_day_sonnet", _) => "7-day Sonnet".to_string(),
        ("seven_day_oauth_apps", _) => "7-day OAuth apps".to_string(),
        ("model_scoped", None) => "7-day per model".to_string(),
        ("overage", _) => "Extra usage".to_string(),
        (other, _) => other.to_string(),
    }
}

/// "CLI processes": requests being answered out of the limit, queued, warm, and kept for
/// conversations (of which waiting at client tool calls).
fn processes_section(view: &StatusView) -> Markup {
    html! {
        section #processes {
            h2 { "CLI processes" }
            p {
                (view.in_flight) " / " (view.max_concurrent) " answering · "
                (view.queued) " queued · " (view.warm) " warm · "
                (view.live) " kept for conversations (" (view.parked)
                " waiting for tool results)"
            }
        }
    }
}

/// The columns of the recent-requests table, and whether each holds a number.
const RECENT_COLUMNS: [(&str, bool); 10] = [
    ("id", false),
    ("endpoint", false),
    ("model", false),
    ("status", true),
    ("outcome", false),
    ("served", false),
    ("first token", true),
    ("duration", true),
    ("tokens in/out", true),
    ("at", false),
];

/// "Recent requests": `<table id="recent">` with one row per request, newest first, or a
/// single row saying there are none yet.
fn recent_section(view: &StatusView) -> Markup {
    html! {
        section #requests {
            h2 { "Recent requests" }
            div.scroll {
                table #recent {
                    thead {
                        tr {
                            @for (name, numeric) in RECENT_COLUMNS {
                                th class=[numeric.then_some("num")] { (name) }
                            }
                        }
                    }
                    tbody {
                        @for row in &view.recent {
                            (recent_row(row))
                        }
                        @if view.recent.is_empty() {
                            tr {
                                td colspan=(RECENT_COLUMNS.len()) class="muted" {
                                    "No requests yet."
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One request's row: every text escaped, missing values as "—".
fn recent_row(row: &RecentRow) -> Markup {
    html! {
        tr {
            td { code { (row.id) } }
            td { (row.endpoint) }
            td { (row.model) }
            td.num { (row.status) }
            td { (row.outcome) }
            td { @if row.served.is_empty() { "—" } @else { (row.served) } }
            td.num {
                @match row.ttft_ms {
                    Some(ms) => { (ms) " ms" },
                    None => "—",
                }
            }
            td.num { (row.duration_ms) " ms" }
            td.num { (row.prompt_tokens) " / " (row.completion_tokens) }
            td { (row.at) }
        }
    }
}

/// An uptime as people read it: `42 s`, `5 min 3 s`, `2 h 5 min`, `3 d 4 h`.
fn human_uptime(secs: u64) -> String {
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min {seconds} s")
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "<script>alert(1)</script>";

    fn quota(window: &str, utilization: Option<f64>, status: &str) -> QuotaRow {
        QuotaRow {
            window: window.into(),
            model: None,
            utilization,
            status: Some(status.into()),
            resets: Some("2026-12-03 18:50 (in 1 h 12 min)".into()),
            seen: "12 s ago".into(),
        }
    }

    fn recent(model: &str, ttft_ms: Option<u64>) -> RecentRow {
        RecentRow {
            id: "req_1".into(),
            endpoint: "chat".into(),
            model: model.into(),
            status: 200,
            outcome: "ok".into(),
            served: "warm".into(),
            ttft_ms,
            duration_ms: 1234,
            prompt_tokens: 10,
            completion_tokens: 20,
            at: "17:05:12".into(),
        }
    }

    fn full_view() -> StatusView {
        StatusView {
            version: "1.2.3".into(),
            status: "ok".into(),
            uptime_secs: 3_725,
            listeners: vec![
                "http://127.0.0.1:3456".into(),
                "http://172.17.0.1:3456".into(),
            ],
            container_url: Some("http://host.docker.internal:3456".into()),
            cli_path: Some("/usr/local/bin/claude".into()),
            cli_version: Some("2.0.1 (Claude Code)".into()),
            auth_source: "stored token".into(),
            auth_warning: None,
            in_flight: 2,
            queued: 1,
            max_concurrent: 4,
            warm: 3,
            live: 2,
            parked: 1,
            quota: vec![
                quota("five_hour", Some(1.3), "rejected"),
                quota("seven_day", Some(0.42), "allowed_warning"),
                quota("seven_day_opus", None, "allowed"),
            ],
            plan: None,
            quota_blind: None,
            extra_usage: None,
            quota_freshness: None,
            using_overage: false,
            recent: vec![recent("claude-sonnet-4", Some(850)), recent("opus", None)],
            refresh_secs: 10,
        }
    }

    fn tbody(html: &str) -> &str {
        let start = html.find("<tbody>").expect("tbody");
        let end = html.find("</tbody>").expect("/tbody");
        &html[start..end]
    }

    /// A value in an attribute cannot close it and add one of its own; `&` stays text.
    #[test]
    fn attribute_values_cannot_break_out() {
        let mut view = full_view();
        view.quota = vec![quota(r#"x" onmouseover="alert(1)"#, Some(0.5), "allowed")];
        view.recent = vec![recent("a&b — ünïcode", None)];
        let html = render(&view);
        assert!(html.contains(r#"data-window="x&quot; onmouseover=&quot;alert(1)""#));
        assert!(!html.contains("onmouseover=\""));
        assert!(html.contains("<td>a&amp;b — ünïcode</td>"));
    }

    #[test]
    fn dynamic_strings_never_appear_unescaped() {
        let mut view = full_view();
        view.version = EVIL.into();
        view.status = EVIL.into();
        view.listeners = vec![EVIL.into()];
        view.container_url = Some(EVIL.into());
        view.cli_path = Some(EVIL.into());
        view.cli_version = Some(EVIL.into());
        view.auth_source = EVIL.into();
        view.auth_warning = Some(EVIL.into());
        view.quota = vec![QuotaRow {
            window: EVIL.into(),
            model: Some(EVIL.into()),
            utilization: Some(0.5),
            status: Some(EVIL.into()),
            resets: Some(EVIL.into()),
            seen: EVIL.into(),
        }];
        view.plan = Some(EVIL.into());
        view.quota_blind = Some((EVIL.into(), EVIL.into()));
        view.extra_usage = Some(ExtraUsageRow {
            utilization: Some(0.1),
            spent: EVIL.into(),
        });
        view.quota_freshness = Some(EVIL.into());
        let mut row = recent(EVIL, Some(1));
        row.id = EVIL.into();
        row.endpoint = EVIL.into();
        row.outcome = EVIL.into();
        row.served = EVIL.into();
        row.at = EVIL.into();
        view.recent = vec![row];
        let html = render(&view);
        assert!(!html.to_lowercase().contains("<script"));
        assert!(!html.contains("alert(1)</"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn one_quota_bar_per_row_with_clamped_width() {
        let mut view = full_view();
        view.quota.push(quota("overage", Some(-0.2), "allowed"));
        let html = render(&view);
        assert_eq!(
            html.matches("class=\"quota-bar\"").count(),
            view.quota.len()
        );
        assert_eq!(
            html.matches("quota-bar").count(),
            view.quota.len() + 1,
            "rows + the CSS rule"
        );
        assert!(
            html.contains("style=\"width:100%\""),
            "1.3 is drawn as 100%"
        );
        assert!(html.contains("style=\"width:42%\""));
        assert_eq!(
            html.matches("style=\"width:0%\"").count(),
            2,
            "unknown and negative"
        );
        assert!(!html.contains("width:130"));
        assert!(html.contains("130%"), "the text shows the reported value");
    }

    #[test]
    fn quota_rows_show_name_status_colour_reset_and_age() {
        let html = render(&full_view());
        for label in ["5-hour window", "7-day window", "7-day Opus"] {
            assert!(html.contains(label), "{label}");
        }
        assert!(html.contains("quota-fill fill-bad"));
        assert!(html.contains("quota-fill fill-warn"));
        assert!(html.contains("quota-fill fill-ok"));
        assert!(html.contains("resets 2026-12-03 18:50 (in 1 h 12 min)"));
        assert!(html.contains("reported 12 s ago"));
        assert_eq!(window_label("seven_day_sonnet", None), "7-day Sonnet");
        assert_eq!(window_label("overage", None), "Extra usage");
        assert_eq!(window_label("model_scoped", Some("Fable")), "7-day Fable");
        assert_eq!(window_label("seven_day_cowork", None), "seven_day_cowork");
    }

    #[test]
    fn overage_notice_only_when_billed_as_extra_usage() {
        let mut view = full_view();
        assert!(!render(&view).contains("billed as extra usage"));
        view.using_overage = true;
        assert!(render(&view).contains("billed as extra usage"));
    }

    #[test]
    fn document_shape_and_refresh_meta() {
        let mut view = full_view();
        view.refresh_secs = 15;
        let html = render(&view);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
        assert!(html.contains("<title>claude-max-proxy</title>"));
        assert!(html.contains("prefers-color-scheme:dark"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn no_script_and_no_urls_but_the_views() {
        let view = full_view();
        let mut html = render(&view);
        assert!(!html.to_lowercase().contains("<script"));
        assert!(!html.to_lowercase().contains("javascript:"));
        for needle in ["<link", "src=", "href=", "@import", "url(", "@font-face"] {
            assert!(!html.contains(needle), "{needle}");
        }
        let mut ours = view.listeners.clone();
        ours.extend(view.container_url.clone());
        for url in &ours {
            assert!(html.contains(url.as_str()));
            html = html.replace(url.as_str(), "");
        }
        assert!(!html.contains("http://"));
        assert!(!html.contains("https://"));
    }

    #[test]
    fn reach_cli_and_processes() {
        let html = render(&full_view());
        assert!(html.contains("AI_PROXY_URL=http://host.docker.internal:3456"));
        assert!(html.contains("extra_hosts: [&quot;host.docker.internal:host-gateway&quot;]"));
        assert!(html.contains("on Linux"));
        assert!(html.contains("/usr/local/bin/claude"));
        assert!(html.contains("2.0.1 (Claude Code)"));
        assert!(html.contains("stored token"));
        assert!(html.contains("2 / 4 answering"));
        assert!(html.contains("1 queued"));
        assert!(html.contains("3 warm"));
        assert!(html.contains("2 kept for conversations (1 waiting for tool results)"));
        assert!(html.contains("up 1 h 2 min"));
        assert!(html.contains("badge ok"));
    }

    #[test]
    fn one_table_row_per_recent_request() {
        let html = render(&full_view());
        assert!(html.contains("<table id=\"recent\">"));
        let body = tbody(&html);
        assert_eq!(body.matches("<tr>").count(), 2);
        assert!(body.contains("850 ms"));
        assert!(body.contains("1234 ms"));
        assert!(body.contains("10 / 20"));
        assert!(body.contains("—"), "no first token");
        for column in [
            "id",
            "endpoint",
            "model",
            "status",
            "outcome",
            "served",
            "first token",
        ] {
            assert!(html.contains(&format!(">{column}</th>")), "{column}");
        }
        assert!(html.contains("<th>id</th>"));
        assert!(html.contains("<th class=\"num\">first token</th>"));
    }

    #[test]
    fn empty_states() {
        let view = StatusView {
            status: "degraded".into(),
            ..StatusView::default()
        };
        let html = render(&view);
        assert!(html.contains("No quota information yet: the claude CLI is asked for it"));
        assert_eq!(html.matches("class=\"quota-bar\"").count(), 0);
        let body = tbody(&html);
        assert_eq!(body.matches("<tr>").count(), 1);
        assert!(body.contains("No requests yet."));
        assert!(body.contains("colspan=\"10\""));
        assert!(html.contains("not found"));
        assert!(html.contains("No container URL yet"));
        assert!(html.contains("badge warn"));
        assert!(!html.contains("http://"));
    }

    /// Windows from the usage check (no status word) are coloured by how full they are, the
    /// model-scoped one carries its label, extra usage gets a bar of its own, and the plan
    /// and freshness are said.
    #[test]
    fn usage_check_windows_plan_and_extra_usage() {
        let mut view = full_view();
        view.quota = vec![
            QuotaRow {
                status: None,
                ..quota("five_hour", Some(0.42), "")
            },
            QuotaRow {
                model: Some("Fable".into()),
                status: None,
                ..quota("model_scoped", Some(0.9), "")
            },
        ];
        view.plan = Some("Max".into());
        view.extra_usage = Some(ExtraUsageRow {
            utilization: Some(0.25),
            spent: "12.34 of 50.00 USD spent this billing period".into(),
        });
        view.quota_freshness = Some("asked the claude CLI 12 s ago".into());
        let html = render(&view);
        assert_eq!(html.matches("class=\"quota-bar\"").count(), 3);
        assert!(html.contains("data-window=\"model_scoped\""));
        assert!(html.contains("7-day Fable"));
        assert!(html.contains("quota-fill fill-ok"));
        assert!(html.contains("quota-fill fill-warn"));
        assert!(html.contains("Plan: <strong>Max</strong>"));
        assert!(html.contains("data-window=\"extra_usage\""));
        assert!(html.contains("12.34 of 50.00 USD"));
        assert!(html.contains("asked the claude CLI 12 s ago"));
    }

    /// A login that cannot see its windows says so where the bars would be, with the fix,
    /// and keeps the bars it has.
    #[test]
    fn blind_logins_get_the_fix() {
        let mut view = full_view();
        view.quota_blind = Some(("cannot see".into(), "run this".into()));
        let html = render(&view);
        assert!(html.contains("id=\"quota-blind\""));
        assert!(html.contains("<strong>Fix:</strong> run this"));
        assert_eq!(html.matches("class=\"quota-bar\"").count(), 3);
        view.quota.clear();
        let html = render(&view);
        assert!(!html.contains("No quota information yet"));
    }

    #[test]
    fn uptime_is_human() {
        assert_eq!(human_uptime(42), "42 s");
        assert_eq!(human_uptime(303), "5 min 3 s");
        assert_eq!(human_uptime(7_500), "2 h 5 min");
        assert_eq!(human_uptime(3 * 86_400 + 4 * 3_600 + 59), "3 d 4 h");
    }
}
