//! The three APIs' request parsers do work linear in the body (issue 20): for each shape a
//! client can grow — tools, tool calls with their results, messages, content parts — the
//! parse of a body 8× larger costs about 8× as much, not 64× (the duplicate-name checks and
//! call-id lookups used to scan everything before them).
//!
//! Measured as the parsing thread's CPU time (the best of several runs, so other load on
//! the machine does not count), compared per byte with a generous bound: linear work gives
//! a ratio near 1, quadratic work near 8; the test fails above 3. Bounded: every body is
//! within the request limits (at most 512 tools, 10,000 tool calls, 200,000 JSON values).

use claude_max_proxy::conversation::ApiError;

/// Which parser.
#[derive(Clone, Copy, Debug)]
enum Api {
    Chat,
    Messages,
    Responses,
}

impl Api {
    fn parse(self, body: &[u8]) -> Result<(), ApiError> {
        match self {
            Api::Chat => claude_max_proxy::api::chat::parse_chat_request(body).map(drop),
            Api::Messages => {
                claude_max_proxy::api::messages::parse_messages_request(body).map(drop)
            }
            Api::Responses => {
                claude_max_proxy::api::responses::parse_responses_request(body, |_| None).map(drop)
            }
        }
    }
}

/// What grows.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `n` tools.
    Tools,
    /// `n` tool calls of the assistant, each answered by a tool result.
    CallsAndResults,
    /// `n` user/assistant message pairs.
    Messages,
    /// `n` text parts in one user message.
    Parts,
}

/// A valid body of `api` growing in `shape` to `n`.
fn body(api: Api, shape: Shape, n: usize) -> String {
    let join = |f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(",");
    let (tools, input): (String, String) = match (api, shape) {
        (Api::Chat, Shape::Tools) => (
            join(&|i| format!(r#"{{"type":"function","function":{{"name":"f{i}"}}}}"#)),
            r#"{"role":"user","content":"hi"}"#.into(),
        ),
        (Api::Messages, Shape::Tools) => (
            join(&|i| format!(r#"{{"name":"f{i}","input_schema":{{"type":"object"}}}}"#)),
            r#"{"role":"user","content":"hi"}"#.into(),
        ),
        (Api::Responses, Shape::Tools) => (
            join(&|i| format!(r#"{{"type":"function","name":"f{i}"}}"#)),
            r#"{"role":"user","content":"hi"}"#.into(),
        ),
        (Api::Chat, Shape::CallsAndResults) => {
            let calls = join(&|i| {
                format!(
                    r#"{{"id":"call_{i}","type":"function","function":{{"name":"f","arguments":"{{}}"}}}}"#
                )
            });
            let results =
                join(&|i| format!(r#"{{"role":"tool","tool_call_id":"call_{i}","content":"r"}}"#));
            (
                String::new(),
                format!(
                    r#"{{"role":"user","content":"go"}},{{"role":"assistant","tool_calls":[{calls}]}},{results}"#
                ),
            )
        }
        (Api::Messages, Shape::CallsAndResults) => {
            let calls = join(&|i| {
                format!(r#"{{"type":"tool_use","id":"toolu_{i}","name":"f","input":{{}}}}"#)
            });
            let results = join(&|i| {
                format!(r#"{{"type":"tool_result","tool_use_id":"toolu_{i}","content":"r"}}"#)
            });
            (
                String::new(),
                format!(
                    r#"{{"role":"user","content":"go"}},{{"role":"assistant","content":[{calls}]}},{{"role":"user","content":[{results}]}}"#
                ),
            )
        }
        (Api::Responses, Shape::CallsAndResults) => {
            let calls = join(&|i| {
                format!(
                    r#"{{"type":"function_call","call_id":"call_{i}","name":"f","arguments":"{{}}"}}"#
                )
            });
            let results = join(&|i| {
                format!(r#"{{"type":"function_call_output","call_id":"call_{i}","output":"r"}}"#)
            });
            (
                String::new(),
                format!(r#"{{"role":"user","content":"go"}},{calls},{results}"#),
            )
        }
        (_, Shape::Messages) => (
            String::new(),
            format!(
                "{},{}",
                join(&|i| format!(
                    r#"{{"role":"user","content":"q{i}"}},{{"role":"assistant","content":"a{i}"}}"#
                )),
                r#"{"role":"user","content":"last"}"#
            ),
        ),
        (api, Shape::Parts) => {
            let kind = match api {
                Api::Responses => "input_text",
                _ => "text",
            };
            let parts = join(&|i| format!(r#"{{"type":"{kind}","text":"p{i}"}}"#));
            (
                String::new(),
                format!(r#"{{"role":"user","content":[{parts}]}}"#),
            )
        }
    };
    let tools = if tools.is_empty() {
        String::new()
    } else {
        format!(r#","tools":[{tools}]"#)
    };
    match api {
        Api::Chat => format!(r#"{{"model":"m","messages":[{input}]{tools}}}"#),
        Api::Messages => {
            format!(r#"{{"model":"m","max_tokens":5,"messages":[{input}]{tools}}}"#)
        }
        Api::Responses => format!(r#"{{"model":"m","input":[{input}]{tools}}}"#),
    }
}

/// The calling thread's CPU time.
fn thread_cpu() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    assert!(ok, "no thread CPU clock");
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The least CPU time of `runs` parses of `body` (which must succeed).
fn best_parse(api: Api, body: &str, runs: usize) -> f64 {
    (0..runs)
        .map(|_| {
            let started = thread_cpu();
            let parsed = api.parse(body.as_bytes());
            let spent = thread_cpu() - started;
            if let Err(error) = parsed {
                panic!("{api:?}: {}", error.message);
            }
            spent.as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// How many parses the best time is taken of.
const RUNS: usize = 5;
/// Per-byte cost at 8n over per-byte cost at n, above which the work is not linear.
const MAX_RATIO: f64 = 3.0;

/// For every API and every shape, parse cost per byte stays flat from n to 8n.
#[test]
fn parse_work_grows_linearly_with_the_body() {
    let shapes = [
        (Shape::Tools, 64),
        (Shape::CallsAndResults, 1_250),
        (Shape::Messages, 1_250),
        (Shape::Parts, 5_000),
    ];
    let mut report = Vec::new();
    for api in [Api::Chat, Api::Messages, Api::Responses] {
        for (shape, n) in shapes {
            let small = body(api, shape, n);
            let large = body(api, shape, 8 * n);
            let per_byte = |body: &str| best_parse(api, body, RUNS) / body.len() as f64;
            let ratio = per_byte(&large) / per_byte(&small);
            report.push(format!(
                "{api:?} {shape:?} n={n}: {} → {} bytes, per-byte ratio {ratio:.2}",
                small.len(),
                large.len()
            ));
            assert!(
                ratio < MAX_RATIO,
                "{api:?} {shape:?}: the parse of a body 8× larger costs {ratio:.1}× more per byte\n{}",
                report.join("\n")
            );
        }
    }
    println!("{}", report.join("\n"));
}
