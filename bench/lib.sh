# Shared by the bench scripts: a release `vantage --mode server` pinned to core 0, and an
# admin API token for the load generator. Source it from the repository root.

start_server() { # $1: data dir, then extra flags; sets $url and $server_pid
    local dir="$1"
    shift
    taskset -c 0 target/release/vantage --mode server --http-listen 127.0.0.1:0 --grpc-listen 127.0.0.1:0 \
        --data-dir "$dir" --log warn "$@" > "$dir.out" 2>"$dir.err" &
    server_pid=$!
    for _ in $(seq 1 100); do
        grep -q '^vantage listening on ' "$dir.out" 2>/dev/null && break
        sleep 0.1
    done
    url="$(sed -n 's/^vantage listening on //p' "$dir.out")"
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

token_for() { # $1: data dir
    echo 'bench password' | target/release/vantage admin create-user --username bench --password-stdin \
        --data-dir "$1" --log off >/dev/null
    target/release/vantage admin create-token --username bench --name bench --data-dir "$1" --log off
}
