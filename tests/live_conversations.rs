//! Live conversations: after a turn the CLI process is kept (stdin open) and the
//! conversation's next turn is sent to it as one message — only when the request's history
//! is exactly that conversation plus the answer given. With the fake CLI: who serves which
//! turn, branches and edits starting cold, two requests for one conversation at once, the
//! bounds with many conversations and nothing left after shutdown. With the real CLI and the
//! mock: a 5-turn conversation sends upstream the same conversation through live processes
//! as through resumed sessions, and an edited turn never reaches the live process.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Daemon, DaemonOptions, descendants, eventually};

fn live(options: DaemonOptions, sessions: usize) -> DaemonOptions {
    options
        .env("CLAUDE_MAX_PROXY_LIVE_SESSIONS", &sessions.to_string())
        .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "8")
        .env("CLAUDE_MAX_PROXY_WARM_MEMORY_MB", "4096")
}

/// A chat body for `turns` (user, assistant, user, …; the last is the new user message).
fn conversation(turns: &[&str]) -> Value {
    let messages: Vec<Value> = turns
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": text})
        })
        .collect();
    json!({"model": "claude-opus-4", "messages": messages})
}

async fn answer(daemon: &Daemon, body: &Value) -> String {
    let response = daemon.post_chat(body).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body["choices"][0]["message"]["content"]
        .as_str()
        .expect("content")
        .to_string()
}

/// The fake's record of the process that served `text` as a later turn, if any.
fn live_record(daemon: &Daemon, text: &str) -> Option<Value> {
    daemon.fake_records().into_iter().find(|r| {
        r["turns"]
            .as_array()
            .is_some_and(|turns| turns.iter().skip(1).any(|t| t == text))
    })
}

/// Turns 2 and 3 go to the process that answered turn 1; it holds the whole conversation.
#[tokio::test]
async fn later_turns_go_to_the_process_that_holds_the_conversation() {
    let daemon = Daemon::start(live(DaemonOptions::fake(), 2)).await;
    let mut turns: Vec<String> = vec!["@fake:history I am Bob.".into()];
    for next in ["What is my name?", "And again?"] {
        let reply = answer(
            &daemon,
            &conversation(&turns.iter().map(String::as_str).collect::<Vec<_>>()),
        )
        .await;
        turns.push(reply);
        turns.push(next.into());
    }
    let last = answer(
        &daemon,
        &conversation(&turns.iter().map(String::as_str).collect::<Vec<_>>()),
    )
    .await;
    assert!(
        last.contains("user:I am Bob.|assistant:turns=user:I am Bob.")
            && last.ends_with("|user:And again?"),
        "the kept process answers from its memory of every turn: {last}"
    );
    let records = daemon.fake_records();
    assert_eq!(records.len(), 1, "one CLI process for three turns");
    assert_eq!(
        records[0]["turns"],
        json!(["I am Bob.", "What is my name?", "And again?"])
    );
    let health = daemon.health().await;
    assert_eq!(
        health["served"],
        json!({"cold": 1, "warm": 0, "live": 2}),
        "{health}"
    );
    assert_eq!(health["live_conversations"], 1);
    assert!(
        eventually(Duration::from_secs(3), || daemon
            .stderr()
            .contains("served=\"live\"")
            || daemon.stderr().contains("served=live"))
        .await
    );
}

/// An edited earlier turn, a different answer or a branch never reach the live process:
/// they start a new CLI that resumes the history from a session file.
#[tokio::test]
async fn an_edited_or_branched_history_starts_cold() {
    // Room for the conversation and both branches (each is kept once answered).
    let daemon = Daemon::start(live(DaemonOptions::fake(), 3)).await;
    let reply = answer(&daemon, &conversation(&["I am Bob."])).await;
    for history in [
        vec!["I am Rob.", reply.as_str(), "Who am I?"],
        vec!["I am Bob.", "Some other answer.", "Who am I?"],
    ] {
        answer(&daemon, &conversation(&history)).await;
    }
    assert!(
        live_record(&daemon, "Who am I?").is_none(),
        "no edited history reached the kept process"
    );
    let records = daemon.fake_records();
    assert_eq!(records.len(), 3, "each edit started its own CLI");
    assert!(
        records
            .iter()
            .filter(|r| r["resume_id"].is_string())
            .count()
            == 2,
        "the edits resumed their own history"
    );
    // The untouched conversation still continues live.
    answer(&daemon, &conversation(&["I am Bob.", &reply, "Still me?"])).await;
    assert!(live_record(&daemon, "Still me?").is_some());
}

/// Two requests continuing one conversation at once: one gets the kept process, the other
/// starts its own CLI; both are answered.
#[tokio::test]
async fn two_requests_for_one_conversation_do_not_share_the_process() {
    let daemon =
        Daemon::start(live(DaemonOptions::fake(), 2).env("FAKE_CLAUDE_DELTA_MS", "40")).await;
    let reply = answer(&daemon, &conversation(&["Hello."])).await;
    let next = conversation(&["Hello.", &reply, "Continue."]);
    let (a, b) = tokio::join!(answer(&daemon, &next), answer(&daemon, &next));
    assert_eq!(a, b);
    let health = daemon.health().await;
    assert_eq!(health["served"]["live"], 1, "{health}");
    assert_eq!(health["served"]["cold"], 2, "{health}");
}

/// Many conversations interleaved: never more kept processes than allowed (the oldest
/// goes), every turn answered, and after shutdown no process or run directory is left.
#[tokio::test]
async fn many_conversations_stay_within_the_bounds() {
    const CONVERSATIONS: usize = 50;
    const KEPT: usize = 3;
    let mut daemon = Daemon::start(live(DaemonOptions::fake(), KEPT)).await;
    let mut histories: Vec<Vec<String>> = (0..CONVERSATIONS)
        .map(|i| vec![format!("conversation {i}")])
        .collect();
    let mut most = 0;
    for round in 0..2 {
        for history in histories.iter_mut() {
            let turns: Vec<&str> = history.iter().map(String::as_str).collect();
            let reply = answer(&daemon, &conversation(&turns)).await;
            history.push(reply);
            history.push(format!("round {round}"));
            let health = daemon.health().await;
            let kept = health["live_conversations"].as_u64().expect("count") as usize;
            assert!(kept <= KEPT, "{kept} kept, at most {KEPT}: {health}");
            most = most.max(kept);
            // An evicted process is ended in the background: give it a moment.
            let pid = daemon.pid();
            assert!(
                eventually(Duration::from_secs(3), || descendants(pid).len() <= KEPT).await,
                "no more CLI processes than kept ones between requests"
            );
        }
    }
    assert_eq!(most, KEPT, "the bound is reached, not exceeded");
    // The last KEPT conversations are still kept: their next turn is live.
    let before = daemon.health().await["served"]["live"]
        .as_u64()
        .expect("live");
    let last = histories.last().expect("a conversation");
    answer(
        &daemon,
        &conversation(&last.iter().map(String::as_str).collect::<Vec<_>>()),
    )
    .await;
    let after = daemon.health().await["served"]["live"]
        .as_u64()
        .expect("live");
    assert_eq!(after, before + 1, "the newest conversation was kept");
    let pid = daemon.pid();
    let work_dir = daemon.work_dir.path().to_path_buf();
    let kept = descendants(pid);
    assert_eq!(kept.len(), KEPT, "the kept processes run until shutdown");
    // Ended by the shutdown itself, not by the parent-death signal at the daemon's exit.
    let status = daemon.terminate_ending(&kept).await;
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(5), || std::fs::read_dir(&work_dir)
            .map(|d| d.count() == 0)
            .unwrap_or(false))
        .await,
        "their run directories are removed"
    );
}

/// The CLI processes that served `daemon`'s conversations and are still running.
fn kept_pids(daemon: &Daemon) -> Vec<u32> {
    descendants(daemon.pid())
}

/// A kept process unused for `live_idle_secs` ends (and its slot is free); the
/// conversation's next turn then resumes it from a session file.
#[tokio::test]
async fn a_kept_process_ends_after_its_idle_time() {
    let daemon =
        Daemon::start(live(DaemonOptions::fake(), 2).env("CLAUDE_MAX_PROXY_LIVE_IDLE_SECS", "1"))
            .await;
    let reply = answer(&daemon, &conversation(&["Remember 7."])).await;
    assert_eq!(daemon.health().await["live_conversations"], 1);
    assert_eq!(kept_pids(&daemon).len(), 1, "the process is kept");
    assert!(
        eventually(Duration::from_secs(5), || kept_pids(&daemon).is_empty()).await,
        "the idle process ended"
    );
    assert_eq!(daemon.health().await["live_conversations"], 0);
    answer(&daemon, &conversation(&["Remember 7.", &reply, "Which?"])).await;
    let health = daemon.health().await;
    assert_eq!(
        health["served"],
        json!({"cold": 2, "warm": 0, "live": 0}),
        "{health}"
    );
    let records = daemon.fake_records();
    assert!(
        records[1]["resume_id"].is_string(),
        "the next turn resumed: {records:?}"
    );
}

/// A reload ends every kept process (its setup may be stale): none is left running, and the
/// conversation continues from a session file.
#[tokio::test]
async fn a_reload_ends_the_kept_processes() {
    let daemon = Daemon::start(live(DaemonOptions::fake(), 2)).await;
    let one = answer(&daemon, &conversation(&["First conversation."])).await;
    answer(&daemon, &conversation(&["Second conversation."])).await;
    assert_eq!(kept_pids(&daemon).len(), 2, "both processes are kept");
    support::send_signal(daemon.pid(), libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(5), || kept_pids(&daemon).is_empty()).await,
        "the kept processes ended on reload"
    );
    assert_eq!(daemon.health().await["live_conversations"], 0);
    answer(
        &daemon,
        &conversation(&["First conversation.", &one, "Go on."]),
    )
    .await;
    assert_eq!(daemon.health().await["served"]["live"], 0);
    // Still kept after the reload: the reloaded limits apply to new turns.
    assert_eq!(daemon.health().await["live_conversations"], 1);
}

/// A kept conversation holds no concurrency slot while it waits: with `max_concurrent = 2`,
/// a kept process and a request still running, a new conversation is served at once (not
/// queued, nothing ended), and the kept conversation's next turn then queues for a slot
/// like any request.
#[tokio::test]
async fn a_kept_process_holds_no_slot_while_it_waits() {
    let daemon = Daemon::start(
        DaemonOptions::fake()
            .env("CLAUDE_MAX_PROXY_LIVE_SESSIONS", "2")
            .env("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "2")
            .env("CLAUDE_MAX_PROXY_WARM_MEMORY_MB", "4096")
            .env("CLAUDE_MAX_PROXY_QUEUE_TIMEOUT_SECS", "20"),
    )
    .await;
    let first = answer(&daemon, &conversation(&["Keep me."])).await;
    let kept = kept_pids(&daemon);
    assert_eq!(kept.len(), 1, "the conversation is kept");
    let health = daemon.health().await;
    assert_eq!(
        health["slots_held"], 0,
        "a kept process holds no slot: {health}"
    );
    let hanging = tokio::spawn({
        let request = reqwest::Client::new()
            .post(daemon.url("/v1/chat/completions"))
            .json(&conversation(&["@fake:hang"]));
        async move { request.send().await }
    });
    assert!(
        eventually(Duration::from_secs(10), || kept_pids(&daemon).len() == 2).await,
        "the hanging request runs beside the kept process"
    );
    let reply = answer(&daemon, &conversation(&["A new conversation."])).await;
    assert!(!reply.is_empty());
    assert!(
        kept.iter().all(|pid| support::alive(*pid)),
        "the kept process was not ended for the new request"
    );
    let health = daemon.health().await;
    assert_eq!(health["queued"], 0, "{health}");
    assert_eq!(health["live_conversations"], 2, "{health}");
    assert_eq!(
        health["in_flight"], 1,
        "only the hanging request is being answered: {health}"
    );
    // The kept conversation's next turn is served by its process.
    answer(
        &daemon,
        &conversation(&["Keep me.", &first, "Still there?"]),
    )
    .await;
    hanging.abort();
    let health = daemon.health().await;
    assert_eq!(health["served"]["cold"], 3, "{health}");
    assert_eq!(health["served"]["live"], 1, "{health}");
}

/// Upstream, as the mock saw it: each message's role and its text blocks without the CLI's
/// own `<system-reminder>` blocks.
fn conversation_upstream(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or("").to_string();
            let text = match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(blocks) => blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            (role, text)
        })
        .filter(|(role, text)| role != "system" && !text.is_empty())
        .collect()
}

/// Runs a 5-turn conversation and returns what upstream saw for each turn.
async fn five_turns(
    daemon: &Daemon,
    mock: &support::mock_anthropic::MockAnthropic,
) -> Vec<Vec<(String, String)>> {
    let mut history: Vec<String> = vec!["turn one".into()];
    for i in 2..=5 {
        let turns: Vec<&str> = history.iter().map(String::as_str).collect();
        let reply = answer(daemon, &conversation(&turns)).await;
        history.push(reply);
        history.push(format!("turn {i}"));
    }
    let turns: Vec<&str> = history.iter().map(String::as_str).collect();
    answer(daemon, &conversation(&turns)).await;
    mock.message_requests()
        .iter()
        .map(|r| conversation_upstream(&r.body))
        .collect()
}

/// The real CLI: the same 5-turn conversation through live processes and through resumed
/// sessions sends upstream the same conversation each turn; an edited turn never reaches
/// the live process.
#[tokio::test]
async fn real_cli_live_turns_send_what_resumed_turns_send() {
    let Some((mock, daemon)) = support::real_cli_daemon_with(
        "",
        &[
            ("CLAUDE_MAX_PROXY_LIVE_SESSIONS", "2"),
            ("CLAUDE_MAX_PROXY_MAX_CONCURRENT", "8"),
            ("CLAUDE_MAX_PROXY_WARM_MEMORY_MB", "4096"),
        ],
    )
    .await
    else {
        return;
    };
    let through_live = five_turns(&daemon, &mock).await;
    let health = daemon.health().await;
    assert_eq!(health["served"]["live"], 4, "{health}");
    let Some((resume_mock, resume_daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    let through_resume = five_turns(&resume_daemon, &resume_mock).await;
    assert_eq!(
        resume_daemon.health().await["served"]["live"],
        0,
        "the second daemon resumes every turn"
    );
    // A resumed turn carries the first turn's environment reminder as a real resumed
    // session does (user, system, assistant, user, …), never an empty message.
    let resumed = &resume_mock.message_requests()[1].body["messages"];
    assert_eq!(resumed[0]["role"], "user");
    assert_eq!(resumed[1]["role"], "system", "{resumed}");
    assert!(
        resumed[1]["content"].to_string().contains("# Environment"),
        "{resumed}"
    );
    assert_eq!(resumed[2]["role"], "assistant");
    assert_eq!(through_live.len(), 5);
    assert_eq!(
        through_live, through_resume,
        "the same conversation upstream, turn by turn"
    );
    assert_eq!(through_live[4].len(), 9, "five user turns and four answers");

    // An edit of turn one: served cold, the kept process never sees it.
    let before = mock.message_requests().len();
    let reply = mock_reply_of(&through_live[0]);
    answer(&daemon, &conversation(&["turn ONE", &reply, "turn 2"])).await;
    assert_eq!(daemon.health().await["served"]["live"], 4);
    let edited = conversation_upstream(&mock.message_requests()[before].body);
    assert_eq!(edited[0].1, "turn ONE");
}

/// The mock's reply to the last user text of an upstream conversation.
fn mock_reply_of(upstream: &[(String, String)]) -> String {
    support::mock_anthropic::mock_reply(&upstream.last().expect("a turn").1)
}

/// The real CLI: a new conversation's request from a pre-started (primed) process sends
/// upstream what a cold process sends, and what `claude -p` with the text on stdin sends —
/// the same system prompt, tools and messages.
#[tokio::test]
async fn real_cli_warm_sends_what_cold_sends() {
    let Some((warm_mock, warm_daemon)) =
        support::real_cli_daemon_with("", &[("CLAUDE_MAX_PROXY_WARM", "1")]).await
    else {
        return;
    };
    let body = json!({"model": "claude-sonnet-4", "messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first"}]});
    answer(&warm_daemon, &body).await;
    let pid = warm_daemon.pid();
    assert!(
        eventually(Duration::from_secs(10), || descendants(pid).len() == 1).await,
        "a process is started ahead"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut second = body.clone();
    second["messages"][1]["content"] = json!("second");
    answer(&warm_daemon, &second).await;
    assert_eq!(warm_daemon.health().await["served"]["warm"], 1);
    let Some((cold_mock, cold_daemon)) = support::real_cli_daemon("").await else {
        return;
    };
    answer(&cold_daemon, &second).await;
    // And what `claude -p` sends with the same text on stdin (the daemon sends one
    // stream-json message instead).
    bare_claude_p(&cold_mock, "Be terse.", "second").await;
    let warm = &warm_mock.message_requests()[1].body;
    let cold = &cold_mock.message_requests()[0].body;
    let bare = &cold_mock.message_requests()[1].body;
    for other in [cold, bare] {
        for field in ["system", "tools", "model", "max_tokens", "thinking"] {
            assert_eq!(
                without_volatile(&warm[field]),
                without_volatile(&other[field]),
                "{field} differs"
            );
        }
        assert_eq!(
            without_volatile(&warm["messages"]),
            without_volatile(&other["messages"]),
            "the same messages"
        );
    }
}

/// Runs the real CLI as the daemon starts it but with the prompt as `-p` text on stdin, the
/// way a person runs it, against `mock`.
async fn bare_claude_p(mock: &support::mock_anthropic::MockAnthropic, system: &str, prompt: &str) {
    use claude_max_proxy::claude::command::{self, RunSpec};
    use tokio::io::AsyncWriteExt;
    let cli = support::real_claude().expect("the real CLI");
    let home = tempfile::tempdir().expect("home");
    let run_dir = tempfile::tempdir().expect("run dir");
    let cwd = run_dir.path().join("cwd");
    std::fs::create_dir(&cwd).expect("cwd");
    let system_file = run_dir.path().join("system-prompt.txt");
    std::fs::write(&system_file, system).expect("system prompt file");
    let spec = RunSpec {
        system_prompt_file: Some(&system_file),
        oauth_token: Some("test-oauth-token"),
        ..RunSpec::plain(&cli, "sonnet", &cwd)
    };
    let invocation = command::build(&spec, &[]);
    let mut child = tokio::process::Command::new(&invocation.program)
        .args(&invocation.args)
        .current_dir(&invocation.cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("ANTHROPIC_BASE_URL", mock.base_url())
        .envs(invocation.env_set.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the CLI");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(prompt.as_bytes()).await.expect("prompt");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("the CLI answered in time")
        .expect("wait");
    assert!(status.success());
}

/// `value` with what differs between any two runs blanked: the run's working directory
/// and the billing header's per-request hash.
fn without_volatile(value: &Value) -> Value {
    let mut text = value.to_string();
    while let Some(at) = text.find("/tmp/.tmp") {
        let end = text[at..]
            .find("/cwd")
            .map(|i| at + i + "/cwd".len())
            .unwrap_or(text.len());
        text.replace_range(at..end, "<cwd>");
    }
    let mut out = String::with_capacity(text.len());
    for piece in text.split("cch=") {
        if out.is_empty() && !text.starts_with("cch=") {
            out.push_str(piece);
            continue;
        }
        out.push_str("cch=");
        out.push_str(piece.trim_start_matches(|c: char| c.is_ascii_alphanumeric()));
    }
    serde_json::from_str(&out).unwrap_or(Value::String(out))
}
