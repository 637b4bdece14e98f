#!/usr/bin/env bash
# CI check of the Debian package: build it with cargo-deb, install it with dpkg, and run
# what it installed: `--version`, `config show`, `systemd-analyze verify` of the packaged
# user unit, the daemon on a free port answering GET /health (and ai-proxy-check against
# it), `doctor` against that daemon, a clean SIGTERM; then remove the package.
#
#   packaging/test-deb.sh        (invoked by .ci/run; needs root or sudo for dpkg)
#
# It installs, then removes, the package claude-max-proxy on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n-- %s\n' "$*"; }
fail() { printf 'test-deb.sh: FAIL: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

if ! command -v cargo-deb >/dev/null 2>&1; then
  say "installing cargo-deb (cargo install cargo-deb --locked)"
  cargo install cargo-deb --locked --version 3.8.0
fi

say "cargo deb"
deb=$(cargo deb --locked | tail -n 1)
[ -f "$deb" ] || fail "cargo deb did not print the package path (got: $deb)"
echo "$deb"
dpkg-deb --info "$deb" | sed -n '1,/Description/p'

work=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; fi
  $SUDO dpkg -r claude-max-proxy >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "dpkg -i"
$SUDO dpkg -i "$deb"
for path in /usr/bin/claude-max-proxy /usr/bin/ai-proxy-check \
            /usr/lib/systemd/user/claude-max-proxy.service \
            /usr/share/doc/claude-max-proxy/README.md; do
  dpkg -L claude-max-proxy | grep -qx "$path" || fail "the package does not install $path"
done

# The installed binaries run in a throwaway HOME with a minimal environment.
mkdir -p "$work/home" "$work/runtime"
chmod 700 "$work/runtime"
cat > "$work/claude" <<'EOF'
#!/bin/sh
# Stand-in claude CLI: answers like CLI 2.1.332 when logged in.
case "$1" in
  --version) echo '2.1.332 (Claude Code)' ;;
  auth) echo '{"loggedIn": true, "authMethod": "claude.ai"}' ;;
  *) exit 1 ;;
esac
EOF
chmod 755 "$work/claude"
clean_env=(env -i HOME="$work/home" PATH=/usr/bin:/bin USER=ci
           CLAUDE_MAX_PROXY_CLI_PATH="$work/claude")
run() { "${clean_env[@]}" "$@"; }

say "claude-max-proxy --version"
version=$(run /usr/bin/claude-max-proxy --version)
echo "$version"
expected=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ "$version" = "claude-max-proxy $expected" ] || fail "--version said '$version', expected $expected"
run /usr/bin/ai-proxy-check --version

say "claude-max-proxy config show"
run /usr/bin/claude-max-proxy config show | tee "$work/config-show"
grep -q '^port = 3456' "$work/config-show" || fail "config show lacks the default port"

say "systemd-analyze --user verify (the packaged unit)"
if command -v systemd-analyze >/dev/null 2>&1; then
  XDG_RUNTIME_DIR="$work/runtime" systemd-analyze --user verify \
    /usr/lib/systemd/user/claude-max-proxy.service 2>"$work/verify" \
    || { cat "$work/verify" >&2; fail "systemd-analyze verify failed"; }
  [ ! -s "$work/verify" ] || { cat "$work/verify" >&2; fail "systemd-analyze verify warned"; }
  echo "verified"
else
  fail "systemd-analyze is missing (apt-get install -y systemd; .ci/run installs it)"
fi

say "serve on a free port, GET /health"
# Started directly (not through a shell function), so $! is the daemon itself: env execs it.
"${clean_env[@]}" /usr/bin/claude-max-proxy --port 0 --listen 127.0.0.1 >"$work/out" 2>"$work/err" &
daemon_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^Server running on //p' "$work/out" | head -n 1)
  [ -n "$url" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/err" >&2; fail "the daemon exited at start"; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/err" >&2; fail "the daemon printed no address within 10 s"; }
health=$(curl -fsS "$url/health") || fail "GET $url/health failed"
echo "$health"
case "$health" in
  *'"backend":"claude-cli"'*) ;;
  *) fail "/health is not claude-max-proxy's" ;;
esac

say "ai-proxy-check against it"
run env AI_PROXY_CHECK_CONTAINER=none /usr/bin/ai-proxy-check --url "$url" \
  || fail "ai-proxy-check failed against $url"

say "claude-max-proxy doctor"
port=${url##*:}
run /usr/bin/claude-max-proxy --port "$port" --listen 127.0.0.1 doctor | tee "$work/doctor" \
  || fail "doctor found a failure"
grep -q "^OK    listener 127.0.0.1:$port: claude-max-proxy $expected answers /health" "$work/doctor" \
  || fail "doctor did not see the running daemon"

say "SIGTERM"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=""
[ "$status" = 0 ] || { cat "$work/err" >&2; fail "the daemon exited with $status after SIGTERM"; }

say "dpkg -r"
$SUDO dpkg -r claude-max-proxy
[ ! -e /usr/bin/claude-max-proxy ] || fail "dpkg -r left /usr/bin/claude-max-proxy"
echo "package test passed"
