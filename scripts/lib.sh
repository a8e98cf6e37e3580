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

# The WASM target and the bundle's wasm-bindgen step (scripts/bindgen, built once into
# target/tools/bindgen, about a minute; it must pin the wasm-bindgen version of Cargo.lock).
BINDGEN="$ROOT/target/tools/bindgen/release/vantage-bindgen"
ensure_wasm_tools() {
    if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    local want pinned
    want="$(wasm_bindgen_version)"
    pinned="$(sed -n 's/^wasm-bindgen-cli-support = "=\(.*\)"$/\1/p' "$ROOT/scripts/bindgen/Cargo.toml")"
    if [ "$want" != "$pinned" ]; then
        say "Cargo.lock has wasm-bindgen $want but scripts/bindgen pins $pinned: set the same version in scripts/bindgen/Cargo.toml"
        return 1
    fi
    [ -x "$BINDGEN" ] || say "building the bundle tool (scripts/bindgen, about a minute, once)"
    cargo build --quiet --release --manifest-path "$ROOT/scripts/bindgen/Cargo.toml" \
        --target-dir "$ROOT/target/tools/bindgen"
}

# Builds the dashboard's WASM bundle into target/site/pkg. $1: debug (what scripts/run
# serves and the tests use) or release (fully optimised, for packages and benchmarks). Every
# bundle gets its brotli form (<file>.br), which the server sends to browsers that take it
# (gzip it makes itself).
build_frontend() {
    local profile="${1:-debug}" dir quality=5
    ensure_wasm_tools
    apt_install brotli
    say "building the dashboard's WASM bundle ($profile)"
    case "$profile" in
        release)
            dir=wasm-release
            quality=11
            cargo build -p frontend --lib --target wasm32-unknown-unknown --target-dir target/wasm --profile wasm-release
            ;;
        debug)
            dir=debug
            cargo build -p frontend --lib --target wasm32-unknown-unknown --target-dir target/wasm
            ;;
        *)
            say "build_frontend takes debug or release, not $profile"
            return 1
            ;;
    esac
    # Written afresh: a chunk of an earlier build must not linger (the server serves, and its
    # build embeds, every file here).
    rm -rf target/site/pkg
    mkdir -p target/site/pkg
    "$BINDGEN" "target/wasm/wasm32-unknown-unknown/$dir/frontend.wasm" target/site/pkg
    # No wasm-opt: Debian's binaryen (108) breaks wasm-bindgen's externref table (the bundle
    # then fails in the browser with "WebAssembly.Table.set(): Argument 1 is invalid"), and
    # its -Oz, though 17 % smaller raw, compresses 11 % worse with brotli.
    local file
    for file in target/site/pkg/*.wasm target/site/pkg/*.js; do
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
