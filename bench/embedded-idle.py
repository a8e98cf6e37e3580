#!/usr/bin/env python3
"""Embedded mode at rest: resident memory and CPU of `vantage` at the default 10 s interval.

Usage: bench/embedded-idle.py [--seconds 300] [--binary target/release/vantage]
Starts vantage with a fresh data dir, lets it run, samples /proc/PID every second, and
prints one JSON line: median and peak RSS in MB, and CPU as a percentage of one core.
Targets (issue 2): RSS <= 30 MB, CPU <= 0.5 % of one core.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime+stime of every thread that ever ran, in seconds (10 ms steps)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--binary", default="target/release/vantage")
    parser.add_argument("--warmup", type=int, default=15, help="seconds ignored after start")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="vantage-bench-")
    proc = subprocess.Popen(
        [args.binary, "--http-listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("vantage listening on "):
                break
        time.sleep(args.warmup)
        cpu_start, t_start = cpu_seconds(proc.pid), time.monotonic()
        rss = []
        while time.monotonic() - t_start < args.seconds:
            rss.append(rss_mb(proc.pid))
            time.sleep(1)
        cpu_used, elapsed = cpu_seconds(proc.pid) - cpu_start, time.monotonic() - t_start
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    result = {
        "bench": "embedded-idle",
        "seconds": round(elapsed),
        "host_interval_s": 10,
        "rss_median_mb": round(statistics.median(rss), 1),
        "rss_peak_mb": round(max(rss), 1),
        "cpu_percent_of_one_core": round(cpu_used / elapsed * 100, 3),
        "target_rss_mb": 30,
        "target_cpu_percent": 0.5,
    }
    result["meets_targets"] = result["rss_peak_mb"] <= 30 and result["cpu_percent_of_one_core"] <= 0.5
    print(json.dumps(result))


if __name__ == "__main__":
    main()
