(f="$(mktemp)" || exit 1; trap 'rm -f "$f"' EXIT
curl -fsSL {{script_url}} -o "$f" || { echo 'vantage: cannot download install.sh; nothing was installed.' >&2; exit 1; }
[ "$(sha256sum "$f" | cut -d' ' -f1)" = {{script_sha256}} ] || { echo 'vantage: install.sh does not match the SHA-256 in this snippet; nothing was installed.' >&2; exit 1; }
sudo sh "$f" --server {{grpc_url}} --enrollment-token {{token}}{{pin_flag}})