# Shared helpers of the set-up scripts: install what is missing, skip what is present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]} with apt"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The wasm-bindgen version the lock file pins; the CLI must match it exactly.
wasm_bindgen_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock"
}

ensure_wasm_tools() {
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    local want
    want="$(wasm_bindgen_version)"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        say "installing wasm-bindgen-cli $want (about 3 minutes, once)"
        cargo install wasm-bindgen-cli --version "$want"
    fi
}

# Builds the dashboard's WASM bundle into target/site/pkg. $1: debug, run (optimised without
# LTO, what scripts/run serves; "quick") or release (fully optimised, for packages). Every
# bundle gets its brotli form (<file>.br), which the server sends to browsers that take it
# (gzip it makes itself).
build_frontend() {
    local profile="${1:-debug}" dir quality=5
    ensure_wasm_tools
    apt_install brotli
    say "building the dashboard's WASM bundle ($profile)"
    if [ "$profile" = release ] || [ "$profile" = quick ]; then
        dir="wasm-$profile"
        quality=11
        cargo build -p frontend --lib --target wasm32-unknown-unknown --target-dir target/wasm --profile "$dir"
    else
        cargo build -p frontend --lib --target wasm32-unknown-unknown --target-dir target/wasm
        dir=debug
    fi
    mkdir -p target/site/pkg
    wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
        --out-name frontend --out-dir target/site/pkg \
        "target/wasm/wasm32-unknown-unknown/$dir/frontend.wasm"
    # No wasm-opt: Debian's binaryen (108) breaks wasm-bindgen's externref table (the bundle
    # then fails in the browser with "WebAssembly.Table.set(): Argument 1 is invalid").
    local wasm=target/site/pkg/frontend_bg.wasm
    for file in "$wasm" target/site/pkg/frontend.js; do
        brotli -f -n -q "$quality" -o "$file.br" "$file"
    done
}

# Zig (from PyPI, in a venv under target/tools) and cargo-zigbuild, for static agent builds,
# plus the musl targets.
ensure_zig_tools() {
    local venv="$ROOT/target/tools/zig"
    if [ ! -x "$venv/bin/python-zig" ]; then
        say "installing Zig from PyPI (ziglang) into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q ziglang
    fi
    export CARGO_ZIGBUILD_ZIG_PATH="$venv/bin/python-zig"
    command -v cargo-zigbuild >/dev/null || { say "installing cargo-zigbuild (about 2 minutes, once)"; cargo install cargo-zigbuild --locked; }
    local installed
    installed="$(rustup target list --installed 2>/dev/null)"
    for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
        grep -qx "$target" <<<"$installed" || { say "adding the $target target"; rustup target add "$target"; }
    done
}

# The test tools from PyPI (Playwright, pytest, kubernetes-validate, schemathesis, aiosmtpd) in
# end2end/.venv, reinstalled when end2end/requirements.txt changes.
ensure_test_venv() {
    local venv="$ROOT/end2end/.venv" stamp="$ROOT/end2end/.venv/.requirements"
    if [ ! -x "$venv/bin/pip" ] || ! cmp -s "$ROOT/end2end/requirements.txt" "$stamp"; then
        say "installing the test tools from PyPI into end2end/.venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q -r "$ROOT/end2end/requirements.txt"
        cp "$ROOT/end2end/requirements.txt" "$stamp"
    fi
}
