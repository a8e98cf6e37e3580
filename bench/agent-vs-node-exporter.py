#!/usr/bin/env python3
"""vantage-agent against Debian's prometheus-node-exporter, in the same run.

Usage: bench/agent-vs-node-exporter.py [--seconds 300] [--bin-dir target/release]

Starts `vantage --mode server`, enrolls a real `vantage-agent` (default 10 s interval, Docker
and host collection on), and starts `prometheus-node-exporter`, scraped every 10 s like a
Prometheus would. Samples both processes' RSS every second and their CPU time at the start
and end of the window. Prints one JSON line.
Targets (issue 3): agent median RSS <= 0.6 x node_exporter's, agent CPU <= 3 ms per 10 s cycle.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """On-CPU seconds of a process, two ways: utime+stime from /proc/PID/stat (every thread that
    ever ran, but in 10 ms steps) and the sum of /proc/PID/task/*/schedstat (nanoseconds, but
    only threads alive now). The larger difference over a window is the safer figure."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    from_stat = (int(fields[11]) + int(fields[12])) / TICKS
    from_tasks = 0.0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                from_tasks += int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return from_stat, from_tasks


def cpu_used(before, after):
    return max(after[0] - before[0], after[1] - before[1])


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def node_exporter_binary():
    for candidate in ("prometheus-node-exporter", "node_exporter"):
        path = shutil.which(candidate) or (f"/usr/bin/{candidate}" if os.path.exists(f"/usr/bin/{candidate}") else None)
        if path:
            return path
    raise SystemExit("prometheus-node-exporter is not installed: apt-get install prometheus-node-exporter")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--bin-dir", default="target/release")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    vantage = os.path.join(args.bin_dir, "vantage")
    agent_bin = os.path.join(args.bin_dir, "vantage-agent")
    exporter = node_exporter_binary()

    work = tempfile.mkdtemp(prefix="vantage-bench-")
    quiet = dict(os.environ, VANTAGE_LOG="warn")
    processes = []
    try:
        server = subprocess.Popen(
            [vantage, "--mode", "server", "--http-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
             "--data-dir", os.path.join(work, "server")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=quiet)
        processes.append(server)
        grpc = http = None
        for line in server.stdout:
            if line.startswith("vantage grpc listening on "):
                grpc = line.split(" on ", 1)[1].strip()
            if line.startswith("vantage listening on "):
                http = line.split(" on ", 1)[1].strip()
                break
        data = ["--data-dir", os.path.join(work, "server")]
        subprocess.run([vantage, "admin", "create-user", "--username", "bench", "--password-stdin", *data],
                       input="bench password\n", text=True, check=True, env=quiet, capture_output=True)
        token = subprocess.run([vantage, "admin", "create-token", "--username", "bench", "--name", "bench", *data],
                               text=True, check=True, env=quiet, capture_output=True).stdout.strip()
        request = urllib.request.Request(http + "/api/v1/agents/enrollment-tokens", data=b"{}", method="POST",
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        created = json.load(urllib.request.urlopen(request))
        pin = created["pin"]

        agent = subprocess.Popen(
            [agent_bin, "--server", grpc, "--enrollment-token", created["token"], "--server-pin", pin,
             "--state-dir", os.path.join(work, "agent")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet)
        processes.append(agent)
        port = free_port()
        exporter_process = subprocess.Popen([exporter, f"--web.listen-address=127.0.0.1:{port}"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(exporter_process)

        def scrape():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
            except OSError:
                pass

        # Warm up: both have run a few cycles before measuring.
        deadline = time.monotonic() + args.warmup
        next_scrape = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() >= next_scrape:
                scrape()
                next_scrape += 10
            time.sleep(0.2)

        start = time.monotonic()
        agent_cpu0, exporter_cpu0 = cpu_seconds(agent.pid), cpu_seconds(exporter_process.pid)
        agent_rss, exporter_rss = [], []
        scrapes = 0
        next_sample = start
        while time.monotonic() - start < args.seconds:
            now = time.monotonic()
            if now >= next_scrape:
                scrape()
                scrapes += 1
                next_scrape += 10
            if now >= next_sample:
                agent_rss.append(rss_mb(agent.pid))
                exporter_rss.append(rss_mb(exporter_process.pid))
                next_sample += 1
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        agent_cpu = cpu_used(agent_cpu0, cpu_seconds(agent.pid))
        exporter_cpu = cpu_used(exporter_cpu0, cpu_seconds(exporter_process.pid))
        assert agent.poll() is None, "the agent died during the run"
    finally:
        for p in reversed(processes):
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    cycles = elapsed / 10
    result = {
        "bench": "agent-vs-node-exporter",
        "seconds": round(elapsed),
        "agent_rss_median_mb": round(statistics.median(agent_rss), 2),
        "agent_rss_peak_mb": round(max(agent_rss), 2),
        "node_exporter_rss_median_mb": round(statistics.median(exporter_rss), 2),
        "rss_ratio": round(statistics.median(agent_rss) / statistics.median(exporter_rss), 3),
        "agent_cpu_ms_per_cycle": round(agent_cpu * 1000 / cycles, 3),
        "node_exporter_cpu_ms_per_scrape": round(exporter_cpu * 1000 / max(scrapes, 1), 3),
        "target_rss_ratio": 0.6,
        "target_cpu_ms_per_cycle": 3,
    }
    result["meets_targets"] = result["rss_ratio"] <= 0.6 and result["agent_cpu_ms_per_cycle"] <= 3
    print(json.dumps(result))


if __name__ == "__main__":
    main()
