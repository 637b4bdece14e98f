#!/usr/bin/env bash
# Gathers the root filesystem of the `claude-code` image (compose/claude-code.yaml) from this
# machine: no registry, no base image. Into compose/claude-code/rootfs/ go
#
#   - the `claude` CLI you have installed: the native build (`claude install`, one ELF file)
#     or the npm package (`@anthropic-ai/claude-code`, run by your `node`);
#   - the shared libraries those programs load (found with ldd) and the dynamic loader;
#   - bash (Claude Code's Bash tool needs a shell) and a few everyday tools if present
#     (coreutils, grep, sed, find, diff, git, rg, …), with their libraries;
#   - CA certificates, a passwd/group file with the user `claude` and the skeleton of its
#     home, a few terminfo entries.
#
#   compose/claude-code/build-rootfs.sh                 # the `claude` on PATH
#   CLAUDE_BIN=/path/to/claude compose/claude-code/build-rootfs.sh
#   CLAUDE_CODE_UID=$(id -u) CLAUDE_CODE_GID=$(id -g) compose/claude-code/build-rootfs.sh
#   CLAUDE_CODE_ROOTFS=/tmp/x/rootfs compose/claude-code/build-rootfs.sh   # elsewhere (tests)
#
# Then: docker compose -f compose/claude-code.yaml build (see compose/README.md). Run it
# again after upgrading the CLI. Linux only (the image runs the host's binaries, so host and
# image share the architecture and glibc).
set -euo pipefail
cd "$(dirname "$0")"

root=${CLAUDE_CODE_ROOTFS:-rootfs}
uid=${CLAUDE_CODE_UID:-1000}
gid=${CLAUDE_CODE_GID:-1000}
tools=(bash env id whoami ls cat head tail cut tr wc sort uniq mkdir rm cp mv ln chmod
  touch stat du date dirname basename realpath readlink mktemp sleep tee xargs ps
  grep sed find diff git rg which less jq)

die() { echo "build-rootfs: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "Linux only: the image runs this machine's binaries"
command -v ldd >/dev/null || die "ldd is missing (it comes with glibc: apt-get install libc-bin)"

cli=${CLAUDE_BIN:-$(command -v claude || true)}
[ -n "$cli" ] || die "no \`claude\` on PATH; install Claude Code or set CLAUDE_BIN"
cli=$(readlink -f "$cli")
[ -f "$cli" ] || die "$cli is not a file"

# Replaced whole, so it must be empty or an earlier rootfs.
if [ -e "$root" ] && [ -n "$(ls -A "$root")" ] && [ ! -e "$root/usr/bin/claude" ] \
  && [ ! -L "$root/usr/local/bin/claude" ]; then
  die "$root is neither empty nor an earlier rootfs; not replacing it"
fi
rm -rf "$root"
mkdir -p "$root"/{bin,usr/bin,usr/local/bin,usr/local/lib,etc,tmp,workspace,home}
chmod 1777 "$root/tmp"

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = "177ELF" ]; }

# Copies `$1` to the same path in the rootfs (following symlinks), once.
put() {
  local source=$1 target=$root$1
  [ -e "$target" ] && return 0
  mkdir -p "$(dirname "$target")"
  cp -L "$source" "$target"
}

# Copies the shared libraries and the loader an ELF file needs.
libraries() {
  local lib missing
  missing=$(ldd "$1" 2>/dev/null | awk '/=> not found/ { print $1 }')
  [ -z "$missing" ] || die "$1 needs libraries this machine lacks: $missing"
  # `libx.so => /path (0x…)` and the loader's own line `/lib64/ld-linux-x86-64.so.2 (0x…)`.
  while read -r lib; do
    [ -n "$lib" ] && put "$lib"
  done < <(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }')
}

# Copies an executable to /usr/bin (or `$2`) and what it links against.
program() {
  local source=$1 name=${2:-$(basename "$1")}
  cp -L "$source" "$root/usr/bin/$name"
  chmod 755 "$root/usr/bin/$name"
  if is_elf "$source"; then libraries "$source"; fi
}

if is_elf "$cli"; then
  echo "claude: native build $cli"
  program "$cli" claude
else
  # The npm package: `claude` is cli.js inside @anthropic-ai/claude-code, run by node.
  head -n 1 "$cli" | grep -q node || die "$cli is neither an ELF binary nor a node script"
  node=${NODE_BIN:-$(command -v node || true)}
  [ -n "$node" ] || die "$cli needs node, and there is none on PATH (set NODE_BIN)"
  package=$(dirname "$cli")
  echo "claude: npm package $package, node $(readlink -f "$node")"
  program "$(readlink -f "$node")" node
  cp -a "$package" "$root/usr/local/lib/claude-code"
  ln -s "../lib/claude-code/$(basename "$cli")" "$root/usr/local/bin/claude"
fi

for tool in "${tools[@]}"; do
  path=$(command -v "$tool" || true)
  case "$path" in
    /*) program "$path" "$tool" ;;
    *) echo "  (no $tool on this machine: left out)" ;;
  esac
done
[ -x "$root/usr/bin/bash" ] || die "bash is required (Claude Code runs its Bash tool in it)"
ln -sf bash "$root/usr/bin/sh"
ln -sf ../usr/bin/bash "$root/bin/bash"
ln -sf ../usr/bin/bash "$root/bin/sh"

# HTTPS for the CLI's own fetches (the proxy itself is plain HTTP on the host).
for certs in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -f "$certs" ]; then put "$certs"; break; fi
done
for entry in x/xterm x/xterm-256color d/dumb l/linux s/screen s/screen-256color t/tmux; do
  for dir in /usr/share/terminfo /lib/terminfo; do
    if [ -f "$dir/$entry" ]; then put "$dir/$entry"; break; fi
  done
done

cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/bash
claude:x:$uid:$gid:Claude Code:/home/claude:/bin/bash
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
claude:x:$gid:
EOF
echo "passwd: files" >"$root/etc/nsswitch.conf"
# The new user's home starts as a copy of /etc/skel (the Dockerfile copies it with the
# user's ownership). Onboarding is marked done: its first-run connection check goes to
# api.anthropic.com itself, not through ANTHROPIC_BASE_URL, and fails where the container
# cannot reach Anthropic (the proxy is the point).
mkdir -p "$root/etc/skel"
echo '{"hasCompletedOnboarding": true}' >"$root/etc/skel/.claude.json"

version=$("$root/usr/bin/claude" --version 2>/dev/null || "$cli" --version 2>/dev/null || true)
size=$(du -sh "$root" | cut -f1)
echo "rootfs: $(cd "$root" && pwd) ($size), claude ${version:-(version unknown)}, user $uid:$gid"
echo "next:   docker compose -f compose/claude-code.yaml build"
