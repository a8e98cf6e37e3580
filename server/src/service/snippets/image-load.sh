(f="$(mktemp)" || exit 1; trap 'rm -f "$f"' EXIT
curl -fsSL {{image_url}} -o "$f" || { echo 'vantage: cannot download the agent image (is it built on the server?); nothing was loaded.' >&2; exit 1; }
[ "$(sha256sum "$f" | cut -d' ' -f1)" = {{image_sha256}} ] || { echo 'vantage: the agent image does not match the SHA-256 in this snippet; nothing was loaded.' >&2; exit 1; }
docker load -i "$f")