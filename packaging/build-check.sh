#!/usr/bin/env bash
# Builds the static `ai-proxy-check` for `FROM scratch` images and prints its size.
#
#   packaging/build-check.sh            # → target/x86_64-unknown-linux-gnu/check-static/ai-proxy-check
#                                       #   and a copy in compose/build/ (the image's context)
#
# glibc with `+crt-static` gives a static-pie binary; name resolution does not go through
# glibc's NSS (hickory-resolver reads /etc/hosts and /etc/resolv.conf itself), so it works
# in an empty root. `--target` keeps RUSTFLAGS off build scripts and proc macros.
# The check is its own workspace crate (crates/ai-proxy-check): `-p` builds only its few
# dependencies, none of the daemon's.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --profile check-static -p ai-proxy-check --bin ai-proxy-check --target "$target" "$@"

binary="${CARGO_TARGET_DIR:-target}/$target/check-static/ai-proxy-check"
if command -v ldd >/dev/null && ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "error: $binary is dynamically linked" >&2
  exit 1
fi
mkdir -p compose/build
cp "$binary" compose/build/ai-proxy-check
bytes=$(stat -c %s "$binary")
echo "ai-proxy-check: $binary, $bytes bytes ($(awk "BEGIN { printf \"%.1f\", $bytes / 1048576 }") MiB, static)"
