//! `--wait`: run the stages again until they all pass or the time is up, for compose
//! `depends_on` and healthchecks that start before the daemon. Failures that waiting cannot
//! fix (a bad URL, a rejected key) end the wait at once.

use std::time::Duration;

use tokio::time::Instant;

use crate::args::Options;
use crate::check;
use crate::context::Context;
use crate::stage::{Problem, Report};

/// Pause between attempts.
const PAUSE: Duration = Duration::from_secs(1);

/// Runs until success, a permanent failure, or `options.wait` has passed; `on_retry` sees
/// each failed attempt that is retried. Returns the last report and the attempt count.
pub async fn run(
    options: &Options,
    context: &Context,
    mut on_retry: impl FnMut(&Report, u32, Duration),
) -> (Report, u32) {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let report = check::run_once(options, context).await;
        let left = options
            .wait
            .map(|w| w.saturating_sub(started.elapsed()))
            .unwrap_or_default();
        let permanent = report
            .failure
            .as_ref()
            .is_some_and(|f| is_permanent(&f.problem));
        if report.ok() || permanent || left.is_zero() {
            return (report, attempt);
        }
        on_retry(&report, attempt, left);
        tokio::time::sleep(PAUSE.min(left)).await;
        attempt += 1;
    }
}

/// Failures that another attempt cannot fix (the daemon's refusals of the key, the Host
/// name or an Origin need a change of configuration, not time).
pub fn is_permanent(problem: &Problem) -> bool {
    matches!(
        problem,
        Problem::MissingUrl
            | Problem::BadUrl
            | Problem::Unauthorized { .. }
            | Problem::HostNotAllowed
            | Problem::OriginNotAllowed
            | Problem::UnknownEndpoint
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_fixes_only_transient_failures() {
        assert!(is_permanent(&Problem::BadUrl));
        assert!(is_permanent(&Problem::Unauthorized { key_sent: true }));
        assert!(!is_permanent(&Problem::Refused));
        assert!(!is_permanent(&Problem::NoSuchName));
        assert!(!is_permanent(&Problem::Status(503)));
        assert!(is_permanent(&Problem::HostNotAllowed));
        assert!(is_permanent(&Problem::UnknownEndpoint));
        assert!(!is_permanent(&Problem::Busy {
            retry_after: Some(1)
        }));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_the_wait_is_over() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let options = Options {
            url: Some(format!("http://127.0.0.1:{port}")),
            key: None,
            chat: false,
            api: crate::api::Api::Chat,
            model: None,
            prompt: String::new(),
            wait: Some(Duration::from_millis(2500)),
            timeout: Duration::from_secs(1),
            chat_timeout: Duration::from_secs(1),
            json: false,
            quiet: false,
        };
        let mut retries = Vec::new();
        let (report, attempts) =
            run(&options, &Context::default(), |_, n, _| retries.push(n)).await;
        assert_eq!(report.exit_code(), 5);
        assert_eq!(attempts, 4);
        assert_eq!(retries, vec![1, 2, 3]);
    }
}
