//! Command-line flags and environment (`AI_PROXY_URL`, `AI_PROXY_KEY`), parsed by hand to
//! keep the static binary small. Only validates what the user typed; the URL itself is parsed
//! by the first stage so that a bad one gets a diagnosis like any other failure.

use std::time::Duration;

use crate::api::Api;

/// The help text (`--help`).
pub const USAGE: &str = "\
ai-proxy-check: can this container reach claude-max-proxy on the host?

Usage: ai-proxy-check [OPTIONS]

Runs, one line each with its timing: parse the URL, resolve the host, TCP connect,
GET /health, GET /v1/models and, with --chat or --api, a short streamed request.
On a failure it prints the likely cause and the exact fix, and exits with the stage's code.

Options:
      --url <URL>          the proxy [default: $AI_PROXY_URL], e.g. http://host.docker.internal:3456
      --chat               also stream a short answer and time its first token
      --api <API>          the API that request uses (implies --chat) [default: chat]:
                             chat       POST /v1/chat/completions (OpenAI clients)
                             messages   POST /v1/messages with x-api-key and
                                        anthropic-version (Anthropic clients, Claude Code)
                             responses  POST /v1/responses (OpenAI Responses API)
      --model <ID>         model for --chat [default: haiku if listed, else the first listed]
      --prompt <TEXT>      prompt for --chat [default: \"Reply with the single word: pong\"]
      --wait <DURATION>    retry until everything passes or DURATION is over (e.g. 30s, 2m)
      --timeout <DURATION> limit for each network step [default: 5s]
      --chat-timeout <DURATION>  limit for the whole answer [default: 60s]
      --json               print one JSON object instead of lines
  -q, --quiet              print nothing on success, only the failure
  -h, --help               print this help
  -V, --version            print the version

Environment:
  AI_PROXY_URL   the proxy's base URL (an OpenAI base URL ending in /v1 works too)
  AI_PROXY_KEY   sent as `Authorization: Bearer <key>` when the proxy has an api_key
                 (the --api messages request sends it as `x-api-key: <key>` instead, as
                 Anthropic clients do)
  AI_PROXY_CHECK_CONTAINER  `none` (on the host) or `docker`/`podman`: overrides the guess
                 of where this runs, which decides some diagnoses

Exit codes:
   0  every stage passed
   1  internal error (the runtime could not start)
   2  bad command-line flags
   3  url: AI_PROXY_URL missing or invalid
   4  resolve: the host name does not resolve
   5  connect: connection refused or unreachable
   6  connect: timed out (usually a host firewall)
   7  health: /health failed, or the daemon reported a problem
   8  auth: the proxy rejected AI_PROXY_KEY (401/403)
   9  models: /v1/models failed
  10  chat: the streamed request (--chat / --api) failed
";

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Options),
    Help,
    Version,
}

/// The checks' settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `--url`, else `AI_PROXY_URL`; `None` fails the URL stage.
    pub url: Option<String>,
    /// `AI_PROXY_KEY` (never a flag: argv shows in `ps`); empty counts as unset.
    pub key: Option<String>,
    /// Whether to send the streamed request (`--chat`, or any `--api`).
    pub chat: bool,
    /// The API that request uses.
    pub api: Api,
    pub model: Option<String>,
    pub prompt: String,
    /// Retry until this much time has passed.
    pub wait: Option<Duration>,
    /// Limit for resolve, connect and each HTTP exchange but the completion.
    pub timeout: Duration,
    /// Limit for the whole streaming completion.
    pub chat_timeout: Duration,
    pub json: bool,
    pub quiet: bool,
}

const DEFAULT_PROMPT: &str = "Reply with the single word: pong";

/// Parses `args` (without the program name); `env` looks up environment variables.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut options = Options {
        url: env("AI_PROXY_URL").filter(|v| !v.trim().is_empty()),
        key: env("AI_PROXY_KEY")
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty()),
        chat: false,
        api: Api::Chat,
        model: None,
        prompt: DEFAULT_PROMPT.to_string(),
        wait: None,
        timeout: Duration::from_secs(5),
        chat_timeout: Duration::from_secs(60),
        json: false,
        quiet: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--url" => options.url = Some(value("--url")?),
            "--chat" => options.chat = true,
            "--api" => {
                options.api = Api::parse(&value("--api")?)?;
                options.chat = true;
            }
            "--model" => options.model = Some(value("--model")?),
            "--prompt" => options.prompt = value("--prompt")?,
            "--wait" => options.wait = Some(duration("--wait", &value("--wait")?)?),
            "--timeout" => options.timeout = positive("--timeout", &value("--timeout")?)?,
            "--chat-timeout" => {
                options.chat_timeout = positive("--chat-timeout", &value("--chat-timeout")?)?
            }
            "--json" => options.json = true,
            "-q" | "--quiet" => options.quiet = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (see --help; the key is read from AI_PROXY_KEY only)"
                ));
            }
        }
    }
    Ok(Command::Run(options))
}

/// A duration that must be above zero.
fn positive(flag: &str, text: &str) -> Result<Duration, String> {
    let d = duration(flag, text)?;
    if d.is_zero() {
        return Err(format!("{flag} must be more than 0"));
    }
    Ok(d)
}

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds (fractions allowed).
pub fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    let value = number.parse::<f64>().map(|n| n * scale);
    match value {
        Ok(secs) if secs.is_finite() && (0.0..=86_400.0 * 7.0).contains(&secs) => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "{flag}: `{text}` is not a duration such as 500ms, 30s, 2m or 1h"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(|s| s.to_string()), move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn options(args: &[&str], env: &[(&str, &str)]) -> Options {
        match run(args, env).unwrap() {
            Command::Run(o) => o,
            other => panic!("expected options, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_environment() {
        let o = options(
            &[],
            &[("AI_PROXY_URL", "http://h:1"), ("AI_PROXY_KEY", " k ")],
        );
        assert_eq!(o.url.as_deref(), Some("http://h:1"));
        assert_eq!(o.key.as_deref(), Some("k"));
        assert!(!o.chat && !o.json && !o.quiet && o.wait.is_none());
        let o = options(&[], &[("AI_PROXY_URL", " "), ("AI_PROXY_KEY", "")]);
        assert_eq!((o.url, o.key), (None, None));
    }

    #[test]
    fn flags_win_and_take_values_both_ways() {
        let o = options(
            &[
                "--url=http://x:2",
                "--chat",
                "--model",
                "sonnet",
                "--wait",
                "30s",
                "--timeout=1.5",
                "--json",
                "-q",
            ],
            &[("AI_PROXY_URL", "http://h:1")],
        );
        assert_eq!(o.url.as_deref(), Some("http://x:2"));
        assert!(o.chat && o.json && o.quiet);
        assert_eq!(o.model.as_deref(), Some("sonnet"));
        assert_eq!(o.wait, Some(Duration::from_secs(30)));
        assert_eq!(o.timeout, Duration::from_millis(1500));
        assert_eq!(o.api, Api::Chat);
    }

    #[test]
    fn api_picks_the_request_and_implies_chat() {
        let o = options(&["--api", "messages"], &[]);
        assert!(o.chat);
        assert_eq!(o.api, Api::Messages);
        let o = options(&["--api=responses"], &[]);
        assert_eq!((o.chat, o.api), (true, Api::Responses));
        assert!(
            run(&["--api", "grpc"], &[])
                .unwrap_err()
                .contains("chat, messages or responses")
        );
        assert!(run(&["--api"], &[]).unwrap_err().contains("needs a value"));
    }

    #[test]
    fn help_version_and_errors() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
        assert_eq!(run(&["-V"], &[]), Ok(Command::Version));
        assert!(
            run(&["--key", "x"], &[])
                .unwrap_err()
                .contains("AI_PROXY_KEY")
        );
        assert!(run(&["--wait"], &[]).unwrap_err().contains("needs a value"));
        assert!(
            run(&["--timeout", "0s"], &[])
                .unwrap_err()
                .contains("more than 0")
        );
        assert!(
            run(&["--wait", "soon"], &[])
                .unwrap_err()
                .contains("duration")
        );
    }

    #[test]
    fn durations() {
        let d = |t| duration("--wait", t);
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(d("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(d("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(d("7"), Ok(Duration::from_secs(7)));
        assert_eq!(d("0"), Ok(Duration::ZERO));
        assert!(d("-1s").is_err());
        assert!(d("1d").is_err());
        assert!(d("").is_err());
        assert!(d("1e9").is_err());
    }
}
