//! Filling in the service templates: the systemd user unit (`systemd/`) and the launchd
//! agent (`launchd/`), both embedded in the binary with `include_str!`.
//!
//! Pure functions without I/O, so both platforms' files are rendered and tested on any host.
//! Quoting is this module's job: ExecStart arguments and `Environment=` values follow
//! systemd's rules (quotes, backslashes, `%` specifiers, `$` expansion), plist strings are
//! XML-escaped. Where the files go and which commands load them is `linux`/`macos`'s job.

use std::path::Path;

/// The systemd user unit template.
pub const SYSTEMD_TEMPLATE: &str = include_str!("../../systemd/claude-max-proxy.service");

/// The launchd agent template.
pub const LAUNCHD_TEMPLATE: &str = include_str!("../../launchd/io.github.claude-max-proxy.plist");

/// The systemd unit's name.
pub const UNIT_NAME: &str = "claude-max-proxy.service";

/// The launchd job label (also the plist's file name without `.plist`).
pub const LAUNCHD_LABEL: &str = "io.github.claude-max-proxy";

/// Where the Debian package installs the binary; the packaged unit starts it from there.
pub const PACKAGED_EXE: &str = "/usr/bin/claude-max-proxy";

/// PATH of the packaged unit, which cannot know the user's shell PATH: the places the
/// claude CLI's installers use (`%h` is the user's home), then the system directories.
pub const PACKAGED_PATH: &str = "%h/.local/bin:%h/.claude/local:%h/.npm-global/bin:%h/.bun/bin:\
                                 /usr/local/bin:/usr/bin:/bin";

/// A value that cannot be put into a service file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RenderError {}

/// The systemd unit that runs `argv` (absolute program path first) with `path` as PATH.
pub fn systemd_unit(argv: &[String], path: &str) -> Result<String, RenderError> {
    check_line("PATH", path)?;
    let path_env = format!("\"PATH={}\"", systemd_quoted_body(&path.replace('%', "%%")));
    systemd_unit_with_path_env(argv, &path_env)
}

/// The unit shipped by the Debian package: `/usr/bin/claude-max-proxy`, a PATH built from
/// systemd's `%h` specifier.
pub fn packaged_systemd_unit() -> Result<String, RenderError> {
    systemd_unit_with_path_env(
        &[PACKAGED_EXE.to_string()],
        &format!("\"PATH={PACKAGED_PATH}\""),
    )
}

fn systemd_unit_with_path_env(argv: &[String], path_env: &str) -> Result<String, RenderError> {
    let Some(program) = argv.first() else {
        return Err(RenderError("the service needs a program to run".into()));
    };
    if !Path::new(program).is_absolute() {
        return Err(RenderError(format!(
            "systemd needs an absolute program path, not `{program}`"
        )));
    }
    if program.contains('$') {
        // systemd takes the program path literally but expands `$` in argv[0]: no escaping
        // is right for both.
        return Err(RenderError(format!(
            "systemd cannot run a program whose path holds `$`: {program}; install the binary \
             under a plain path (packaging/install.sh uses ~/.local/bin)"
        )));
    }
    let mut words = Vec::with_capacity(argv.len());
    for arg in argv {
        check_line("ExecStart", arg)?;
        words.push(systemd_exec_word(arg));
    }
    fill(
        SYSTEMD_TEMPLATE,
        &[("exec_start", &words.join(" ")), ("path_env", path_env)],
    )
}

/// The launchd plist that runs `argv`, logging to `log_path`, with `path` as PATH.
pub fn launchd_plist(
    argv: &[String],
    home: &Path,
    log_path: &Path,
    path: &str,
) -> Result<String, RenderError> {
    if argv.is_empty() {
        return Err(RenderError("the service needs a program to run".into()));
    }
    let program_arguments: Vec<String> = argv
        .iter()
        .map(|a| format!("        <string>{}</string>", xml_escape(a)))
        .collect();
    fill(
        LAUNCHD_TEMPLATE,
        &[
            ("label", &xml_escape(LAUNCHD_LABEL)),
            ("program_arguments", &program_arguments.join("\n")),
            ("home", &xml_escape(&home.display().to_string())),
            ("log_path", &xml_escape(&log_path.display().to_string())),
            ("path", &xml_escape(path)),
        ],
    )
}

/// Replaces every `{{key}}`; a placeholder left over is an error (a template out of step
/// with this code), never a silently broken file.
fn fill(template: &str, values: &[(&str, &str)]) -> Result<String, RenderError> {
    let mut out = template.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    if let Some(start) = out.find("{{") {
        let rest = &out[start..];
        let end = rest.find("}}").map(|i| i + 2).unwrap_or(rest.len().min(40));
        return Err(RenderError(format!(
            "the template still holds the placeholder `{}` after rendering",
            &rest[..end]
        )));
    }
    Ok(out)
}

/// Unit files are line-based: a line break or NUL in a value would end or corrupt it.
fn check_line(what: &str, value: &str) -> Result<(), RenderError> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(RenderError(format!(
            "{what} value {value:?} holds a line break or NUL, which a unit file cannot carry; \
             install the binary (and the config file) under a plain path"
        )));
    }
    Ok(())
}

/// One ExecStart word: bare when it holds only plain characters, else double-quoted with
/// C-style escapes. `%` (specifiers) and `$` (variable expansion in arguments) are doubled
/// in both cases.
fn systemd_exec_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+,:@=-".contains(c));
    let escaped = arg.replace('%', "%%").replace('$', "$$");
    if plain {
        escaped
    } else {
        format!("\"{}\"", systemd_quoted_body(&escaped))
    }
}

/// The inside of a double-quoted unit value: backslashes and quotes escaped (specifiers
/// are the caller's business).
fn systemd_quoted_body(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Escapes text for an XML element.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unit_has_the_daemon_settings_and_no_placeholder() {
        let unit = systemd_unit(
            &argv(&["/home/u/.local/bin/claude-max-proxy"]),
            "/home/u/.local/bin:/usr/bin",
        )
        .unwrap();
        for line in [
            "Type=notify",
            "NotifyAccess=main",
            "WatchdogSec=30",
            "Restart=on-failure",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "ExecStart=/home/u/.local/bin/claude-max-proxy\n",
            "Environment=\"PATH=/home/u/.local/bin:/usr/bin\"",
            "KillMode=mixed",
            "NoNewPrivileges=yes",
            "WantedBy=default.target",
        ] {
            assert!(unit.contains(line), "missing {line:?} in\n{unit}");
        }
        assert!(!unit.contains("{{"));
    }

    #[test]
    fn exec_words_are_quoted_and_escaped() {
        assert_eq!(systemd_exec_word("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(systemd_exec_word("/a b/x"), "\"/a b/x\"");
        assert_eq!(systemd_exec_word("/a%b"), "\"/a%%b\"");
        assert_eq!(systemd_exec_word("/a$b"), "\"/a$$b\"");
        assert_eq!(systemd_exec_word("/a\"b\\c"), "\"/a\\\"b\\\\c\"");
        let unit = systemd_unit(
            &argv(&["/opt/my tools/claude-max-proxy", "--config", "/x/c.toml"]),
            "/bin",
        )
        .unwrap();
        assert!(
            unit.contains("ExecStart=\"/opt/my tools/claude-max-proxy\" --config /x/c.toml\n"),
            "{unit}"
        );
    }

    #[test]
    fn path_percent_is_escaped_but_packaged_specifiers_are_kept() {
        let unit = systemd_unit(&argv(&["/bin/x"]), "/odd%dir:/bin").unwrap();
        assert!(
            unit.contains("Environment=\"PATH=/odd%%dir:/bin\""),
            "{unit}"
        );
        let packaged = packaged_systemd_unit().unwrap();
        assert!(packaged.contains("ExecStart=/usr/bin/claude-max-proxy\n"));
        assert!(packaged.contains("\"PATH=%h/.local/bin:"), "{packaged}");
    }

    #[test]
    fn line_breaks_and_relative_programs_are_refused() {
        let err = systemd_unit(&argv(&["/bin/x\nExecStartPre=/bin/evil"]), "/bin").unwrap_err();
        assert!(err.0.contains("line break"), "{err}");
        let err = systemd_unit(&argv(&["claude-max-proxy"]), "/bin").unwrap_err();
        assert!(err.0.contains("absolute"), "{err}");
        let err = systemd_unit(&argv(&["/a$b/claude-max-proxy"]), "/bin").unwrap_err();
        assert!(err.0.contains("`$`"), "{err}");
        assert!(systemd_unit(&[], "/bin").is_err());
    }

    #[test]
    fn plist_escapes_values() {
        let plist = launchd_plist(
            &argv(&[
                "/Users/a&b/bin/claude-max-proxy",
                "--config",
                "/Users/a&b/c.toml",
            ]),
            Path::new("/Users/a&b"),
            Path::new("/Users/a&b/Library/Logs/claude-max-proxy.log"),
            "/usr/bin:/bin",
        )
        .unwrap();
        assert!(plist.contains("<string>/Users/a&amp;b/bin/claude-max-proxy</string>"));
        assert!(plist.contains("<string>io.github.claude-max-proxy</string>"));
        assert!(!plist.contains("{{"));
    }

    #[test]
    fn leftover_placeholders_are_errors() {
        let err = fill("a {{x}} b {{y}}", &[("x", "1")]).unwrap_err();
        assert!(err.0.contains("{{y}}"), "{err}");
    }

    /// The Debian package ships `packaging/deb/claude-max-proxy.service`, a rendering of the
    /// template; it must not drift. `UPDATE_PACKAGED_UNIT=1 cargo test --lib` rewrites it.
    #[test]
    fn packaged_unit_file_is_current() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/claude-max-proxy.service");
        let rendered = packaged_systemd_unit().unwrap();
        if std::env::var_os("UPDATE_PACKAGED_UNIT").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "{} is out of date with systemd/claude-max-proxy.service: run \
             `UPDATE_PACKAGED_UNIT=1 cargo test --lib service::render` and commit the result",
            path.display()
        );
    }
}
