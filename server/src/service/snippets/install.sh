#!/bin/sh
# Installs vantage-agent from a Vantage server and starts it as a service.
# Usage: curl -fsSL {{vantage_url}}/install.sh | sudo sh -s -- \
#          --server grpcs://HOST:PORT --enrollment-token vtg_enr_... [--server-pin sha256:...] [--user]
# The dashboard's snippet checks this script's SHA-256 before running it; this script checks
# the agent binary's SHA-256 (below, as the server had it when it served this script) before
# installing it. A download that differs is refused and nothing is installed.
set -eu

VANTAGE_URL="${VANTAGE_URL:-{{vantage_url}}}"

fail() {
    echo "vantage-agent install: $*" >&2
    exit 1
}

case "$(uname -s)" in
    Linux) os=linux ;;
    *) fail "this installer supports Linux; on $(uname -s), build vantage-agent from source and run: vantage-agent install" ;;
esac
case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "there is no vantage-agent build for $(uname -m); builds exist for x86_64 and aarch64" ;;
esac

# The SHA-256 of each agent build this server has; an architecture without a line has none.
want=""
case "$arch" in
    x86_64) want="{{sha256_x86_64}}" ;;
    aarch64) want="{{sha256_aarch64}}" ;;
esac
[ -n "$want" ] || fail "the server at $VANTAGE_URL had no vantage-agent build for $os-$arch when it served this script; build it there (scripts/build-agents) and generate the snippet again"

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    else
        fail "cannot check the download: none of sha256sum, shasum or openssl is installed"
    fi
}

user_mode=no
for arg in "$@"; do
    if [ "$arg" = "--user" ]; then user_mode=yes; fi
done
if [ "$user_mode" = yes ]; then
    bin_dir="$HOME/.local/bin"
else
    [ "$(id -u)" -eq 0 ] || fail "run it as root (sudo sh), or pass --user for a per-user service"
    bin_dir=/usr/local/bin
fi
bin_dir="${VANTAGE_BIN_DIR:-$bin_dir}"

url="$VANTAGE_URL/download/vantage-agent/$os-$arch"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
if command -v curl >/dev/null 2>&1; then
    curl -fsSL "$url" -o "$tmp" || fail "cannot download $url"
elif command -v wget >/dev/null 2>&1; then
    wget -qO "$tmp" "$url" || fail "cannot download $url"
else
    fail "neither curl nor wget is installed"
fi
got="$(sha256 "$tmp")"
[ "$got" = "$want" ] || fail "the downloaded vantage-agent does not match the SHA-256 this installer carries (got $got, want $want): it was changed on the way or rebuilt on the server; nothing was installed"
mkdir -p "$bin_dir"
chmod 0755 "$tmp"
mv "$tmp" "$bin_dir/vantage-agent"
trap - EXIT
echo "installed $bin_dir/vantage-agent (sha256 $got)"

if [ "$user_mode" = yes ]; then
    set -- --state-dir "${VANTAGE_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/vantage-agent}" "$@"
fi
exec "$bin_dir/vantage-agent" install "$@"
