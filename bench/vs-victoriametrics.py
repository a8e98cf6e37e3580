"""The driver of bench/vs-victoriametrics.sh: the same simulated past into a release Vantage
server (SQLite) and into VictoriaMetrics, one after the other, each pinned to core 0 with the
load generator on core 1; both settled before their CPU time and disk use are read; then the
same two questions asked of each. Prints one JSON line with both sides, the ratios and the
targets."""
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

agents, past, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
RUNS = 20  # each query, timed this many times (after one untimed run)
LOADGEN = "target/release/vantage-loadgen"
VANTAGE = "target/release/vantage"
# The past ends on a whole minute a little before now: both stores take the same samples.
UNTIL_MS = (int(time.time()) // 60 - 1) * 60_000
DAY_S = 86_400


def say(text):
    print(f"== {text}", file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """User plus system CPU time of a process, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def du(*paths):
    """Bytes of the files under `paths` (apparent sizes, as `du -sb`)."""
    total = 0
    for path in paths:
        if os.path.isfile(path):
            total += os.path.getsize(path)
        for root, _, files in os.walk(path):
            total += sum(os.path.getsize(os.path.join(root, f)) for f in files if os.path.isfile(os.path.join(root, f)))
    return total


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


def timed(fn):
    """Median and p99 (of RUNS) wall-clock milliseconds of `fn`, and its last answer."""
    answer = fn()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        answer = fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return round(statistics.median(times), 2), round(times[min(len(times) - 1, int(0.99 * len(times)))], 2), answer


def wait_for(check, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"vs-victoriametrics: {what} did not happen within {seconds} s")


def vantage_side():
    data = os.path.join(work, "vantage")
    os.makedirs(data)
    out = open(data + ".out", "w")
    server = subprocess.Popen(
        ["taskset", "-c", "0", VANTAGE, "--mode", "server", "--http-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
         "--data-dir", data, "--log", "warn"], stdout=out, stderr=open(data + ".err", "w"))
    try:
        wait_for(lambda: "vantage listening on " in open(data + ".out").read(), "the Vantage server's start")
        url = re.search(r"vantage listening on (\S+)", open(data + ".out").read()).group(1)
        subprocess.run([VANTAGE, "admin", "create-user", "--username", "bench", "--password-stdin", "--data-dir", data,
                        "--log", "off"], input=b"bench password\n", check=True, stdout=subprocess.DEVNULL)
        token = subprocess.run([VANTAGE, "admin", "create-token", "--username", "bench", "--name", "bench", "--data-dir", data,
                                "--log", "off"], check=True, capture_output=True, text=True).stdout.strip()
        say(f"Vantage: {agents} agents x {past}")
        load = subprocess.run(
            ["taskset", "-c", "1", LOADGEN, "--server-url", url, "--api-token", token, "--agents", str(agents),
             "--past", past, "--until-ms", str(UNTIL_MS)], check=True, capture_output=True, text=True)
        figures = json.loads(load.stdout.strip().splitlines()[-1])
        if not figures["history_settled"]:
            raise SystemExit("vs-victoriametrics: Vantage did not fold everything it stored within 10 minutes")
        auth = {"authorization": f"Bearer {token}"}
        hosts = json.loads(get(f"{url}/api/v1/resources/hosts", auth))
        host = next(h for h in hosts if h["hostname"] == "loadgen-0")["id"]
        frm, to = UNTIL_MS // 1000 - DAY_S, UNTIL_MS // 1000
        chart_url = f"{url}/api/v1/resources/history?agent_id={host}&metric=cpu&from={frm}&to={to}"
        chart_p50, chart_p99, chart = timed(lambda: json.loads(get(chart_url, auth)))
        fleet_p50, fleet_p99, hot = timed(lambda: sorted(
            h["hostname"] for h in json.loads(get(f"{url}/api/v1/resources/hosts", auth))
            if (h.get("cpu_pct") or 0) > 90))
        database = du(*[os.path.join(data, f) for f in os.listdir(data) if re.search(r"\.db(-wal|-shm)?$", f)])
        return {
            "samples": figures["samples_committed"],
            "cpu_s": figures["server_cpu_s"],
            "samples_per_cpu_s": figures["samples_per_server_cpu_s"],
            "back_off_answers": figures["refusals"],
            "database_bytes": database,
            "data_dir_bytes": du(data),
            "database_bytes_per_sample": round(database / figures["samples_committed"], 3),
            "data_dir_bytes_per_sample": round(du(data) / figures["samples_committed"], 3),
            "peak_rss_mb": peak_rss_mb(server.pid),
            "chart_24h_points": len(chart["points"]),
            "chart_24h_step_s": chart.get("step"),
            "chart_24h_ms_p50": chart_p50,
            "chart_24h_ms_p99": chart_p99,
            "hosts_above_90_cpu": len(hot),
            "fleet_above_90_ms_p50": fleet_p50,
            "fleet_above_90_ms_p99": fleet_p99,
        }, chart.get("step")
    finally:
        server.terminate()
        server.wait()


def vm_metrics(url):
    values = {}
    for line in get(f"{url}/metrics").decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            key = name.split("{")[0]
            values[key] = values.get(key, 0.0) + float(value)
    return values


def vm_side(step_s):
    data = os.path.join(work, "victoria-metrics")
    port = 18428 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    vm = subprocess.Popen(
        ["taskset", "-c", "0", "victoria-metrics", f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}",
         "-retentionPeriod=10y", "-search.latencyOffset=0s", "-loggerLevel=ERROR"],
        stdout=subprocess.DEVNULL, stderr=open(data + ".err", "w"))
    try:
        wait_for(lambda: get(f"{url}/health") == b"OK", "VictoriaMetrics' start")
        time.sleep(1)
        before = cpu_seconds(vm.pid)
        say(f"VictoriaMetrics: {agents} hosts x {past}, as Prometheus text")
        gen = subprocess.Popen(
            ["taskset", "-c", "1", LOADGEN, "--agents", str(agents), "--past", past, "--until-ms", str(UNTIL_MS),
             "--write-prometheus", "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        post = subprocess.run(["taskset", "-c", "1", "curl", "-sS", "--fail", "-X", "POST", "-T", "-",
                               f"{url}/api/v1/import/prometheus"], stdin=gen.stdout, capture_output=True, text=True)
        gen.stdout.close()
        written = json.loads(gen.stderr.read().decode().strip().splitlines()[-1])
        if gen.wait() != 0 or post.returncode != 0:
            raise SystemExit(f"vs-victoriametrics: the import failed: {post.stderr}")
        # Settled: everything flushed to parts, no merge running, CPU time still for 3 s.
        get(f"{url}/internal/force_flush")
        quiet, last = 0, cpu_seconds(vm.pid)
        deadline = time.time() + 600
        while quiet < 3 and time.time() < deadline:
            time.sleep(1)
            m, now = vm_metrics(url), cpu_seconds(vm.pid)
            busy = m.get("vm_active_merges", 0) > 0 or m.get("vm_pending_rows", 0) > 0 or now - last > 0.02
            quiet, last = (0 if busy else quiet + 1), now
        cpu = cpu_seconds(vm.pid) - before
        samples = written["values_written"]
        stored = json.loads(get(f"{url}/api/v1/query?" + urllib.parse.urlencode({
            "query": 'sum(count_over_time({__name__=~"vantage_.+"}[%ds]))' % (DAY_S + 3600), "time": UNTIL_MS / 1000})))
        stored = int(float(stored["data"]["result"][0]["value"][1])) if stored["data"]["result"] else 0
        frm, to = UNTIL_MS / 1000 - DAY_S, UNTIL_MS / 1000
        chart_q = urllib.parse.urlencode({
            "query": 'avg_over_time(vantage_cpu_percent{host="loadgen-0"}[%ds])' % step_s,
            "start": frm, "end": to, "step": f"{step_s}s"})
        chart_p50, chart_p99, chart = timed(lambda: json.loads(get(f"{url}/api/v1/query_range?{chart_q}")))
        fleet_q = urllib.parse.urlencode({"query": "vantage_cpu_percent > 90", "time": to})
        fleet_p50, fleet_p99, hot = timed(lambda: json.loads(get(f"{url}/api/v1/query?{fleet_q}")))
        database = du(os.path.join(data, "data"), os.path.join(data, "indexdb"))
        result = chart["data"]["result"]
        return {
            "samples": samples,
            "samples_stored": stored,
            "cpu_s": round(cpu, 3),
            "samples_per_cpu_s": round(samples / cpu) if cpu > 0 else 0,
            "database_bytes": database,
            "data_dir_bytes": du(data),
            "database_bytes_per_sample": round(database / samples, 3),
            "data_dir_bytes_per_sample": round(du(data) / samples, 3),
            "peak_rss_mb": peak_rss_mb(vm.pid),
            "chart_24h_points": len(result[0]["values"]) if result else 0,
            "chart_24h_ms_p50": chart_p50,
            "chart_24h_ms_p99": chart_p99,
            "hosts_above_90_cpu": len(hot["data"]["result"]),
            "fleet_above_90_ms_p50": fleet_p50,
            "fleet_above_90_ms_p99": fleet_p99,
        }
    finally:
        vm.terminate()
        vm.wait()


def main():
    v = subprocess.run(["victoria-metrics", "-version"], capture_output=True, text=True)
    version = (v.stdout + v.stderr).strip().splitlines()[-1] if (v.stdout + v.stderr).strip() else "unknown"
    vantage, step_s = vantage_side()
    vm = vm_side(step_s or 300)

    def ratio(a, b):
        return round(a / b, 3) if b else None

    ratios = {
        "data_dir": ratio(vantage["data_dir_bytes"], vm["data_dir_bytes"]),
        "database": ratio(vantage["database_bytes"], vm["database_bytes"]),
        "ingest": ratio(vantage["samples_per_cpu_s"], vm["samples_per_cpu_s"]),
        "chart_24h_p50": ratio(vantage["chart_24h_ms_p50"], vm["chart_24h_ms_p50"]),
        "fleet_above_90_p50": ratio(vantage["fleet_above_90_ms_p50"], vm["fleet_above_90_ms_p50"]),
        "peak_rss": ratio(vantage["peak_rss_mb"], vm["peak_rss_mb"]),
    }
    targets = {"data_dir": "<= 0.8", "ingest": ">= 1.2", "chart_24h_p50": "<= 1.0", "fleet_above_90_p50": "<= 1.0"}
    met = {
        "data_dir": ratios["data_dir"] is not None and ratios["data_dir"] <= 0.8,
        "ingest": ratios["ingest"] is not None and ratios["ingest"] >= 1.2,
        "chart_24h_p50": ratios["chart_24h_p50"] is not None and ratios["chart_24h_p50"] <= 1.0,
        "fleet_above_90_p50": ratios["fleet_above_90_p50"] is not None and ratios["fleet_above_90_p50"] <= 1.0,
    }
    print(json.dumps({
        "agents": agents, "past": past, "until_ms": UNTIL_MS, "victoria_metrics": version,
        "vantage": vantage, "victoriametrics": vm, "ratios": ratios, "targets": targets, "met": met,
    }))


main()
