#!/usr/bin/env bash
# CI check of packaging/install.sh: runs it in a throwaway HOME with a fake `systemctl`
# that records its arguments, twice (it must be idempotent), then with --no-service.
# Checks the binaries in ~/.local/bin, the unit in ~/.config/systemd/user/ and the
# systemctl calls. Reuses target/release from packaging/test-deb.sh when present.
#
#   packaging/test-install.sh    (invoked by .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { printf 'test-install.sh: FAIL: %s\n' "$*" >&2; exit 1; }

# cargo and rustup must keep finding their homes when HOME moves.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/fakebin"
cat > "$work/fakebin/systemctl" <<'FAKE'
#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
case "$2" in
  is-active) echo inactive; exit 3 ;;
esac
FAKE
chmod 755 "$work/fakebin/systemctl"

run_install() {
  env HOME="$work/home" USER=ci PATH="$work/fakebin:$PATH" \
    FAKE_SYSTEMCTL_LOG="$work/systemctl.log" packaging/install.sh "$@"
}

bin="$work/home/.local/bin"
unit="$work/home/.config/systemd/user/claude-max-proxy.service"
for round in 1 2; do
  echo "-- packaging/install.sh (round $round)"
  run_install
  [ -x "$bin/claude-max-proxy" ] || fail "$bin/claude-max-proxy is missing"
  [ -x "$bin/ai-proxy-check" ] || fail "$bin/ai-proxy-check is missing"
  grep -qx "ExecStart=$bin/claude-max-proxy" "$unit" || fail "$unit does not start $bin/claude-max-proxy"
  grep -qx -- "--user daemon-reload" "$work/systemctl.log" || fail "no systemctl --user daemon-reload"
  grep -qx -- "--user enable --now claude-max-proxy.service" "$work/systemctl.log" \
    || fail "no systemctl --user enable --now"
  rm -f "$work/systemctl.log"
done
[ -z "$(find "$bin" -name '.*.new.*')" ] || fail "install.sh left staging files in $bin"

echo "-- packaging/install.sh --no-service"
run_install --no-service
[ ! -e "$work/systemctl.log" ] || fail "--no-service still ran systemctl: $(cat "$work/systemctl.log")"
"$bin/claude-max-proxy" --version
echo "install.sh test passed"
