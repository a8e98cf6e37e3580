#!/bin/sh
# Installs vantage-agent from a Vantage server and starts it as a service.
# Usage: curl -fsSL __VANTAGE_URL__/install.sh | sudo sh -s -- \
#          --server grpcs://HOST:PORT --enrollment-token vtg_enr_... [--server-pin sha256:...] [--user]
set -eu

VANTAGE_URL="${VANTAGE_URL:-__VANTAGE_URL__}"

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
    armv7l | armv7) arch=armv7 ;;
    *) fail "unsupported architecture $(uname -m)" ;;
esac

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
mkdir -p "$bin_dir"

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
chmod 0755 "$tmp"
mv "$tmp" "$bin_dir/vantage-agent"
trap - EXIT
echo "installed $bin_dir/vantage-agent"

if [ "$user_mode" = yes ]; then
    set -- --state-dir "${VANTAGE_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/vantage-agent}" "$@"
fi
exec "$bin_dir/vantage-agent" install "$@"
