#!/usr/bin/env bash
# One-command install from this source checkout:
#
#   packaging/install.sh                 build the release binaries, install claude-max-proxy
#                                        and ai-proxy-check into ~/.local/bin, then run
#                                        `claude-max-proxy service install` (systemd user unit
#                                        on Linux, launchd agent on macOS)
#   packaging/install.sh --no-service    the binaries only
#   packaging/install.sh --bin-dir DIR   install somewhere else than ~/.local/bin
#
# Safe to run again (that is how to upgrade): each binary is replaced by a rename, so a
# running daemon is not disturbed, and `service install` restarts a running service on the
# new binary. Needs Rust (cargo) and, for the service, a systemd user session or macOS.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

bin_dir="$HOME/.local/bin"
service=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-service) service=0 ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; bin_dir=$2; shift ;;
    --bin-dir=*) bin_dir=${1#--bin-dir=} ;;
    -h|--help) usage; exit 0 ;;
    *) printf 'install.sh: unknown option %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "$0")/.."

command -v cargo >/dev/null 2>&1 \
  || die "cargo was not found. Install Rust with: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh
then open a new shell (or: . \"\$HOME/.cargo/env\") and run packaging/install.sh again."

say "building the release binaries (cargo build --release --locked --workspace --bins)"
cargo build --release --locked --workspace --bins

target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$bin_dir" || die "cannot create $bin_dir; pick another place with --bin-dir DIR"
for name in claude-max-proxy ai-proxy-check; do
  built="$target_dir/release/$name"
  [ -x "$built" ] || die "$built was not built; the cargo output above says why"
  staged="$bin_dir/.$name.new.$$"
  install -m 0755 "$built" "$staged"
  mv -f "$staged" "$bin_dir/$name"
  say "installed $bin_dir/$name"
done
"$bin_dir/claude-max-proxy" --version

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) say "note: $bin_dir is not on your PATH; add it with:"
     printf '      echo '\''export PATH="%s:$PATH"'\'' >> ~/.profile\n' "$bin_dir" ;;
esac

if [ "$service" = 1 ]; then
  say "installing the user service (claude-max-proxy service install)"
  if ! "$bin_dir/claude-max-proxy" service install; then
    die "the binaries are installed, but \`claude-max-proxy service install\` failed: its message above
says how to finish. Run \`$bin_dir/claude-max-proxy service install\` again once that is done,
or re-run this script with --no-service to skip the service."
  fi
else
  say "skipped the service (--no-service); install it later with: claude-max-proxy service install"
fi

say "done. Check the setup with: claude-max-proxy doctor"
