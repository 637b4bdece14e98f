//! Driving Chrome/Chromium through the login with chromiumoxide: launch it with the
//! persistent profile, open the authorize URL, and wait until some tab reaches the callback
//! page, then read `code#state` from the page's URL or, failing that, from its text (the
//! real callback page shows `code#state` for copying).
//!
//! The user does the logging in; we only watch. The browser window is headful unless
//! [`HEADLESS_ENV`](crate::login::HEADLESS_ENV) is set (tests). When the user closes the
//! browser we stop with [`LoginError::BrowserClosed`]; when the deadline passes, with
//! [`LoginError::TimedOut`]. Either way the browser is closed before we return.

use std::path::PathBuf;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::target::{GetTargetsParams, TargetInfo};
use chromiumoxide::error::CdpError;
use futures_util::StreamExt;
use reqwest::Url;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::login::LoginError;
use crate::login::pkce::{CallbackUrl, Returned, find_in_text, is_callback, read_callback_url};

/// Longest launch failure text shown (it may quote the browser's stderr).
const MAX_REASON_CHARS: usize = 600;
/// How often the tabs are looked at.
const POLL: Duration = Duration::from_millis(250);
/// How long the browser may take to start and offer its DevTools endpoint.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful close may take before the browser is killed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// With no tab open for this long (macOS keeps Chrome running without windows), the user
/// has closed the browser.
const NO_TABS_GRACE: Duration = Duration::from_secs(3);
/// How long a failed DevTools call waits to see whether the browser is exiting.
const CLOSE_SETTLE: Duration = Duration::from_secs(2);
/// The text of the page: visible text plus the values of inputs (where a copy box may
/// hold the code).
const PAGE_TEXT_JS: &str = "(() => { const parts = [document.body ? document.body.innerText : '']; \
    for (const e of document.querySelectorAll('input, textarea')) parts.push(e.value || ''); \
    return parts.join('\\n'); })()";

/// How to start the browser.
#[derive(Clone, Debug)]
pub struct Launch {
    pub executable: PathBuf,
    /// The persistent profile (`--user-data-dir`).
    pub profile_dir: PathBuf,
    /// No window (tests, CI).
    pub headless: bool,
    /// `--no-sandbox`: Chrome refuses to run its sandbox as root.
    pub no_sandbox: bool,
}

impl Launch {
    fn config(&self) -> Result<BrowserConfig, LoginError> {
        let mut builder = BrowserConfig::builder()
            .chrome_executable(&self.executable)
            .user_data_dir(&self.profile_dir)
            .launch_timeout(LAUNCH_TIMEOUT)
            // Leave the page at the window's size instead of emulating 800x600.
            .viewport(None)
            // chromiumoxide's defaults include --enable-automation (an infobar, and some
            // sign-in pages refuse such browsers); a login wants a plain browser.
            .disable_default_args()
            .args([
                "no-first-run",
                "no-default-browser-check",
                "disable-background-networking",
                "disable-sync",
                "disable-dev-shm-usage",
                "password-store=basic",
                "use-mock-keychain",
                "disable-blink-features=AutomationControlled",
            ]);
        builder = if self.headless {
            builder.new_headless_mode()
        } else {
            builder.with_head().window_size(1000, 820)
        };
        if self.no_sandbox {
            builder = builder.no_sandbox();
        }
        builder.build().map_err(|reason| LoginError::BrowserLaunch {
            executable: self.executable.clone(),
            reason,
        })
    }
}

/// A launched browser and the task pumping its DevTools connection.
struct Running {
    browser: Browser,
    handler: JoinHandle<()>,
    executable: PathBuf,
}

impl Running {
    async fn start(launch: &Launch) -> Result<Running, LoginError> {
        let config = launch.config()?;
        let (browser, mut handler) =
            Browser::launch(config)
                .await
                .map_err(|e| LoginError::BrowserLaunch {
                    executable: launch.executable.clone(),
                    reason: e.to_string().chars().take(MAX_REASON_CHARS).collect(),
                })?;
        let handler = tokio::spawn(async move {
            // A connection error means the browser is gone; the poll loop notices.
            while let Some(event) = handler.next().await {
                if event.is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            browser,
            handler,
            executable: launch.executable.clone(),
        })
    }

    /// Whether the browser process or its connection has ended.
    fn gone(&mut self) -> bool {
        self.handler.is_finished() || !matches!(self.browser.try_wait(), Ok(None))
    }

    /// Whether the browser goes away within `limit`: a DevTools call fails the moment the
    /// user closes the browser, a little before the process has exited.
    async fn gone_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.gone() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The open tabs (page targets).
    async fn tabs(&self) -> Option<Vec<TargetInfo>> {
        let response = self
            .browser
            .execute(GetTargetsParams::default())
            .await
            .ok()?;
        Some(
            response
                .result
                .target_infos
                .into_iter()
                .filter(|t| t.r#type == "page")
                .collect(),
        )
    }

    /// The visible text of a tab, if it can be read now.
    async fn text_of(&self, tab: &TargetInfo) -> Option<String> {
        let page = self.browser.get_page(tab.target_id.clone()).await.ok()?;
        page.evaluate(PAGE_TEXT_JS)
            .await
            .ok()?
            .into_value::<String>()
            .ok()
    }

    /// Closes the browser gracefully (so the profile's cookies are saved), else kills it.
    async fn close(mut self) {
        let graceful = tokio::time::timeout(CLOSE_TIMEOUT, async {
            let _ = self.browser.close().await;
            let _ = self.browser.wait().await;
        })
        .await;
        if graceful.is_err() {
            let _ = self.browser.kill().await;
        }
        self.handler.abort();
    }
}

/// Runs the browser part of a login: returns the code and state the callback page got.
/// The state is not checked here (the caller does, for both flows).
pub async fn obtain_code(
    launch: &Launch,
    authorize_url: &Url,
    redirect_uri: &Url,
    expected_state: &str,
    deadline: Instant,
    timeout_secs: u64,
) -> Result<Returned, LoginError> {
    let mut running = match tokio::time::timeout_at(deadline, Running::start(launch)).await {
        Ok(started) => started?,
        Err(_) => return Err(LoginError::TimedOut { secs: timeout_secs }),
    };
    let outcome = watch(
        &mut running,
        authorize_url,
        redirect_uri,
        expected_state,
        deadline,
        timeout_secs,
    )
    .await;
    running.close().await;
    outcome
}

async fn watch(
    running: &mut Running,
    authorize_url: &Url,
    redirect_uri: &Url,
    expected_state: &str,
    deadline: Instant,
    timeout_secs: u64,
) -> Result<Returned, LoginError> {
    match running.browser.new_page(authorize_url.as_str()).await {
        // A slow first load is no failure: the tab exists and the user may still log in.
        Ok(_) | Err(CdpError::Timeout) => {}
        Err(e) => {
            if running.gone_within(CLOSE_SETTLE).await {
                return Err(LoginError::BrowserClosed);
            }
            return Err(LoginError::BrowserLaunch {
                executable: running.executable.clone(),
                reason: format!("cannot open the login page: {e}"),
            });
        }
    }
    let mut no_tabs_since: Option<Instant> = None;
    loop {
        if running.gone() {
            return Err(LoginError::BrowserClosed);
        }
        // DevTools calls wait up to 30 s on a stuck browser: keep them inside the deadline.
        let step = tokio::time::timeout_at(
            deadline,
            poll_once(running, redirect_uri, expected_state, &mut no_tabs_since),
        )
        .await;
        match step {
            Err(_) => return Err(LoginError::TimedOut { secs: timeout_secs }),
            Ok(Some(outcome)) => return outcome,
            Ok(None) => {}
        }
        if Instant::now() >= deadline {
            return Err(LoginError::TimedOut { secs: timeout_secs });
        }
        tokio::time::sleep_until((Instant::now() + POLL).min(deadline)).await;
    }
}

/// One look at the tabs: an outcome once the callback page is there or every tab is gone.
async fn poll_once(
    running: &Running,
    redirect_uri: &Url,
    expected_state: &str,
    no_tabs_since: &mut Option<Instant>,
) -> Option<Result<Returned, LoginError>> {
    let tabs = running.tabs().await?;
    if tabs.is_empty() {
        let since = *no_tabs_since.get_or_insert_with(Instant::now);
        return (since.elapsed() >= NO_TABS_GRACE).then_some(Err(LoginError::BrowserClosed));
    }
    *no_tabs_since = None;
    check_tabs(running, &tabs, redirect_uri, expected_state).await
}

/// Looks for a tab on the callback page and reads the code from it.
async fn check_tabs(
    running: &Running,
    tabs: &[TargetInfo],
    redirect_uri: &Url,
    expected_state: &str,
) -> Option<Result<Returned, LoginError>> {
    for tab in tabs {
        let Ok(url) = Url::parse(&tab.url) else {
            continue;
        };
        if !is_callback(&url, redirect_uri) {
            continue;
        }
        match read_callback_url(&url) {
            CallbackUrl::Code(returned) => return Some(Ok(returned)),
            CallbackUrl::Error(reason) => return Some(Err(LoginError::Denied { reason })),
            CallbackUrl::Nothing => {}
        }
        if let Some(text) = running.text_of(tab).await
            && let Some(returned) = find_in_text(&text, expected_state)
        {
            return Some(Ok(returned));
        }
    }
    None
}

/// Whether this process runs as root (Chrome's sandbox refuses root).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether a window can open: always on macOS; on other Unixes only with X11 or Wayland.
pub fn has_display() -> bool {
    cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some_and(|v| !v.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty())
}
