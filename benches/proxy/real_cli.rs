//! Section 2: the real CLI 2.1.332 against the mock Messages API — alone, through the
//! daemon cold, warm and live.

use super::*;

pub(super) async fn real_cli(bins: &Binaries, counts: Counts) -> String {
    let pause = pause();
    let mut out = format!(
        "## 2. The real CLI 2.1.332 against the mock Messages API\n\n\
         The CLI from the `claude-agent-sdk` wheel with `ANTHROPIC_BASE_URL` pointing at \
         `tests/support/mock_anthropic.rs` (in this process), subscription mode (OAuth \
         token), a system prompt, one request at a time. **Baseline:** the CLI alone (a new \
         conversation), spawned with the daemon's argv and environment, prompt on stdin. Time \
         to first token is to the first text delta. Between requests the client waits \
         {} ms (`PROXY_BENCH_PAUSE_MS`; as between a person's messages, time for a \
         pre-started process to finish its own start). Targets (issue 12): a new \
         conversation through the warm pool ≤ 0.3 of the bare CLI, later turns through a live \
         process ≤ 0.15, and no path slower than before when the pool misses. Later turns are \
         never started ahead: a `-p` process gives up on a stdin that brings no data within \
         3 s, so the pool serves new conversations only and live processes serve later \
         turns.\n\n",
        pause.as_millis()
    );
    let Some(real) = &bins.real else {
        out.push_str(
            "_Not measured: the real CLI is not installed (run `.ci/run`, or set \
             `CLAUDE_MAX_PROXY_TEST_CLI`)._\n\n",
        );
        return out;
    };
    let mock = MockAnthropic::start().await;
    // The mock refuses credentials it was not told about.
    mock.accept(mock_anthropic::Credential::OAuthToken(
        OAUTH_TOKEN.to_string(),
    ));
    let base_url = mock.base_url();
    let env = [
        ("ANTHROPIC_BASE_URL", base_url.as_str()),
        ("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN),
        ("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0"),
    ];
    let direct = DirectCli::real(real, &base_url);
    // One run first: the first run of a 400 MB binary reads it from disk.
    direct.run("Say hi").await;
    let mut alone = Vec::new();
    for _ in 0..counts.real_runs {
        tokio::time::sleep(pause).await;
        alone.push(direct.run("Say hi").await);
    }
    // Rows are written at the end, against the baseline measured before and after them (the
    // machine's speed drifts over the minutes this takes).
    let mut measured: Vec<(String, Vec<Timing>)> = Vec::new();
    let row = |out: &mut String, base: Duration, name: &str, runs: &[Timing]| {
        let f = firsts(runs);
        writeln!(
            out,
            "| {name} | {} | {} ms | {} ms | {} ms | {} |",
            runs.len(),
            ms(percentile(&f, 50.0)),
            ms(percentile(&f, 100.0)),
            ms(percentile(&totals(runs), 50.0)),
            dratio(percentile(&f, 50.0), base)
        )
        .unwrap();
    };
    let setups: [(&str, &str, &str, bool); 4] = [
        (
            "new conversation: daemon, cold (`warm = 0`, `live_sessions = 0`; the prompt as \
             one stream-json message)",
            "0",
            "0",
            false,
        ),
        (
            "new conversation: daemon, warm (defaults: `warm = 1`, `live_sessions = 4`)",
            "1",
            "4",
            false,
        ),
        (
            "**turns 2–5:** daemon, resumed session, cold (`warm = 0`, `live_sessions = 0`)",
            "0",
            "0",
            true,
        ),
        ("turns 2–5: daemon, live process (defaults)", "1", "4", true),
    ];
    let tool_setups: [(&str, &str); 2] = [
        (
            "**first tool call** (a new conversation with a client tool): daemon, cold (`warm = 0`)",
            "0",
        ),
        ("first tool call: daemon, warm (`warm = 1`)", "1"),
    ];
    for (name, warm, live, turns) in setups {
        let mut daemon_env = env.to_vec();
        daemon_env.push((WARM_ENV, warm));
        daemon_env.push(("CLAUDE_MAX_PROXY_LIVE_SESSIONS", live));
        let daemon = match start_daemon(&bins.daemon, real, &daemon_env).await {
            Ok(daemon) => daemon,
            Err(why) => {
                let why = why.lines().last().unwrap_or("").trim().replace('|', "\\|");
                writeln!(out, "| {name} | – | not available: {why} | | | |").unwrap();
                continue;
            }
        };
        let mut conn = Conn::open(daemon.port).await;
        // The first request teaches the pool the setup.
        conn.stream_chat(&chat(REAL_MODEL, Some(REAL_SYSTEM), "warm up"))
            .await;
        let mut runs = Vec::new();
        if turns {
            for c in 0..counts.real_runs.div_ceil(2) {
                let mut history = vec![format!("conversation {c} turn 1")];
                tokio::time::sleep(pause).await;
                conn.stream_chat(&conversation_body(&history)).await;
                for turn in 2..=5 {
                    let last = history.last().cloned().unwrap_or_default();
                    history.push(mock_anthropic::mock_reply(&last));
                    history.push(format!("conversation {c} turn {turn}"));
                    tokio::time::sleep(pause).await;
                    runs.push(conn.stream_chat(&conversation_body(&history)).await);
                }
            }
        } else {
            for i in 0..counts.real_runs {
                tokio::time::sleep(pause).await;
                let body = chat(REAL_MODEL, Some(REAL_SYSTEM), &format!("Say hi {i}"));
                runs.push(conn.stream_chat(&body).await);
            }
        }
        let served = conn.get_json("/health").await["served"].clone();
        measured.push((name.to_string(), runs));
        eprintln!("  {name}: served {served}");
        drop(conn);
        drop(daemon);
    }
    for (name, warm) in tool_setups {
        let mut daemon_env = env.to_vec();
        daemon_env.push((WARM_ENV, warm));
        let Ok(daemon) = start_daemon(&bins.daemon, real, &daemon_env).await else {
            writeln!(out, "| {name} | – | not available | | | |").unwrap();
            continue;
        };
        let mut conn = Conn::open(daemon.port).await;
        conn.stream_chat_until(&tool_body(0), "\"tool_calls\"")
            .await;
        let mut runs = Vec::new();
        for i in 1..=counts.real_runs {
            tokio::time::sleep(pause).await;
            runs.push(
                conn.stream_chat_until(&tool_body(i), "\"tool_calls\"")
                    .await,
            );
        }
        let served = conn.get_json("/health").await["served"].clone();
        measured.push((name.to_string(), runs));
        eprintln!("  {name}: served {served}");
    }
    for _ in 0..counts.real_runs {
        tokio::time::sleep(pause).await;
        alone.push(direct.run("Say hi").await);
    }
    let base = percentile(&firsts(&alone), 50.0);
    writeln!(
        out,
        "| | samples | first token p50 | first token max | total p50 | first token vs. CLI alone |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    row(
        &mut out,
        base,
        "**new conversation:** CLI alone (baseline; half before the rows below, half after)",
        &alone,
    );
    for (name, runs) in &measured {
        row(&mut out, base, name, runs);
    }
    out.push('\n');
    out
}

/// A new conversation offering one client function, whose prompt makes the mock call it.
pub(super) fn tool_body(i: usize) -> Value {
    json!({"model": REAL_MODEL, "stream": true,
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "messages": [{"role": "system", "content": REAL_SYSTEM},
            {"role": "user", "content": format!("weather {i}?\nCALL get_weather {{\"city\":\"Oslo\"}}")}]})
}

/// The pause before each measured request: `PROXY_BENCH_PAUSE_MS`, 3000 by default.
pub(super) fn pause() -> Duration {
    let ms = std::env::var("PROXY_BENCH_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    Duration::from_millis(ms)
}

/// A streaming chat body for a conversation (user, assistant, …, user) with the system
/// prompt.
pub(super) fn conversation_body(turns: &[String]) -> Value {
    let mut messages = vec![json!({"role": "system", "content": REAL_SYSTEM})];
    for (i, text) in turns.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(json!({"role": role, "content": text}));
    }
    json!({"model": REAL_MODEL, "stream": true, "messages": messages})
}
