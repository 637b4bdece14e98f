//! Section 5: agent loops and tool-offering chats with the real CLI 2.1.332 against the mock
//! Messages API.
//!
//! - A 5-turn agent loop (each turn a tool call, then its result: ten streamed chat
//!   requests, as an agent framework sends them back to back) through the daemon with its
//!   defaults, and with the warm pool and live conversations off (every step a new CLI).
//!   Wall time of the whole loop, time to first token of the tool-result steps, CLI
//!   processes started per loop (`/health` `served`: cold + warm).
//! - An Open WebUI-shaped chat: 36 tools offered with every turn, none called, 5 turns;
//!   time to first token of turns 2–5.
//!
//! **Baseline:** the bare CLI per step, cold (a new process with the daemon's argv and
//! environment, prompt on stdin), measured half before and half after the daemon's rows.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    Binaries, Conn, Counts, DirectCli, OAUTH_TOKEN, REAL_MODEL, REAL_SYSTEM, Timing, WARM_ENV,
    dratio, firsts, ms, percentile, start_daemon,
};
use crate::mock_anthropic::MockAnthropic;

/// Tools Open WebUI offers with every chat turn (its built-in tools, as counted).
const OPEN_WEBUI_TOOLS: usize = 36;

pub(super) async fn agent_loops(bins: &Binaries, counts: Counts) -> String {
    let mut out = String::from(
        "## 5. Agent loops and chats that offer tools (real CLI, mock Messages API)\n\n\
         **Agent loop:** five turns, each a tool call and then its result (ten streamed chat \
         requests, sent back to back as an agent framework does: the tool itself takes no \
         time), 3 s between loops. **Defaults** (`warm = 1`, `live_sessions = 4`): a turn that \
         ends in tool calls keeps its CLI waiting at the calls and the results continue it; \
         **all cold** (`warm = 0`, `live_sessions = 0`): every request starts a CLI (the \
         results through a resumed session). **Open WebUI-shaped chat:** 36 tools offered \
         with every turn, none called, five turns. **Baseline:** the bare CLI, cold, per step \
         (half measured before the daemon's rows, half after). Targets (issue 19): the \
         loop's wall time with defaults ≤ 0.35 of all cold; time to first token of a \
         tool-result step ≤ 0.15 of the bare CLI; one CLI started per loop; chat turns 2–5 \
         ≤ 0.15.\n\n",
    );
    let Some(real) = &bins.real else {
        out.push_str("_Not measured: the real CLI is not installed (run `.ci/run`)._\n\n");
        return out;
    };
    let loops = counts.real_runs.div_ceil(2).max(2);
    let mock = MockAnthropic::start().await;
    // The mock refuses credentials it was not told about.
    mock.accept(crate::mock_anthropic::Credential::OAuthToken(
        OAUTH_TOKEN.to_string(),
    ));
    let base_url = mock.base_url();
    let direct = DirectCli::real(real, &base_url);
    direct.run("Say hi").await;
    let mut bare = Vec::new();
    for _ in 0..counts.real_runs {
        bare.push(direct.run("Say hi").await);
    }
    let env = [
        ("ANTHROPIC_BASE_URL", base_url.as_str()),
        ("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN),
        ("CLAUDE_MAX_PROXY_CLI_MAX_RETRIES", "0"),
    ];
    let mut loops_measured = Vec::new();
    let mut kept_rss: Vec<(u64, u64)> = Vec::new();
    for (name, warm, live) in [
        ("defaults (`warm = 1`, `live_sessions = 4`)", "1", "4"),
        ("all cold (`warm = 0`, `live_sessions = 0`)", "0", "0"),
    ] {
        let mut daemon_env = env.to_vec();
        daemon_env.push((WARM_ENV, warm));
        daemon_env.push(("CLAUDE_MAX_PROXY_LIVE_SESSIONS", live));
        let daemon = match start_daemon(&bins.daemon, real, &daemon_env).await {
            Ok(daemon) => daemon,
            Err(why) => {
                writeln!(out, "_{name}: the daemon did not start: {why}_\n").unwrap();
                continue;
            }
        };
        let mut conn = Conn::open(daemon.port).await;
        // One loop first: it teaches the pool the setup (not measured).
        run_loop(&mut conn, 0).await;
        let mut measured = LoopRuns::default();
        for l in 1..=loops {
            tokio::time::sleep(super::real_cli::pause()).await;
            let before = started_so_far(&mut conn).await;
            let (wall, result_steps) = run_loop(&mut conn, l).await;
            measured.walls.push(wall);
            measured.result_steps.extend(result_steps);
            measured
                .started
                .push(started_so_far(&mut conn).await - before);
        }
        eprintln!(
            "  agent loop, {name}: served {}",
            conn.get_json("/health").await["served"]
        );
        if live != "0" {
            // The CLIs the daemon holds now: the kept conversations, the warm one.
            kept_rss = super::child_pids(daemon.pid())
                .into_iter()
                .map(super::rss_kib)
                .collect();
        }
        loops_measured.push((name, measured));
    }

    // The Open WebUI-shaped chat, defaults.
    let mut chat_turns = Vec::new();
    if let Ok(daemon) = start_daemon(&bins.daemon, real, &env).await {
        let mut conn = Conn::open(daemon.port).await;
        for c in 0..loops {
            let mut messages = vec![json!({"role": "system", "content": REAL_SYSTEM})];
            for turn in 1..=5 {
                messages.push(json!({"role": "user", "content": format!("chat {c} turn {turn}")}));
                let body = json!({"model": REAL_MODEL, "stream": true,
                    "tools": open_webui_tools(), "messages": messages});
                tokio::time::sleep(super::real_cli::pause()).await;
                let (timing, text) = stream(&mut conn, &body).await;
                if turn > 1 {
                    chat_turns.push(timing);
                }
                messages.push(json!({"role": "assistant", "content": content_of(&text)}));
            }
        }
        eprintln!(
            "  open webui chat: served {}",
            conn.get_json("/health").await["served"]
        );
    }
    for _ in 0..counts.real_runs {
        bare.push(direct.run("Say hi").await);
    }

    let base = percentile(&firsts(&bare), 50.0);
    let all_cold_wall = loops_measured
        .iter()
        .find(|(name, _)| name.starts_with("all cold"))
        .map(|(_, m)| percentile(&m.walls, 50.0));
    writeln!(
        out,
        "| | loops | loop wall time p50 | vs. all cold | tool-result step: first token p50 | vs. bare CLI | CLIs started per loop |\n|---|---|---|---|---|---|---|"
    )
    .unwrap();
    writeln!(
        out,
        "| bare CLI, cold, per step (baseline; {} runs) | | | | {} ms | 1.00× | |",
        bare.len(),
        ms(base)
    )
    .unwrap();
    for (name, measured) in &loops_measured {
        let wall = percentile(&measured.walls, 50.0);
        let step = percentile(&firsts(&measured.result_steps), 50.0);
        let started: Vec<String> = measured.started.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "| agent loop, {name} | {} | {} ms | {} | {} ms | {} | {} |",
            measured.walls.len(),
            ms(wall),
            all_cold_wall.map_or("–".to_string(), |cold| dratio(wall, cold)),
            ms(step),
            dratio(step, base),
            started.join(", ")
        )
        .unwrap();
    }
    if !chat_turns.is_empty() {
        let first = percentile(&firsts(&chat_turns), 50.0);
        writeln!(
            out,
            "| Open WebUI-shaped chat ({OPEN_WEBUI_TOOLS} tools offered), turns 2–5, defaults | {} chats | | | {} ms (turn's first token) | {} | |",
            loops,
            ms(first),
            dratio(first, base)
        )
        .unwrap();
    }
    out.push('\n');
    if !kept_rss.is_empty() {
        let each: Vec<String> = kept_rss
            .iter()
            .map(|(rss, peak)| format!("{} (peak {})", super::mib(*rss), super::mib(*peak)))
            .collect();
        writeln!(
            out,
            "Memory of every CLI process the daemon holds after the loops with its defaults (the \
             conversations kept from the last loops, each of which answered ten steps, and the \
             warm process; RSS from /proc): {}. The memory budget counts 250 MB a process.\n",
            each.join(", ")
        )
        .unwrap();
    }
    out
}

#[derive(Default)]
struct LoopRuns {
    walls: Vec<Duration>,
    result_steps: Vec<Timing>,
    started: Vec<u64>,
}

/// CLI processes the daemon started so far (cold and warm).
async fn started_so_far(conn: &mut Conn) -> u64 {
    let served = conn.get_json("/health").await["served"].clone();
    served["cold"].as_u64().unwrap_or(0) + served["warm"].as_u64().unwrap_or(0)
}

/// One 5-turn loop: its wall time and the timings of its five tool-result steps.
async fn run_loop(conn: &mut Conn, l: usize) -> (Duration, Vec<Timing>) {
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut messages = vec![json!({"role": "system", "content": REAL_SYSTEM})];
    let started = Instant::now();
    let mut result_steps = Vec::new();
    for turn in 1..=5 {
        messages.push(json!({"role": "user",
            "content": format!("loop {l} turn {turn}\nCALL get_weather {{\"city\":\"Oslo\"}}")}));
        let body =
            json!({"model": REAL_MODEL, "stream": true, "tools": tools, "messages": messages});
        let (_, text) = stream(conn, &body).await;
        let calls = calls_of(&text);
        assert!(
            !calls.is_empty(),
            "loop {l} turn {turn}: no tool call: {text}"
        );
        let id = calls[0]["id"].as_str().unwrap_or("").to_string();
        messages
            .push(json!({"role": "assistant", "content": content_of(&text), "tool_calls": calls}));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": "-3C"}));
        let body =
            json!({"model": REAL_MODEL, "stream": true, "tools": tools, "messages": messages});
        let (timing, text) = stream(conn, &body).await;
        result_steps.push(timing);
        messages.push(json!({"role": "assistant", "content": content_of(&text)}));
    }
    (started.elapsed(), result_steps)
}

/// A streamed chat request: the time to its first content or tool-call chunk and to
/// `[DONE]`, and the whole SSE text.
async fn stream(conn: &mut Conn, body: &Value) -> (Timing, String) {
    conn.stream_chat_text(body, &["\"delta\":{\"content\":\"", "\"tool_calls\""])
        .await
}

/// The chunks of an SSE text.
fn chunks(text: &str) -> impl Iterator<Item = Value> + '_ {
    text.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| serde_json::from_str(data).ok())
}

fn content_of(text: &str) -> String {
    chunks(text)
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// The streamed tool calls, assembled.
fn calls_of(text: &str) -> Vec<Value> {
    let mut calls: Vec<Value> = Vec::new();
    for chunk in chunks(text) {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let index = call["index"].as_u64().unwrap_or(0) as usize;
            if index == calls.len() {
                calls.push(json!({"id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}));
            }
            if let (Some(args), Some(slot)) =
                (call["function"]["arguments"].as_str(), calls.get_mut(index))
            {
                let so_far = slot["function"]["arguments"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                slot["function"]["arguments"] = json!(so_far + args);
            }
        }
    }
    calls
}

/// 36 function tools shaped like Open WebUI's built-ins (names, descriptions, parameters).
fn open_webui_tools() -> Value {
    let tools: Vec<Value> = (0..OPEN_WEBUI_TOOLS)
        .map(|i| {
            json!({"type": "function", "function": {
                "name": format!("builtin_tool_{i}"),
                "description": format!("Built-in tool number {i}: searches, fetches or stores something for the chat."),
                "parameters": {"type": "object", "properties": {
                    "query": {"type": "string", "description": "What to look for"},
                    "count": {"type": "integer", "description": "How many results"}},
                    "required": ["query"]}}})
        })
        .collect();
    Value::Array(tools)
}
