//! Printing a report: one line per stage with its timing (stdout), the failure with its cause
//! and fix (stderr), or one JSON object with `--json`. Formatting is pure (strings and JSON
//! values); only `print` writes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::context::Context;
use crate::diagnose::{Diagnosis, diagnose};
use crate::stage::{self, Report};
use crate::timing::duration;

/// The stage lines (stdout) and the failure block (stderr) of a text report.
pub fn text(report: &Report, context: &Context, attempts: u32) -> (String, String) {
    let mut out = String::new();
    let url = report.url.as_deref().unwrap_or("(no URL)");
    out.push_str(&format!(
        "ai-proxy-check {}: {url}\n",
        env!("CARGO_PKG_VERSION")
    ));
    for passed in &report.passed {
        out.push_str(&format!(
            "  {:<8} ok    {:>9}  {}\n",
            passed.stage.name(),
            duration(passed.elapsed),
            passed.summary
        ));
    }
    let tries = if attempts > 1 {
        format!(", {attempts} attempts")
    } else {
        String::new()
    };
    let Some(failure) = &report.failure else {
        out.push_str(&format!(
            "ok: the proxy answers from here ({}{tries})\n",
            duration(report.elapsed)
        ));
        return (out, String::new());
    };
    out.push_str(&format!(
        "  {:<8} FAIL  {:>9}  {}\n",
        failure.stage.name(),
        duration(failure.elapsed),
        failure.detail
    ));
    let Diagnosis { cause, fix } = diagnose(failure, &report.facts, context);
    let err = format!(
        "ai-proxy-check: {} failed (exit code {}{tries})\n  error: {}\n  cause: {cause}\n  fix:   {fix}\n",
        failure.stage.name(),
        stage::exit_code(failure),
        failure.detail,
    );
    (out, err)
}

/// The `--json` object.
pub fn json(report: &Report, context: &Context, attempts: u32) -> Value {
    let mut stages: Vec<Value> = report
        .passed
        .iter()
        .map(|p| {
            let mut entry = json!({
                "stage": p.stage.name(),
                "ok": true,
                "ms": millis(p.elapsed),
                "summary": p.summary,
            });
            if let (Some(entry), Some(data)) = (entry.as_object_mut(), p.data.as_object()) {
                for (k, v) in data {
                    entry.insert(k.clone(), v.clone());
                }
            }
            entry
        })
        .collect();
    let failure = report.failure.as_ref().map(|f| {
        stages.push(json!({
            "stage": f.stage.name(),
            "ok": false,
            "ms": millis(f.elapsed),
            "summary": f.detail,
        }));
        let Diagnosis { cause, fix } = diagnose(f, &report.facts, context);
        json!({
            "stage": f.stage.name(),
            "exit_code": stage::exit_code(f),
            "problem": f.problem.id(),
            "detail": f.detail,
            "cause": cause,
            "fix": fix,
        })
    });
    json!({
        "ok": report.ok(),
        "exit_code": report.exit_code(),
        "url": report.url,
        "in_container": context.container,
        "attempts": attempts,
        "ms": millis(report.elapsed),
        "stages": stages,
        "failure": failure,
    })
}

/// The line printed (stderr) before another `--wait` attempt.
pub fn retry_line(report: &Report, attempt: u32, left: Duration) -> String {
    let what = report
        .failure
        .as_ref()
        .map(|f| format!("{} failed ({})", f.stage.name(), f.detail))
        .unwrap_or_default();
    format!(
        "ai-proxy-check: attempt {attempt}: {what}; retrying for up to {}\n",
        duration(left)
    )
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Writes the report as `--json`, `--quiet` or normal text asks.
pub fn print(report: &Report, context: &Context, attempts: u32, as_json: bool, quiet: bool) {
    if as_json {
        println!("{}", json(report, context, attempts));
        return;
    }
    let (out, err) = text(report, context, attempts);
    if !quiet {
        print!("{out}");
    }
    eprint!("{err}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::{Facts, Failure, Passed, Problem, Stage};

    fn report(failure: Option<Failure>) -> Report {
        Report {
            url: Some("http://host.docker.internal:3456".into()),
            passed: vec![
                Passed {
                    stage: Stage::Url,
                    elapsed: Duration::from_micros(40),
                    summary: "http://host.docker.internal:3456".into(),
                    data: json!({"port": 3456}),
                },
                Passed {
                    stage: Stage::Resolve,
                    elapsed: Duration::from_micros(1234),
                    summary: "host.docker.internal → 172.17.0.1 (from /etc/hosts)".into(),
                    data: json!({"addresses": ["172.17.0.1"]}),
                },
            ],
            failure,
            facts: Facts {
                host: Some("host.docker.internal".into()),
                port: Some(3456),
                peer: Some("172.17.0.1:3456".parse().unwrap()),
                addresses: vec!["172.17.0.1".parse().unwrap()],
                ..Facts::default()
            },
            elapsed: Duration::from_millis(1500),
        }
    }

    fn refused() -> Failure {
        Failure {
            stage: Stage::Connect,
            elapsed: Duration::from_micros(300),
            problem: Problem::Refused,
            detail: "172.17.0.1:3456: connection refused".into(),
        }
    }

    #[test]
    fn text_lines_for_success_and_failure() {
        let (out, err) = text(&report(None), &Context::default(), 1);
        assert!(out.starts_with("ai-proxy-check "), "{out}");
        assert!(out.contains("  url      ok       0.0 ms  http://host.docker.internal:3456\n"));
        assert!(out.contains("  resolve  ok       1.2 ms  host.docker.internal → 172.17.0.1"));
        assert!(
            out.ends_with("ok: the proxy answers from here (1.50 s)\n"),
            "{out}"
        );
        assert!(err.is_empty());

        let (out, err) = text(&report(Some(refused())), &Context::default(), 3);
        assert!(
            out.contains("  connect  FAIL     0.3 ms  172.17.0.1:3456: connection refused\n"),
            "{out}"
        );
        assert!(err.starts_with("ai-proxy-check: connect failed (exit code 5, 3 attempts)\n"));
        assert!(err.contains("\n  error: 172.17.0.1:3456: connection refused\n"));
        assert!(err.contains("\n  cause: nothing accepts connections on 172.17.0.1:3456"));
        assert!(err.contains("\n  fix:   on the host, make `listen` include `docker`"));
    }

    #[test]
    fn json_has_stages_and_the_failure() {
        let value = json(&report(Some(refused())), &Context::default(), 2);
        assert_eq!(value["ok"], false);
        assert_eq!(value["exit_code"], 5);
        assert_eq!(value["attempts"], 2);
        assert_eq!(value["stages"][1]["addresses"][0], "172.17.0.1");
        assert_eq!(value["stages"][2]["stage"], "connect");
        assert_eq!(value["stages"][2]["ok"], false);
        assert_eq!(value["failure"]["problem"], "refused");
        assert!(value["failure"]["fix"].as_str().unwrap().contains("doctor"));
        let value = json(&report(None), &Context::default(), 1);
        assert_eq!(
            (value["ok"].clone(), value["exit_code"].clone()),
            (json!(true), json!(0))
        );
        assert!(value["failure"].is_null());
        assert_eq!(value["stages"][0]["port"], 3456);
    }

    #[test]
    fn retry_lines_name_the_stage() {
        let line = retry_line(&report(Some(refused())), 2, Duration::from_secs(8));
        assert_eq!(
            line,
            "ai-proxy-check: attempt 2: connect failed (172.17.0.1:3456: connection refused); \
             retrying for up to 8.00 s\n"
        );
    }
}
