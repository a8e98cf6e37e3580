#!/usr/bin/env python3
"""The dashboard under a live fleet (issue 12), in headless Chromium through Playwright.

Usage: bench/dashboard.sh [AGENTS] [SECONDS]   (builds the release binaries and bundle first)
       end2end/.venv/bin/python bench/dashboard.py --agents 1000 --seconds 20

Starts a release `vantage --mode server` pinned to core 0 serving the bundle of target/site,
writes 30 days of simulated past for one host (`vantage-loadgen --past 30d --interval 600`:
one agent's stream is rate-limited, so a sample per 10 minutes; the 30-day chart reads 1-hour
rollups either way), then streams `AGENTS` live agents (one sample each per
10 s) with the load generator on core 1, and measures, with every agent live:
- the overview's server-rendered HTML (GET / with a session: time to the last byte, median of 5);
- in Chromium: first contentful paint and the time until the page is hydrated
  (`body[data-hydrated]`), from navigation start;
- the browser's main-thread time per second of live updates (Chromium's TaskDuration through
  the DevTools protocol, over SECONDS of SSE updates on the overview; of which script, layout
  and style), then the rate of those updates (counted by a second stream afterwards);
- how many rows the server rendered and the browser draws, and the page's size;
- the 30-day host page: time from navigation until every chart is drawn, and the two history
  reads it makes, timed on their own;
- the WASM bundle as served: its main module (what the overview needs) raw, gzip and brotli,
  what each lazily loaded part adds (a host's page; the other pages: their chunks and the
  chunks' loader, brotli), and what the overview and a fresh visit to a host's page fetched
  of it (the browser's encoded body sizes).
Prints one JSON line with the targets beside the figures.
Targets: first paint <= 1 s, hydrated <= 2 s, <= 100 ms main-thread per s of updates,
30-day host page <= 300 ms to draw, bundle <= 300 KB compressed (the main module).
"""
import argparse
import http.cookiejar
import json
import os
import re
import statistics
import sys
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench password"


def start_server(bin_dir, data_dir):
    out = open(data_dir + ".out", "w+")
    proc = subprocess.Popen(
        ["taskset", "-c", "0", f"{bin_dir}/vantage", "--mode", "server", "--http-listen", "127.0.0.1:0",
         "--grpc-listen", "127.0.0.1:0", "--data-dir", data_dir, "--log", "warn",
         "--site-dir", os.path.join(ROOT, "target/site"),
         # The server takes samples no older than its raw retention: 30 days of past need 32.
         "--retention-raw", "32d"],
        stdout=out, stderr=subprocess.DEVNULL)
    for _ in range(200):
        out.seek(0)
        m = re.search(r"^vantage listening on (\S+)", out.read(), re.M)
        if m:
            return proc, m.group(1)
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def admin(bin_dir, data_dir, *args, stdin=None):
    return subprocess.run([f"{bin_dir}/vantage", "admin", *args, "--data-dir", data_dir, "--log", "off"],
                          input=stdin, capture_output=True, text=True, check=True).stdout.strip()


def session(url):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(url + "/api/v1/auth/login", method="POST",
                                 data=json.dumps({"username": "bench", "password": PASSWORD}).encode(),
                                 headers={"content-type": "application/json"})
    opener.open(req).read()
    return opener, jar


def timed_get(opener, url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    t = time.perf_counter()
    with opener.open(req) as res:
        body = res.read()
        encoding = res.headers.get("content-encoding")
    return (time.perf_counter() - t) * 1000, body, encoding


def say(text):
    print(f"== {text}", file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--bin-dir", default=os.path.join(ROOT, "target/release"))
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    work = tempfile.mkdtemp(prefix="vantage-dashboard-bench.")
    data = os.path.join(work, "data")
    server, url = start_server(a.bin_dir, data)
    loadgen = None
    try:
        admin(a.bin_dir, data, "create-user", "--username", "bench", "--password-stdin", stdin=PASSWORD + "\n")
        token = admin(a.bin_dir, data, "create-token", "--username", "bench", "--name", "bench")
        env = dict(os.environ, VANTAGE_API_TOKEN=token)
        # One host with 30 days behind it, then the live fleet.
        say("writing 30 days of one host (a sample per 10 min)")
        subprocess.run(["taskset", "-c", "1", f"{a.bin_dir}/vantage-loadgen", "--server-url", url,
                        "--agents", "1", "--past", "30d", "--interval", "600"], env=env, check=True,
                       capture_output=True)
        opener, jar = session(url)
        hosts = json.loads(opener.open(url + "/api/v1/resources/hosts").read())
        past_host = next(h["id"] for h in hosts if h["id"] != "local")
        loadgen = subprocess.Popen(
            ["taskset", "-c", "1", f"{a.bin_dir}/vantage-loadgen", "--server-url", url, "--agents", str(a.agents),
             "--duration", str(a.seconds + 240)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        say(f"streaming {a.agents} live agents")
        deadline = time.time() + 180
        while time.time() < deadline:
            hosts = json.loads(opener.open(url + "/api/v1/resources/hosts").read())
            if sum(1 for h in hosts if h.get("cpu_pct") is not None) >= a.agents:
                break
            time.sleep(2)
        live_hosts = sum(1 for h in hosts if h.get("cpu_pct") is not None)
        # Let the fold settle the past host's rollups (it runs every 30 s).
        time.sleep(35)

        say(f"{live_hosts} hosts live; measuring")
        ssr = [timed_get(opener, url + "/")[0] for _ in range(5)]
        html = timed_get(opener, url + "/")[1]
        rows = html.count(b'class="fleet-row')

        # The bundle: its main module (what the overview loads) and what each lazily loaded
        # part adds (a host's page; the other pages), brotli as served.
        pkg = re.search(rb"/pkg/([0-9a-f]{16})/frontend\.js", html).group(1).decode()
        base = f"{url}/pkg/{pkg}"

        def served(name, enc):
            _, body, got = timed_get(opener, f"{base}/{name}", {"accept-encoding": enc} if enc else {})
            return len(body) if got == enc else None

        main_wasm = {label: served("frontend_bg.wasm", enc)
                     for label, enc in (("raw", None), ("gzip", "gzip"), ("brotli", "br"))}
        js_br = served("frontend.js", "br")
        manifest = json.loads(timed_get(opener, f"{base}/__wasm_split_manifest.json")[1])
        chunk_br = {c: served(c + ".wasm", "br") for chunks in manifest.values() for c in chunks}
        loader_br = served("__wasm_split.js", "br")
        added = {point.rsplit("_", 1)[0]: sum(chunk_br[c] for c in chunks) + loader_br
                 for point, chunks in manifest.items()}

        history_ms = []
        for _ in range(3):
            t1, _, _ = timed_get(opener, f"{url}/api/v1/resources/history?agent_id={past_host}&metric=cpu&from={int(time.time()) - 30 * 86400}")
            t2, _, _ = timed_get(opener, f"{url}/api/v1/resources/series?agent_id={past_host}&from={int(time.time()) - 30 * 86400}")
            history_ms.append((t1, t2))

        cookies = [{"name": c.name, "value": c.value, "url": url} for c in jar]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            ctx.add_cookies(cookies)
            ctx.add_init_script("""
                new MutationObserver((_, o) => {
                    if (document.body && document.body.dataset.hydrated !== undefined) {
                        window.__hydrated = performance.now(); o.disconnect();
                    }
                }).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-hydrated']});
            """)
            page = ctx.new_page()
            page.goto(url + "/")
            page.wait_for_function("() => window.__hydrated !== undefined", timeout=60_000)
            fcp = page.evaluate("() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime")
            hydrated = page.evaluate("() => window.__hydrated")
            cdp = ctx.new_cdp_session(page)
            cdp.send("Performance.enable")

            def durations():
                m = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                return {k: m[k + "Duration"] for k in ("Task", "Script", "Layout", "RecalcStyle")}

            # The page's own work: nothing of the benchmark's runs while it is measured.
            time.sleep(2)
            t0, w0 = durations(), time.time()
            time.sleep(a.seconds)
            t1, w1 = durations(), time.time()
            per_s = {k: round((t1[k] - t0[k]) * 1000 / (w1 - w0), 1) for k in t0}
            main_thread_ms_per_s = per_s["Task"]
            # Then the rate of the updates it took, counted by a second stream of the same
            # events (its own cost kept out of the figure above).
            page.evaluate("""() => { window.__events = 0;
                const es = new EventSource('/api/v1/events');
                es.addEventListener('host_sample', () => window.__events++); }""")
            time.sleep(1)
            e0, c0 = page.evaluate("() => window.__events"), time.time()
            time.sleep(5)
            e1, c1 = page.evaluate("() => window.__events"), time.time()
            updates_per_s = (e1 - e0) / (c1 - c0)
            drawn_rows = page.evaluate("() => document.querySelectorAll('tr.fleet-row').length")
            fetched = """() => performance.getEntriesByType('resource')
                .filter(e => e.name.includes('/pkg/')).reduce((n, e) => n + e.encodedBodySize, 0)"""
            overview_fetched = page.evaluate(fetched)

            # The 30-day host page, drawn: every chart has its line.
            draws = []
            for _ in range(3):
                page.goto(f"{url}/hosts/{past_host}?range=30d")
                page.wait_for_function("""() => {
                    const lines = [...document.querySelectorAll('figure[data-chart=cpu] polyline')];
                    return lines.length > 0 && lines[0].getAttribute('points').split(' ').length > 100
                        && document.querySelectorAll('figure.chart').length >= 8; }""", timeout=60_000)
                draws.append(page.evaluate("() => performance.now()"))
            points = page.evaluate("() => document.querySelector('figure[data-chart=cpu] polyline').getAttribute('points').split(' ').length")
            # A fresh visit to a host's page (nothing cached): what it fetches of the bundle.
            fresh = browser.new_context(viewport={"width": 1280, "height": 900})
            fresh.add_cookies(cookies)
            host_page = fresh.new_page()
            host_page.goto(f"{url}/hosts/{past_host}?range=30d")
            host_page.wait_for_function("() => document.body.dataset.hydrated !== undefined", timeout=60_000)
            host_fetched = host_page.evaluate(fetched)
            browser.close()

        print(json.dumps({
            "agents_live": live_hosts,
            "overview_rows_rendered_by_server": rows,
            "overview_rows_drawn_in_browser": drawn_rows,
            "overview_html_bytes": len(html),
            "ssr_html_ms_median": round(statistics.median(ssr), 1),
            "first_contentful_paint_ms": round(fcp, 1) if fcp else None,
            "hydrated_ms": round(hydrated, 1),
            "main_thread_ms_per_s_of_updates": round(main_thread_ms_per_s, 1),
            "of_which_ms_per_s": {"script": per_s["Script"], "layout": per_s["Layout"],
                                  "style": per_s["RecalcStyle"]},
            "sse_host_samples_per_s": round(updates_per_s, 1),
            "host_page_30d_drawn_ms_median": round(statistics.median(draws), 1),
            "host_page_30d_cpu_points": points,
            "history_30d_read_ms_median": round(statistics.median(h[0] for h in history_ms), 1),
            "series_30d_read_ms_median": round(statistics.median(h[1] for h in history_ms), 1),
            "main_wasm_bytes": main_wasm,
            "main_js_brotli_bytes": js_br,
            "lazy_parts_brotli_bytes_added": added,
            "bundle_fetched_by_overview_bytes": overview_fetched,
            "bundle_fetched_by_host_page_bytes": host_fetched,
            "targets": {"first_contentful_paint_ms": 1000, "hydrated_ms": 2000,
                        "main_thread_ms_per_s_of_updates": 100, "host_page_30d_drawn_ms": 300,
                        "bundle_compressed_bytes": 300_000},
        }))
    finally:
        if loadgen:
            loadgen.kill()
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
